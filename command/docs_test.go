package command

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/cli"
	"github.com/shoenig/test/must"
)

// commandsDoc is the command reference that ships with pinlb.
const commandsDoc = "../website/content/docs/commands.md"

var (
	// helpOption finds the options a Help() documents: "  -name" at the
	// start of a line.
	helpOption = regexp.MustCompile(`(?m)^  (-[a-z][a-z0-9-]*)(?:[=, \n]|$)`)
	// docOption finds the options a section's tables document: a row
	// that starts with one.
	docOption = regexp.MustCompile("(?m)^\\| `(-[a-z][a-z0-9-]*)")
)

// The command reference and the commands agree: every command has its
// section, with its usage line and a row for every option its -help
// documents, and no row for an option it does not take. The option blocks
// several commands share are documented once: the API's in the section of
// pinlb status, Consul's before the first section.
func TestDocs_EveryCommandAndOption(t *testing.T) {
	b, err := os.ReadFile(commandsDoc)
	must.NoError(t, err)
	intro, sections := docSections(string(b))
	_, api, _ := sectionOf(sections, "status")
	shared := []struct{ help, doc string }{{apiHelp, api}, {consulHelp, intro}}
	helps := map[string]string{}
	for name, factory := range Commands(cli.NewMockUi()) {
		cmd, err := factory()
		must.NoError(t, err)
		helps[name] = cmd.Help()
	}
	for name, help := range helps {
		heading, section, ok := sectionOf(sections, name)
		if !ok {
			t.Errorf("commands.md has no section for pinlb %s", name)
			continue
		}
		usage, _, _ := strings.Cut(help, "\n")
		must.StrContains(t, section, usage, must.Sprintf("pinlb %s's usage line", name))
		own := help
		for _, s := range shared {
			own = strings.Replace(own, s.help, "", 1)
		}
		for _, opt := range options(helpOption, own) {
			if !strings.Contains(section, "`"+opt) {
				t.Errorf("commands.md, pinlb %s: no row for %s, which its -help documents", name, opt)
			}
		}
		var taken []string // by the commands the section is about
		for _, h := range strings.Split(heading, ", ") {
			taken = append(taken, options(helpOption, helps[strings.TrimPrefix(h, "pinlb ")])...)
		}
		for _, opt := range options(docOption, section) {
			if !slices.Contains(taken, opt) {
				t.Errorf("commands.md, %s: a row for %s, which no command there takes", heading, opt)
			}
		}
	}
	for _, s := range shared {
		for _, opt := range options(helpOption, s.help) {
			if !strings.Contains(s.doc, "`"+opt) {
				t.Errorf("commands.md: the shared option %s is not documented", opt)
			}
		}
	}
}

func options(re *regexp.Regexp, text string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// docSections splits a page at its "## " headings: what comes before the
// first, and each section by its heading.
func docSections(page string) (string, map[string]string) {
	parts := strings.Split(page, "\n## ")
	out := map[string]string{}
	for _, s := range parts[1:] {
		heading, body, _ := strings.Cut(s, "\n")
		out[heading] = body
	}
	return parts[0], out
}

// sectionOf is the section whose heading names pinlb NAME.
func sectionOf(sections map[string]string, name string) (heading, body string, ok bool) {
	for heading, body := range sections {
		if slices.Contains(strings.Split(heading, ", "), "pinlb "+name) {
			return heading, body, true
		}
	}
	return "", "", false
}
