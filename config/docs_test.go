package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
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
