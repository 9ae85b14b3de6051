package config

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoenig/test/must"
)

func TestLoad_ProxyProtocol(t *testing.T) {
	dir := write(t, map[string]string{"a.hcl": `
listener "grpc" {
  address = "0.0.0.0:9991"
  proxy_protocol {
    accept  = true
    trusted = ["10.0.0.0/8", "192.0.2.7", "::ffff:198.51.100.0/120", "2001:db8::/32"]
    timeout = "2s"
  }
  upstream {
    servers        = ["10.0.0.1:9991"]
    proxy_protocol = "v2"
  }
}
listener "plain" {
  address = "0.0.0.0:9992"
  upstream { servers = ["10.0.0.1:9992"] }
}
`})
	cfg, diags := Load([]string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	grpc, plain := cfg.Listeners[0], cfg.Listeners[1]
	must.Eq(t, ProxyProtocol{
		Accept: true,
		Trusted: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
			netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32"),
		},
		Timeout: 2 * time.Second,
	}, grpc.ProxyProtocol)
	must.Eq(t, "v2", grpc.Upstream.ProxyProtocol)
	must.Eq(t, ProxyProtocol{Timeout: DefaultProxyProtocolTimeout}, plain.ProxyProtocol)
	must.Eq(t, "", plain.Upstream.ProxyProtocol)
}

func TestLoad_ProxyProtocolErrors(t *testing.T) {
	for _, tc := range []struct{ name, hcl, want string }{
		{"accept without trusted", `listener "x" {
  address = ":1"
  proxy_protocol { accept = true }
  upstream { servers = ["1.2.3.4:5"] }
}`, `a.hcl:3:3: Missing trusted; accept = true needs the peers that may send a PROXY header`},
		{"bad trusted", `listener "x" {
  address = ":1"
  proxy_protocol {
    accept  = true
    trusted = ["10.0.0.0/33"]
  }
  upstream { servers = ["1.2.3.4:5"] }
}`, `a.hcl:5:15: Invalid trusted; "10.0.0.0/33" is not an address or a CIDR block`},
		{"bad version", `listener "x" {
  address = ":1"
  upstream {
    servers        = ["1.2.3.4:5"]
    proxy_protocol = "v3"
  }
}`, `a.hcl:5:22: Invalid PROXY protocol version; "v3" is not a PROXY protocol version; use one of: v1, v2`},
		{"UDP timeout", `listener "x" {
  protocol = "udp"
  address  = ":1"
  proxy_protocol {
    accept  = true
    trusted = ["10.0.0.0/8"]
    timeout = "1s"
  }
  upstream { servers = ["1.2.3.4:5"] }
}`, `a.hcl:7:15: Unexpected proxy_protocol timeout; listener "x" has protocol "udp"`},
		{"UDP v1", `listener "x" {
  protocol = "udp"
  address  = ":1"
  upstream {
    servers        = ["1.2.3.4:5"]
    proxy_protocol = "v1"
  }
}`, `a.hcl:6:22: Unsupported PROXY protocol version for UDP; v1 is a line of text for streams`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, map[string]string{"a.hcl": tc.hcl})
			_, diags := Load([]string{filepath.Join(dir, "a.hcl")})
			got := strings.ReplaceAll(FormatDiagnostics(diags), dir+"/", "")
			must.StrContains(t, got, tc.want)
		})
	}
}

// allow and deny: a listener's own list wins over the top level's, each
// list on its own.
func TestLoad_AllowDeny(t *testing.T) {
	dir := write(t, map[string]string{"a.hcl": `
allow = ["10.0.0.0/8", "2001:db8::/32"]
deny  = ["10.9.0.0/16"]
listener "inherits" {
  address = ":1"
  upstream { servers = ["10.0.0.1:1"] }
}
listener "own-allow" {
  address = ":2"
  allow   = ["192.168.0.0/16"]
  upstream { servers = ["10.0.0.1:1"] }
}
listener "opens-up" {
  address = ":3"
  allow   = []
  deny    = ["::ffff:10.8.0.0/112"]
  upstream { servers = ["10.0.0.1:1"] }
}
`, "b.hcl": `deny = ["10.9.0.0/16", "10.10.0.1"]`})
	cfg, diags := Load([]string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	p := netip.MustParsePrefix
	byName := map[string]Access{}
	for _, l := range cfg.Listeners {
		byName[l.Name] = l.Access
	}
	topDeny := []netip.Prefix{p("10.9.0.0/16"), p("10.10.0.1/32")} // b.hcl's, merged over a.hcl's
	must.Eq(t, Access{Allow: []netip.Prefix{p("10.0.0.0/8"), p("2001:db8::/32")}, Deny: topDeny}, byName["inherits"])
	must.Eq(t, Access{Allow: []netip.Prefix{p("192.168.0.0/16")}, Deny: topDeny}, byName["own-allow"])
	must.Eq(t, Access{Deny: []netip.Prefix{p("10.8.0.0/16")}}, byName["opens-up"])

	dir = write(t, map[string]string{"a.hcl": `deny = ["10.0.0.300/8"]
` + minimal})
	_, diags = Load([]string{filepath.Join(dir, "a.hcl")})
	must.StrContains(t, strings.ReplaceAll(FormatDiagnostics(diags), dir+"/", ""),
		`a.hcl:1:8: Invalid deny; "10.0.0.300/8" is not an address or a CIDR block`)
}

// limitedListener sets every limit but max_sources.
const limitedListener = `
listener "grpc" {
  address = ":1"
  limits {
    max_conns_per_source = 200
    conn_rate_per_source = 50
  }
  upstream { servers = ["10.0.0.1:1"] }
}
`

func TestLoad_Limits(t *testing.T) {
	dir := write(t, map[string]string{"a.hcl": limitedListener + `listener "bad" {
  address = ":2"
  limits {
    max_conns_per_source = -1
    conn_rate_per_source = -0.5
    max_sources          = 0
  }
  upstream { servers = ["10.0.0.1:1"] }
}
listener "span" {
  protocol = "udp"
  address  = ":3"
  limits { max_conns_per_source = 1 }
  upstream { servers = ["10.0.0.1:1"] }
}
listener "tcp-rate" {
  address = ":4"
  limits { datagram_rate_per_source = 10 }
  upstream { servers = ["10.0.0.1:1"] }
}
listener "udp-rate" {
  protocol = "udp"
  address  = ":5"
  limits { datagram_rate_per_source = -1 }
  upstream { servers = ["10.0.0.1:1"] }
}
`})
	cfg, diags := Load([]string{filepath.Join(dir, "a.hcl")})
	got := strings.ReplaceAll(FormatDiagnostics(diags), dir+"/", "")
	for _, want := range []string{
		`a.hcl:13:28: Invalid max_conns_per_source; -1 is negative; use 0 for no limit`,
		`a.hcl:14:28: Invalid conn_rate_per_source; -0.5 is negative; use 0 for no limit`,
		`a.hcl:15:28: Invalid max_sources; 0 is below 1`,
		`a.hcl:22:35: Unexpected max_conns_per_source; listener "span" has protocol "udp"`,
		`a.hcl:27:39: Unexpected datagram_rate_per_source; listener "tcp-rate" has protocol "tcp"`,
		`a.hcl:33:39: Invalid datagram_rate_per_source; -1 is negative`,
	} {
		must.StrContains(t, got, want)
	}
	must.Nil(t, cfg)

	dir = write(t, map[string]string{"a.hcl": limitedListener})
	cfg, diags = Load([]string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	must.Eq(t, Limits{MaxConnsPerSource: 200, ConnRatePerSource: 50, MaxSources: DefaultMaxSources}, cfg.Listeners[0].Limits)

	dir = write(t, map[string]string{"a.hcl": `listener "span" {
  protocol = "udp"
  address  = ":3"
  limits { datagram_rate_per_source = 500 }
  upstream { servers = ["10.0.0.1:1"] }
}
`})
	cfg, diags = Load([]string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	must.Eq(t, 500, cfg.Listeners[0].Limits.DatagramRatePerSource)
}
