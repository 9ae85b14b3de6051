package config

import (
	"os"
	"strings"
	"testing"
)

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
