package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// FormatDiagnostics renders diagnostics one per line, compiler style:
//
//	pinlb.hcl:12:21: Invalid duration; "5x" is not a duration (use e.g. "5s", ...)
//
// Warnings carry a "Warning:" prefix after the position.
func FormatDiagnostics(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		if d.Subject != nil {
			b.WriteString(position(*d.Subject))
			b.WriteString(": ")
		}
		if d.Severity == hcl.DiagWarning {
			b.WriteString("Warning: ")
		}
		b.WriteString(d.Summary)
		if d.Detail != "" {
			b.WriteString("; ")
			b.WriteString(d.Detail)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Bounds on what diagnostics say, so that a file of garbage gets a screen of
// errors, as from a compiler, not megabytes of them.
const (
	// MaxDiagnostics is how many diagnostics are kept; one more says how
	// many were left out.
	MaxDiagnostics = 20
	// maxEcho is the longest summary or detail kept: they may quote the
	// offending input.
	maxEcho = 240
)

// moreProblems is the Extra of the diagnostic that stands for those left
// out: how many errors there were among them.
type moreProblems int

// bound keeps the first MaxDiagnostics diagnostics in the order of their
// places (see byPosition), with their texts shortened, and adds one that
// counts the rest.
func bound(diags hcl.Diagnostics) hcl.Diagnostics {
	diags = byPosition(diags)
	out := make(hcl.Diagnostics, 0, min(len(diags), MaxDiagnostics+1))
	for _, d := range diags[:min(len(diags), MaxDiagnostics)] {
		c := *d
		c.Summary, c.Detail = shorten(d.Summary), shorten(d.Detail)
		out = append(out, &c)
	}
	if left := len(diags) - MaxDiagnostics; left > 0 {
		errs := len(diags[MaxDiagnostics:].Errs())
		sev := hcl.DiagWarning
		if errs > 0 {
			sev = hcl.DiagError
		}
		out = append(out, &hcl.Diagnostic{
			Severity: sev,
			Summary:  fmt.Sprintf("%d more problems not shown", left),
			Detail:   "fix the ones above first",
			Extra:    moreProblems(errs),
		})
	}
	return out
}

// Problems counts the errors diags stand for, those bound left out
// included.
func Problems(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if m, ok := d.Extra.(moreProblems); ok {
			n += int(m)
		} else if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}

// shorten cuts s to maxEcho bytes of valid UTF-8, saying how much it left
// out.
func shorten(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= maxEcho {
		return s
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes more)", s[:cut], len(s)-cut)
}

// byPosition orders diagnostics as a reader meets their places: the files
// in the order their first problem was found (the load order), each from
// its top down; those with no place keep their order, after the rest.
func byPosition(diags hcl.Diagnostics) hcl.Diagnostics {
	files := map[string]int{}
	for _, d := range diags {
		if d.Subject != nil {
			if _, seen := files[d.Subject.Filename]; !seen {
				files[d.Subject.Filename] = len(files)
			}
		}
	}
	out := slices.Clone(diags)
	slices.SortStableFunc(out, func(a, b *hcl.Diagnostic) int {
		switch {
		case a.Subject == nil || b.Subject == nil:
			return cmp.Compare(boolInt(a.Subject == nil), boolInt(b.Subject == nil))
		case a.Subject.Filename != b.Subject.Filename:
			return cmp.Compare(files[a.Subject.Filename], files[b.Subject.Filename])
		}
		return cmp.Compare(a.Subject.Start.Byte, b.Subject.Start.Byte)
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
