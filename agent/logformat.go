package agent

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/proxy"
)

// logPiece is a compiled piece of an nginx-style access-log format.
type logPiece struct {
	text  string
	write func(b []byte, r *proxy.Record, end time.Time) []byte // nil for text
}

// compileTemplate turns a format's segments into pieces; config has
// checked every variable.
func compileTemplate(segs []config.LogSegment) []logPiece {
	if len(segs) == 0 {
		return nil
	}
	out := make([]logPiece, len(segs))
	for i, s := range segs {
		out[i] = logPiece{text: s.Text}
		if s.Variable != "" {
			out[i].write = logVariables[s.Variable]
		}
	}
	return out
}

// writeTemplate formats r with the pieces, as one line.
func writeTemplate(b []byte, pieces []logPiece, r *proxy.Record, end time.Time) []byte {
	for _, p := range pieces {
		if p.write == nil {
			b = append(b, p.text...)
		} else {
			b = p.write(b, r, end)
		}
	}
	return append(b, '\n')
}

// logVariables write each of config.LogVariables, as nginx's stream log
// module would: a value that is not there is "-".
var logVariables = map[string]func(b []byte, r *proxy.Record, end time.Time) []byte{
	"remote_addr":                func(b []byte, r *proxy.Record, _ time.Time) []byte { return addr(b, r.Client) },
	"remote_port":                func(b []byte, r *proxy.Record, _ time.Time) []byte { return port(b, r.Client) },
	"server_addr":                func(b []byte, r *proxy.Record, _ time.Time) []byte { return addr(b, r.Local) },
	"server_port":                func(b []byte, r *proxy.Record, _ time.Time) []byte { return port(b, r.Local) },
	"proxy_protocol_addr":        func(b []byte, r *proxy.Record, _ time.Time) []byte { return addr(b, r.ProxyClient) },
	"proxy_protocol_port":        func(b []byte, r *proxy.Record, _ time.Time) []byte { return port(b, r.ProxyClient) },
	"proxy_protocol_server_addr": func(b []byte, r *proxy.Record, _ time.Time) []byte { return addr(b, r.ProxyServer) },
	"proxy_protocol_server_port": func(b []byte, r *proxy.Record, _ time.Time) []byte { return port(b, r.ProxyServer) },
	"upstream_addr": func(b []byte, r *proxy.Record, _ time.Time) []byte {
		if !r.Upstream.IsValid() {
			return append(b, '-')
		}
		return r.Upstream.AppendTo(b)
	},
	"time_local": func(b []byte, _ *proxy.Record, end time.Time) []byte {
		return end.Local().AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	},
	"time_iso8601": func(b []byte, _ *proxy.Record, end time.Time) []byte {
		return end.Local().AppendFormat(b, time.RFC3339)
	},
	"status": func(b []byte, r *proxy.Record, _ time.Time) []byte {
		return strconv.AppendInt(b, int64(nginxStatus(r.Status)), 10)
	},
	"reason":         func(b []byte, r *proxy.Record, _ time.Time) []byte { return append(b, r.Status...) },
	"protocol":       func(b []byte, r *proxy.Record, _ time.Time) []byte { return append(b, protocolName(r.Protocol)...) },
	"bytes_sent":     func(b []byte, r *proxy.Record, _ time.Time) []byte { return strconv.AppendUint(b, r.BytesOut, 10) },
	"bytes_received": func(b []byte, r *proxy.Record, _ time.Time) []byte { return strconv.AppendUint(b, r.BytesIn, 10) },
	"session_time": func(b []byte, r *proxy.Record, _ time.Time) []byte {
		return strconv.AppendFloat(b, r.Duration.Seconds(), 'f', 3, 64)
	},
	"listener":        func(b []byte, r *proxy.Record, _ time.Time) []byte { return append(b, r.Listener...) },
	"ssl_protocol":    func(b []byte, r *proxy.Record, _ time.Time) []byte { return orDash(b, sslProtocol(r.TLS)) },
	"ssl_cipher":      func(b []byte, r *proxy.Record, _ time.Time) []byte { return orDash(b, sslCipher(r.TLS)) },
	"ssl_client_s_dn": func(b []byte, r *proxy.Record, _ time.Time) []byte { return orDash(b, sslClientSubject(r.TLS)) },
	"ssl_server_name": func(b []byte, r *proxy.Record, _ time.Time) []byte { return orDash(b, sslServerName(r.TLS)) },
}

func orDash(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return append(b, s...)
}

func addr(b []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(b, '-')
	}
	return ap.Addr().AppendTo(b)
}

func port(b []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(b, '-')
	}
	return strconv.AppendUint(b, uint64(ap.Port()), 10)
}

// protocolName is $protocol: TCP or UDP, as nginx writes it.
func protocolName(p string) string {
	if p == proxy.UDP {
		return "UDP"
	}
	return "TCP"
}

// nginxStatus is nginx's stream $status for how a connection ended: 200
// for a session that ran, 400 for a client that broke the protocol (a bad
// PROXY header, a failed TLS handshake), 403 for one access control refused, 500 for pinlb's own
// failure, 502 for no reachable backend, 503 for a limit (max_connections
// or a per-source one).
func nginxStatus(reason string) int {
	switch reason {
	case "proxy_header_invalid", "proxy_header_timeout", "tls_handshake_failed":
		return 400
	case "denied":
		return 403
	case "local_error":
		return 500
	case "connect_failed", "no_backend":
		return 502
	case "rejected", "limited":
		return 503
	}
	return 200
}
