package website

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shoenig/test/must"
)

// vuePre is text Vue leaves alone: a fenced block, or an element with v-pre.
var vuePre = regexp.MustCompile("(?s)```.*?```|<code v-pre>.*?</code>|<span v-pre>.*?</span>")

// VitePress compiles each page with Vue, which reads {{ ... }} outside a
// fenced block as an expression: a go-sockaddr template in inline code
// rendered as nothing. Every {{ outside fences sits in a v-pre element.
func TestDocs_NoVueInterpolation(t *testing.T) {
	pages, err := filepath.Glob("content/docs/*.md")
	must.NoError(t, err)
	for _, page := range append(pages, "content/index.md", "../README.md") {
		b, err := os.ReadFile(page)
		must.NoError(t, err)
		for i, line := range strings.Split(vuePre.ReplaceAllString(string(b), ""), "\n") {
			if strings.Contains(line, "{{") {
				t.Errorf("%s: {{ outside a fence or a v-pre element (Vue would evaluate it): %q (line %d of the text without them)", page, line, i+1)
			}
		}
	}
}
