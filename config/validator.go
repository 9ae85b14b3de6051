package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// count is a non-negative count attribute, def when unset; zero says
// what 0 means, for the hint.
func (v *validator) count(n *int, r hcl.Range, what string, def int, zero string) int {
	if n == nil {
		return def
	}
	if *n < 0 {
		v.errorf(r, "Invalid "+what, "%d is negative; use 0 for %s", *n, zero)
	}
	return *n
}

// validator collects diagnostics.
type validator struct {
	diags hcl.Diagnostics
}

func (v *validator) errorf(r hcl.Range, summary, format string, args ...any) {
	v.add(hcl.DiagError, r, summary, fmt.Sprintf(format, args...))
}

// warnf reports what works but likely is not what the operator wants.
func (v *validator) warnf(r hcl.Range, summary, format string, args ...any) {
	v.add(hcl.DiagWarning, r, summary, fmt.Sprintf(format, args...))
}

func (v *validator) add(sev hcl.DiagnosticSeverity, r hcl.Range, summary, detail string) {
	v.diags = append(v.diags, &hcl.Diagnostic{Severity: sev, Summary: summary, Detail: detail, Subject: r.Ptr()})
}

// duration parses an optional duration string; zero is allowed only when
// allowZero says so (it then means "disabled").
func (v *validator) duration(s *string, r hcl.Range, def time.Duration, allowZero bool) time.Duration {
	if s == nil {
		return def
	}
	d, err := time.ParseDuration(*s)
	switch {
	case err != nil:
		v.errorf(r, "Invalid duration", `%q is not a duration (use e.g. "5s", "250ms" or "10m")`, *s)
	case d < 0:
		v.errorf(r, "Invalid duration", "%q is negative", *s)
	case d == 0 && !allowZero:
		v.errorf(r, "Invalid duration", "%q must be greater than zero", *s)
	}
	return d
}

func (v *validator) oneOf(s string, r hcl.Range, what string, allowed []string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.errorf(r, "Invalid "+what, "%q is not a %s; use one of: %s", s, what, strings.Join(allowed, ", "))
}

// hostPort checks a bind address: an IP literal or empty host, and a port.
func (v *validator) hostPort(s string, r hcl.Range, allowPortZero bool) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		v.errorf(r, "Invalid address", `%q is not host:port (use e.g. "0.0.0.0:9991" or "[::1]:9991")`, s)
		return
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			v.errorf(r, "Invalid address", "%q is not an IP address; bind addresses take an IP, or nothing for all interfaces", host)
		}
	}
	p, err := strconv.Atoi(port)
	min := 1
	if allowPortZero {
		min = 0
	}
	if err != nil || p < min || p > 65535 {
		v.errorf(r, "Invalid port", "%q is not a port from %d to 65535", port, min)
	}
}

// position formats where a range starts as file:line:col.
func position(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
