package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/shoenig/test/must"
)

// Inputs deep or long enough that the HCL parser or evaluator, unguarded,
// overflows the Go stack and takes the process down (measured on hcl
// v2.25.0: each of these crashed it).
func TestParse_RefusesWhatWouldOverflowTheParser(t *testing.T) {
	const n = MaxFileSize - 10
	cases := []struct {
		name, file, src, want string
	}{
		{"brackets", "a.hcl", "x = " + strings.Repeat("[(", n/2), "a.hcl:1:69: Nesting too deep"},
		{"interpolations", "a.hcl", "x = " + strings.Repeat(`"${`, n/3), "a.hcl:1:"},
		{"directives", "a.hcl", `x = "` + strings.Repeat("%{if true}", n/10), "Nesting too deep"},
		{"unary operators", "a.hcl", "x = " + strings.Repeat("!", n) + "true", "a.hcl:1:1005: Too many operators"},
		{"binary operators", "a.hcl", "x = " + strings.Repeat("1+", n/2) + "1", "Too many operators"},
		{"json arrays", "a.json", strings.Repeat("[", n), "a.json:1:65: Nesting too deep"},
		{"json objects", "a.json", `{"x": ` + strings.Repeat(`{"a":`, n/5), "a.json:1:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := Parse([]Source{{Name: tc.file, Data: []byte(tc.src)}})
			must.Nil(t, cfg)
			must.Len(t, 1, diags)
			out := FormatDiagnostics(diags)
			must.StrContains(t, out, tc.want)
		})
	}
}

// Nesting in comments, strings and heredocs is text, not structure.
func TestParse_BoundsCountStructureOnly(t *testing.T) {
	deep := strings.Repeat("[", 2*MaxNesting)
	src := `# ` + deep + `
/* ` + deep + ` */
log_level = "info" // ` + deep + `
listener "x" {
  address = "127.0.0.1:1"
  upstream {
    service = "c"
    filter  = "Service.Meta.x == \"` + deep + `\""
  }
}
`
	_, diags := Parse([]Source{{Name: "a.hcl", Data: []byte(src)}})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))

	json := `{"log_level": "` + deep + `\"[[", "listener": {"x": {"address": "127.0.0.1:1", "upstream": {"servers": ["127.0.0.1:2"]}}}}`
	_, diags = Parse([]Source{{Name: "a.json", Data: []byte(json)}})
	must.StrContains(t, FormatDiagnostics(diags), "Invalid log level") // read, not refused
}

func TestLoad_RefusesLargeFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.hcl")
	must.NoError(t, os.WriteFile(path, make([]byte, 10<<20), 0o644))
	cfg, diags := Load([]string{path})
	must.Nil(t, cfg)
	must.Eq(t, path+":1:1: Configuration file too large; "+path+
		" is 10.0 MiB, over the 256.0 KiB limit; a pinlb configuration is a few kilobytes: is this the right file?\n",
		FormatDiagnostics(diags))
}

// A file of garbage gets a screen of errors, the way a compiler stops,
// and none quotes more than a line of the input.
func TestLoad_BoundsDiagnostics(t *testing.T) {
	garbage := strings.Repeat("x = \"a\" \"b\" ~ $ ;\n", (MaxFileSize-1)/20)
	garbage += `y = "` + strings.Repeat("z", 10_000) + `"` + "\n"
	dir := write(t, map[string]string{"a.hcl": garbage})
	cfg, diags := Load([]string{dir})
	must.Nil(t, cfg)
	must.Len(t, MaxDiagnostics+1, diags)
	last := diags[MaxDiagnostics]
	must.Eq(t, hcl.DiagError, last.Severity)
	must.StrHasSuffix(t, "more problems not shown", last.Summary)
	must.Greater(t, 10_000, Problems(diags))
	for _, d := range diags {
		must.LessEq(t, maxEcho+30, len(d.Detail))
	}
	must.Less(t, 20_000, len(FormatDiagnostics(diags)))
}

func TestShorten(t *testing.T) {
	must.Eq(t, "short", shorten("short"))
	long := strings.Repeat("é", maxEcho) // two bytes each: the cut falls inside one
	got := shorten(long)
	must.StrHasSuffix(t, "... ("+strconv.Itoa(len(long)-maxEcho)+" bytes more)", got)
	must.True(t, strings.HasPrefix(long, strings.TrimSuffix(got, "... ("+strconv.Itoa(len(long)-maxEcho)+" bytes more)")))
	must.Eq(t, "a?b", shorten("a\xffb"))
}
