package config

import (
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// LogVariables are the $variables an access_log format may use, as
// nginx's stream log module names them, plus pinlb's own. The agent writes
// each (a test there checks that it knows them all).
var LogVariables = []string{
	"bytes_received", "bytes_sent", "listener", "protocol",
	"proxy_protocol_addr", "proxy_protocol_port", "proxy_protocol_server_addr", "proxy_protocol_server_port",
	"reason", "remote_addr", "remote_port", "server_addr", "server_port",
	"session_time", "ssl_cipher", "ssl_client_s_dn", "ssl_protocol", "ssl_server_name",
	"status", "time_iso8601", "time_local", "upstream_addr",
}

// LogSegment is a piece of a format: literal text, or one variable.
type LogSegment struct {
	Text     string // when Variable is empty
	Variable string // a name of LogVariables
}

// logTemplate splits an nginx-style format ("$remote_addr [$time_local]",
// "${status}") into segments; an unknown variable is an error at its
// place in the attribute.
func (v *validator) logTemplate(format string, r hcl.Range) []LogSegment {
	var out []LogSegment
	text := func(s string) {
		if s != "" {
			out = append(out, LogSegment{Text: s})
		}
	}
	rest := format
	for {
		i := strings.IndexByte(rest, '$')
		if i < 0 {
			text(rest)
			return out
		}
		text(rest[:i])
		name, n := variableAt(rest[i+1:])
		if !slices.Contains(LogVariables, name) {
			at := r
			at.Start.Column += len(format) - len(rest) + i + 1 // after the opening quote
			at.Start.Byte += len(format) - len(rest) + i + 1
			v.errorf(at, "Unknown log variable", "$%s is not one of $%s", name, strings.Join(LogVariables, ", $"))
		}
		out = append(out, LogSegment{Variable: name})
		rest = rest[i+1+n:]
	}
}

// variableAt reads the name after a '$': letters, digits and '_', or
// anything in braces; n is how many bytes it took.
func variableAt(s string) (name string, n int) {
	if strings.HasPrefix(s, "{") {
		if end := strings.IndexByte(s, '}'); end > 0 {
			return s[1:end], end + 1
		}
	}
	for n < len(s) && (s[n] == '_' || 'a' <= s[n] && s[n] <= 'z' || 'A' <= s[n] && s[n] <= 'Z' || '0' <= s[n] && s[n] <= '9') {
		n++
	}
	return s[:n], n
}
