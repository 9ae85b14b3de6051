package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// FuzzParse feeds the loader arbitrary files, in HCL and in HCL's JSON: it
// must never panic or overflow, must say where each error is, and must bound
// what it says. Seeds: testdata/fuzz/FuzzParse, the fixtures and -dev.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("../fixtures/*.hcl")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, false)
		}
	}
	f.Add(Dev().Data, false)
	f.Add([]byte(`{"listener": {"x": {"address": "127.0.0.1:1", "upstream": {"servers": ["127.0.0.1:2"]}}}}`), true)
	f.Fuzz(func(t *testing.T, data []byte, json bool) {
		name := "f.hcl"
		if json {
			name = "f.json"
		}
		cfg, diags := Parse([]Source{{Name: name, Data: data}})
		if len(diags) > MaxDiagnostics+1 {
			t.Fatalf("%d diagnostics, over the bound", len(diags))
		}
		for _, d := range diags {
			if len(d.Summary) > maxEcho+32 || len(d.Detail) > maxEcho+32 {
				t.Fatalf("unbounded diagnostic: %q", d.Summary)
			}
			// "No listeners" is about the files together, so it has no place.
			if d.Severity == hcl.DiagError && d.Subject == nil && d.Extra == nil && d.Summary != "No listeners" {
				t.Fatalf("an error that says not where: %s", FormatDiagnostics(hcl.Diagnostics{d}))
			}
		}
		if (cfg == nil) != diags.HasErrors() {
			t.Fatalf("config %v with errors %v", cfg != nil, diags.HasErrors())
		}
	})
}
