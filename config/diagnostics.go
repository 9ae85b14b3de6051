package config

import (
	"strings"

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
