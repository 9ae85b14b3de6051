package config

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/pinlb/pinlb/internal/testsupport"
)

// Every attribute and block of the schema has its row or heading in the
// configuration reference.
func TestDocs_EveryAttribute(t *testing.T) {
	b, err := os.ReadFile("../website/content/docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type, string)
	walk = func(ty reflect.Type, at string) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] {
			return
		}
		seen[ty] = true
		for i := range ty.NumField() {
			f := ty.Field(i)
			name, kind, _ := strings.Cut(f.Tag.Get("hcl"), ",")
			if name == "" || (kind != "optional" && kind != "block") {
				continue
			}
			if !strings.Contains(string(b), "`"+name+"`") && !strings.Contains(string(b), "`"+name+" ") {
				t.Errorf("%s%s is not in website/content/docs/configuration.md", at, name)
			}
			walk(f.Type, at+name+".")
		}
	}
	walk(reflect.TypeOf(fileConfig{}), "")
}

// Every access-log variable has its row in the configuration reference.
func TestDocs_LogVariables(t *testing.T) {
	b, err := os.ReadFile("../website/content/docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range LogVariables {
		if !strings.Contains(string(b), "`$"+v+"`") {
			t.Errorf("$%s is not in website/content/docs/configuration.md", v)
		}
	}
}

// Every HCL example of the docs and the README is a configuration pinlb
// loads as written, over -dev's listeners: a doc can never show one that is
// refused. A marker comment on the line before the fence says where a
// fragment belongs: "<!-- hcl: inside listener -->" is loaded inside a
// listener block, "<!-- hcl: consul policy -->" is Consul's own HCL and
// only parsed.
func TestDocs_HCLExamplesLoad(t *testing.T) {
	pages, err := filepath.Glob("../website/content/docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	// The TLS example's files, made here.
	tls := t.TempDir()
	testsupport.NewCA(t).Issue(t, tls, "collector", x509.ExtKeyUsageServerAuth)
	for _, page := range append(pages, "../README.md") {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for i, ex := range hclExamples(strings.ReplaceAll(string(b), "/etc/pinlb/tls/", tls+"/")) {
			name := fmt.Sprintf("%s, hcl block %d", filepath.Base(page), i+1)
			if diags := loadExample(name, ex); diags.HasErrors() {
				t.Errorf("%s does not load:\n%s\n%s", name, FormatDiagnostics(diags), ex.body)
			}
		}
	}
}

// docListener completes an example that has none.
const docListener = `listener "doc" {
  address = "127.0.0.1:19999"
  upstream { servers = ["127.0.0.1:29999"] }
}
`

type hclExample struct{ marker, body string }

// hclExamples are the ```hcl blocks of a Markdown text, each with the
// marker of the line before it, if any.
func hclExamples(md string) []hclExample {
	var out []hclExample
	parts := strings.Split(md, "```hcl\n")
	for i, part := range parts[1:] {
		before := strings.TrimRight(parts[i], "\n")
		marker := ""
		if line := before[strings.LastIndexByte(before, '\n')+1:]; strings.HasPrefix(line, "<!-- hcl: ") {
			marker = strings.TrimSuffix(strings.TrimPrefix(line, "<!-- hcl: "), " -->")
		}
		body, _, _ := strings.Cut(part, "```")
		out = append(out, hclExample{marker, body})
	}
	return out
}

func loadExample(name string, ex hclExample) hcl.Diagnostics {
	switch ex.marker {
	case "consul policy":
		_, diags := hclsyntax.ParseConfig([]byte(ex.body), name, hcl.InitialPos)
		return diags
	case "inside listener":
		ex.body = strings.Replace(docListener, "}\n}", "}\n"+ex.body+"}", 1)
	case "":
	default:
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "unknown marker " + ex.marker}}
	}
	srcs := []Source{{Name: name, Data: []byte(ex.body)}}
	if !strings.Contains(ex.body, "listener \"") { // a part of a file: give it a listener
		srcs = append(srcs, Source{Name: "(a listener)", Data: []byte(docListener)})
	}
	_, diags := Parse(srcs)
	return diags
}
