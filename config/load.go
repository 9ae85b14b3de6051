package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// Source is one configuration text and the name diagnostics show for it.
type Source struct {
	Name string
	Data []byte
}

// Load reads the files and directories in paths, in the order given, then
// merges, finalizes and validates them. A directory contributes its *.hcl and
// *.json files (not subdirectories) in lexical order. Later files override
// earlier ones attribute by attribute; listener blocks add up and their names
// must be unique.
//
// The returned diagnostics may hold warnings even when the Config is usable;
// when they hold an error the Config is nil.
func Load(paths []string) (*Config, hcl.Diagnostics) {
	return LoadOver(nil, paths)
}

// LoadOver is Load with base sources merged first, under the files: the
// -dev configuration, say.
func LoadOver(base []Source, paths []string) (*Config, hcl.Diagnostics) {
	files, diags := expand(paths)
	if diags.HasErrors() {
		return nil, bound(diags)
	}
	srcs := append([]Source(nil), base...)
	for _, f := range files {
		data, d := readFile(f)
		if d != nil {
			diags = append(diags, d)
			continue
		}
		srcs = append(srcs, Source{Name: f, Data: data})
	}
	if diags.HasErrors() {
		return nil, bound(diags)
	}
	cfg, more := parse(srcs)
	return cfg, bound(append(diags, more...))
}

// Parse merges, finalizes and validates configuration texts, in order. A
// source whose name ends in ".json" is read as HCL's JSON syntax. A source
// over MaxFileSize, nested deeper than MaxNesting or with more than
// MaxOperators is refused before it is parsed. At most MaxDiagnostics
// diagnostics come back, and one that counts the rest.
func Parse(srcs []Source) (*Config, hcl.Diagnostics) {
	cfg, diags := parse(srcs)
	return cfg, bound(diags)
}

func parse(srcs []Source) (*Config, hcl.Diagnostics) {
	if len(srcs) == 0 {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No configuration files",
			Detail:   "give at least one -config-file or a -config-dir that holds *.hcl or *.json files",
		}}
	}
	parser := hclparse.NewParser()
	var (
		diags  hcl.Diagnostics
		files  = make([]*hcl.File, len(srcs))
		merged fileConfig
		names  []string
	)
	for i, src := range srcs {
		json := strings.HasSuffix(src.Name, ".json")
		if len(src.Data) > MaxFileSize {
			diags = append(diags, fileTooLarge(src.Name, int64(len(src.Data))))
			continue
		}
		if d := checkBounds(src, json); d != nil {
			diags = append(diags, d)
			continue
		}
		var d hcl.Diagnostics
		if json {
			files[i], d = parser.ParseJSON(src.Data, src.Name)
		} else {
			files[i], d = parser.ParseHCL(src.Data, src.Name)
		}
		diags = append(diags, d...)
	}
	if diags.HasErrors() {
		// Syntax errors: what follows them cannot be read reliably.
		return nil, diags
	}
	for i, f := range files {
		// gohcl decodes what it can around an error (an unknown attribute,
		// say), so validation still runs and every problem shows at once.
		var fc fileConfig
		diags = append(diags, gohcl.DecodeBody(f.Body, nil, &fc)...)
		merge(&merged, &fc)
		names = append(names, srcs[i].Name)
	}
	cfg, d := finalize(&merged)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return nil, diags
	}
	cfg.Files = names
	return cfg, diags
}

// expand turns files and directories into the ordered list of files to read.
func expand(paths []string) ([]string, hcl.Diagnostics) {
	var (
		files []string
		diags hcl.Diagnostics
	)
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing configuration path",
				Detail:   err.Error(),
			})
			continue
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unreadable configuration directory",
				Detail:   err.Error(),
			})
			continue
		}
		var found []string
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); ext != ".hcl" && ext != ".json" {
				continue
			}
			name := filepath.Join(p, e.Name())
			if d := dirEntryFile(name, e); d != nil {
				diags = append(diags, d)
				continue
			}
			found = append(found, name)
		}
		if len(found) == 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Empty configuration directory",
				Detail:   fmt.Sprintf("%s holds no *.hcl or *.json file", p),
			})
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, diags
}

// merge lays src over dst: set attributes override, listeners add up.
func merge(dst, src *fileConfig) {
	overlay(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem())
	dst.Listeners = append(dst.Listeners, src.Listeners...)
}

var rangeType = reflect.TypeFor[hcl.Range]()

// overlay lays the attributes src sets over dst: a set attribute (a non-nil
// pointer) replaces dst's, together with its range, the hcl.Range field
// named after it; a nested block merges the same way and keeps the first
// definition's range. Listener blocks (slices) are left to the caller.
func overlay(dst, src reflect.Value) {
	t := dst.Type()
	for i := range t.NumField() {
		f, d, s := t.Field(i), dst.Field(i), src.Field(i)
		switch {
		case f.Type.Kind() != reflect.Pointer || s.IsNil():
		case f.Type.Elem().Kind() == reflect.Struct && f.Type.Elem() != rangeType: // a block
			if d.IsNil() {
				d.Set(reflect.New(f.Type.Elem()))
				if r := d.Elem().FieldByName("DefRange"); r.IsValid() {
					r.Set(s.Elem().FieldByName("DefRange"))
				}
			}
			overlay(d.Elem(), s.Elem())
		default:
			d.Set(s)
			if r := dst.FieldByName(f.Name + "Range"); r.IsValid() {
				r.Set(src.FieldByName(f.Name + "Range"))
			}
		}
	}
}
