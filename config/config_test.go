package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoenig/test/must"
)

// write puts name=content files in a temporary directory and returns it.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		must.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	return dir
}

const minimal = `
listener "grpc" {
  address = "127.0.0.1:9991"
  upstream { servers = ["10.0.0.1:9991"] }
}
`

func TestLoad_Defaults(t *testing.T) {
	dir := write(t, map[string]string{"a.hcl": minimal})
	cfg, diags := Load([]string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	must.Eq(t, DefaultLogLevel, cfg.LogLevel)
	must.Eq(t, DefaultShutdownTimeout, cfg.ShutdownTimeout)
	must.Eq(t, API{Enabled: true, Address: DefaultAPIAddress}, cfg.API)
	must.Eq(t, Telemetry{MetricsPrefix: "pinlb", DisableHostname: true, PrometheusRetentionTime: time.Minute}, cfg.Telemetry)
	must.Eq(t, AccessLog{}, cfg.AccessLog) // off
	must.False(t, cfg.RegisterSelf.Enabled)
	must.Eq(t, DefaultConsulStaleTTL, cfg.Consul.StaleTTL)
	must.Eq(t, []Listener{{
		Name:           "grpc",
		Protocol:       DefaultProtocol,
		Address:        "127.0.0.1:9991",
		Balance:        DefaultBalance,
		ConnectTimeout: DefaultConnectTimeout,
		IdleTimeout:    DefaultIdleTimeout,
		MaxConnections: DefaultMaxConnections,
		OnUnhealthy:    DefaultOnUnhealthy,
		MaxFails:       DefaultMaxFails,
		FailTimeout:    DefaultFailTimeout,
		Rebalance:      Rebalance{MinIdle: DefaultRebalanceMinIdle, MaxWait: DefaultRebalanceMaxWait},
		HTTP2GoAway:    DefaultHTTP2GoAway,
		GRPCEndCalls:   DefaultGRPCEndCalls,
		BufferSize:     DefaultBufferSize,
		ProxyProtocol:  ProxyProtocol{Timeout: DefaultProxyProtocolTimeout},
		Limits:         Limits{MaxSources: DefaultMaxSources},
		Upstream:       Upstream{Servers: []string{"10.0.0.1:9991"}},
		UDP: UDP{
			Mode:           DefaultUDPMode,
			SessionTimeout: DefaultSessionTimeout,
			Responses:      DefaultResponses,
			MaxSessions:    DefaultMaxSessions,
		},
	}}, cfg.Listeners)
}

func TestLoad_EveryAttribute(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	must.NoError(t, os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600))
	dir := write(t, map[string]string{"a.hcl": `
log_level        = "debug"
log_json         = true
shutdown_timeout = "5s"
consul {
  address     = "127.0.0.1:8501"
  datacenter  = "dc2"
  token_file  = "` + tokenFile + `"
  stale_ttl   = "1m"
  resync_hold = "30s"
  consistency = "streaming"
  tls {
    ca_file     = "/ca.pem"
    cert_file   = "/c.pem"
    key_file    = "/k.pem"
    server_name = "consul.example"
  }
}
api { address = "127.0.0.1:9701" }
listener "span" {
  protocol        = "udp"
  address         = "0.0.0.0:9996"
  balance         = "round_robin"
  udp {
    mode            = "session"
    session_timeout = "2s"
    responses       = 1
    max_sessions    = 50
  }
  upstream { servers = ["10.0.0.1:9996", "[fd00::1]:9996"] }
}
listener "agent" {
  address         = "[::]:9994"
  connect_timeout = "250ms"
  idle_timeout    = "0"
  max_connections = 100
  buffer_size     = "1MiB"
  upstream { servers = ["10.0.0.1:9994"] }
}
`})
	cfg, diags := Load([]string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	must.Eq(t, "debug", cfg.LogLevel)
	must.True(t, cfg.LogJSON)
	must.Eq(t, 5*time.Second, cfg.ShutdownTimeout)
	must.Eq(t, Consul{
		Address: "127.0.0.1:8501", Datacenter: "dc2", Token: "s3cret", TokenFile: tokenFile,
		StaleTTL: time.Minute, ResyncHold: 30 * time.Second, Consistency: ConsistencyStreaming,
		TLS: ConsulTLS{CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", ServerName: "consul.example"},
	}, cfg.Consul)
	must.Eq(t, "127.0.0.1:9701", cfg.API.Address)
	must.Eq(t, "agent", cfg.Listeners[0].Name) // sorted by name
	must.Eq(t, time.Duration(0), cfg.Listeners[0].IdleTimeout)
	must.Eq(t, 100, cfg.Listeners[0].MaxConnections)
	must.Eq(t, 250*time.Millisecond, cfg.Listeners[0].ConnectTimeout)
	must.Eq(t, 1<<20, cfg.Listeners[0].BufferSize)
	must.Eq(t, UDP{Mode: "session", SessionTimeout: 2 * time.Second, Responses: 1, MaxSessions: 50}, cfg.Listeners[1].UDP)
}

func TestLoad_OperatorBlocks(t *testing.T) {
	dir := write(t, map[string]string{
		"token": "s3cret\n",
		"a.hcl": `
api {
  address      = "0.0.0.0:9701"
  enable_pprof = true
  tls {
    cert_file      = "/c.pem"
    key_file       = "/k.pem"
    client_ca_file = "/ca.pem"
  }
}
telemetry {
  metrics_prefix            = "lb"
  prometheus_retention_time = "0"
  dogstatsd_addr            = "127.0.0.1:8125"
  dogstatsd_tags            = ["dc:one"]
}
access_log {
  path   = "-"
  format = "json"
}
register_self {
  address = "10.0.0.5"
  tags    = ["edge"]
}` + minimal,
		"b.hcl": `api { token_file = "TOKEN" }
telemetry { disable_hostname = false }`,
	})
	b := filepath.Join(dir, "b.hcl")
	raw, err := os.ReadFile(b)
	must.NoError(t, err)
	must.NoError(t, os.WriteFile(b, []byte(strings.Replace(string(raw), "TOKEN", filepath.Join(dir, "token"), 1)), 0o600))

	cfg, diags := Load([]string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	must.Eq(t, API{
		Enabled: true, Address: "0.0.0.0:9701", Token: "s3cret", EnablePprof: true,
		TLS: APITLS{CertFile: "/c.pem", KeyFile: "/k.pem", ClientCAFile: "/ca.pem"},
	}, cfg.API) // merged across files
	must.Eq(t, Telemetry{MetricsPrefix: "lb", DogstatsdAddr: "127.0.0.1:8125", DogstatsdTags: []string{"dc:one"}}, cfg.Telemetry)
	must.Eq(t, AccessLog{Path: "-", Format: "json"}, cfg.AccessLog)
	must.Eq(t, RegisterSelf{
		Enabled: true, Service: DefaultRegisterSelfService, Address: "10.0.0.5", Tags: []string{"edge"}, TTL: DefaultRegisterSelfTTL,
		LeaveWait: DefaultRegisterSelfLeaveWait,
	}, cfg.RegisterSelf)
}

func TestLoad_MergeOrder(t *testing.T) {
	dir := write(t, map[string]string{
		"10-base.hcl": `log_level = "warn"
consul {
  address   = "10.0.0.9:8500"
  stale_ttl = "1m"
}` + minimal,
		"20-override.json": `{
  "log_level": "debug",
  "consul": {"stale_ttl": "2m"},
  "listener": {"span": {"protocol": "udp", "address": "127.0.0.1:9996",
                        "upstream": {"servers": ["10.0.0.1:9996"]}}}
}`,
		"README.txt": "not configuration",
	})
	cfg, diags := Load([]string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	must.Eq(t, "debug", cfg.LogLevel)               // the later file wins
	must.Eq(t, "10.0.0.9:8500", cfg.Consul.Address) // kept from the earlier file
	must.Eq(t, 2*time.Minute, cfg.Consul.StaleTTL)  // overridden attribute by attribute
	must.Eq(t, 2, len(cfg.Listeners))               // listeners add up
	must.Eq(t, []string{filepath.Join(dir, "10-base.hcl"), filepath.Join(dir, "20-override.json")}, cfg.Files)

	// Explicit files merge in command-line order.
	cfg, diags = Load([]string{filepath.Join(dir, "20-override.json"), filepath.Join(dir, "10-base.hcl")})
	must.False(t, diags.HasErrors())
	must.Eq(t, "warn", cfg.LogLevel)
}

func TestLoad_Errors(t *testing.T) {
	cases := []struct {
		name  string
		hcl   string
		wants []string // each must appear in the formatted diagnostics
	}{
		{
			name: "three mistakes at once",
			hcl: `listener "echo" {
  address = "127.0.0.1:1"
  colour  = "red"
  upstream { servers = ["127.0.0.1:2"] }
}
listener "echo" {
  address         = "127.0.0.1:3"
  connect_timeout = "5x"
  upstream { servers = ["127.0.0.1:2"] }
}`,
			wants: []string{
				`a.hcl:3:3: Unsupported argument; An argument named "colour" is not expected here.`,
				`a.hcl:8:21: Invalid duration; "5x" is not a duration (use e.g. "5s"`,
				`a.hcl:6:10: Duplicate listener; listener "echo" is already defined at ` + "DIR/a.hcl:1:10",
			},
		},
		{
			name: "bad buffer sizes",
			hcl: `listener "a" {
  address     = "127.0.0.1:1"
  buffer_size = "256KB"
  upstream { servers = ["127.0.0.1:2"] }
}
listener "b" {
  address     = "127.0.0.1:3"
  buffer_size = "1KiB"
  upstream { servers = ["127.0.0.1:2"] }
}
listener "c" {
  protocol    = "udp"
  address     = "127.0.0.1:4"
  buffer_size = "65536"
  upstream { servers = ["127.0.0.1:2"] }
}`,
			wants: []string{
				`a.hcl:3:17: Invalid size; "256KB" is not a size (use e.g. "256KiB", "1MiB" or a number of bytes)`,
				`a.hcl:8:17: Invalid size; "1KiB" is outside 4KiB to 64MiB`,
				`a.hcl:14:17: Unexpected buffer_size; listener "c" has protocol "udp", and buffer_size applies to TCP connections`,
			},
		},
		{
			name: "bad address",
			hcl: `listener "x" {
  address = "localhost:99999"
  upstream { servers = ["1.2.3.4:5"] }
}`,
			wants: []string{`a.hcl:2:13: Invalid address; "localhost" is not an IP address`, `a.hcl:2:13: Invalid port; "99999" is not a port from 1 to 65535`},
		},
		{
			name:  "missing address and upstream",
			hcl:   `listener "x" {}`,
			wants: []string{`a.hcl:1:1: Missing listener address`, `a.hcl:1:1: Missing upstream block`},
		},
		{
			name: "bad servers",
			hcl: `listener "x" {
  address = ":1"
  upstream { servers = ["collector1:9994", "1.2.3.4:0", "1.2.3.4:5", "1.2.3.4:5"] }
}`,
			wants: []string{`Invalid server address; "collector1:9994" is not an IP address and port`, `Invalid port; server "1.2.3.4:0"`, `Duplicate server; "1.2.3.4:5"`},
		},
		{
			name: "udp block on tcp listener",
			hcl: `listener "x" {
  address = ":1"
  udp { mode = "packet" }
  upstream { servers = ["1.2.3.4:5"] }
}`,
			wants: []string{`a.hcl:3:3: Unexpected udp block; listener "x" has protocol "tcp"`},
		},
		{
			name: "enumerations and numbers",
			hcl: `log_level = "loud"
listener "x" {
  protocol = "sctp"
  address = ":1"
  balance = "fastest"
  max_connections = -1
  upstream { servers = ["1.2.3.4:5"] }
}
listener "y" {
  protocol = "udp"
  address = ":1"
  udp {
    mode = "stream"
    responses = -2
    max_sessions = 0
    session_timeout = "0s"
  }
  upstream { servers = ["1.2.3.4:5"] }
}`,
			wants: []string{
				`Invalid log level; "loud" is not a log level; use one of: trace, debug, info, warn, error`,
				`Invalid protocol; "sctp"`, `Invalid balance; "fastest" is not a balance; use one of: round_robin`,
				`Invalid max_connections; -1 is negative`, `Invalid UDP mode; "stream"`, `Invalid responses`,
				`Invalid max_sessions`, `a.hcl:16:23: Invalid duration; "0s" must be greater than zero`,
			},
		},
		{
			name: "duplicate address",
			hcl: `listener "a" {
  address = "127.0.0.1:1"
  upstream { servers = ["1.2.3.4:5"] }
}
listener "b" {
  address = "127.0.0.1:1"
  upstream { servers = ["1.2.3.4:5"] }
}`,
			wants: []string{`a.hcl:6:13: Duplicate listener address; listener "b" binds tcp 127.0.0.1:1, which listener "a" at DIR/a.hcl:2:13 binds already`},
		},
		{
			name: "hash with rebalance",
			hcl: `listener "a" {
  address = "127.0.0.1:1"
  balance = "hash"
  rebalance {}
  upstream { servers = ["1.2.3.4:5"] }
}`,
			wants: []string{`a.hcl:4:3: Unexpected rebalance block; listener "a" balances by hash, which sends a client back to the collector it was moved from`},
		},
		{
			name: "overlapping addresses",
			hcl: `listener "a" {
  address = "0.0.0.0:1"
  upstream { servers = ["1.2.3.4:5"] }
}
listener "b" {
  address = "127.0.0.1:1"
  upstream { servers = ["1.2.3.4:5"] }
}
listener "c" {
  address = ":2"
  upstream { servers = ["1.2.3.4:5"] }
}
listener "d" {
  address = "[::]:2"
  upstream { servers = ["1.2.3.4:5"] }
}
listener "e" {
  protocol = "udp"
  address  = "127.0.0.1:1"
  upstream { servers = ["1.2.3.4:5"] }
}
listener "f" {
  address = "127.0.0.2:1"
  protocol = "udp"
  upstream { servers = ["1.2.3.4:5"] }
}`,
			wants: []string{
				`a.hcl:6:13: Duplicate listener address; listener "b" binds tcp 127.0.0.1:1, which listener "a" at DIR/a.hcl:2:13 binds already (an address with no IP, 0.0.0.0 or [::] takes its port on every address)`,
				`a.hcl:14:13: Duplicate listener address; listener "d" binds tcp [::]:2, which listener "c" at DIR/a.hcl:10:13 binds already`,
			},
		},
		{
			name: "consul block",
			hcl: `consul {
  address = ""
  token = "x"
  token_file = "/t"
  stale_ttl = "soon"
  tls { cert_file = "/c.pem" }
}` + minimal,
			wants: []string{`Invalid Consul address`, `Conflicting Consul token settings`, `Invalid duration; "soon"`, `Incomplete Consul client certificate`},
		},
		{
			name: "tcp settings on udp listeners",
			hcl: `listener "span" {
  protocol        = "udp"
  address         = ":9996"
  balance         = "least_conn"
  connect_timeout = "1s"
  idle_timeout    = "1m"
  max_connections = 10
  drain_timeout   = "1s"
  on_unhealthy    = "close"
  tries           = 2
  next_timeout    = "1s"
  max_fails       = 3
  fail_timeout    = "5s"
  max_conns       = 5
  udp { responses = 1 }
  upstream { servers = ["127.0.0.1:1"] }
}
listener "stat" {
  protocol = "udp"
  address  = ":9995"
  balance  = "least_time"
  udp { mode = "session" }
  upstream { servers = ["127.0.0.1:1"] }
}`,
			wants: []string{
				`a.hcl:4:21: Unsupported balance in packet mode; least_conn counts the sessions bound`,
				`a.hcl:5:21: Unexpected connect_timeout; listener "span" has protocol "udp", and connect_timeout applies to TCP connections: a datagram is sent without connecting`,
				`a.hcl:6:21: Unexpected idle_timeout;`, `a.hcl:7:21: Unexpected max_connections;`, `a.hcl:8:21: Unexpected drain_timeout;`,
				`a.hcl:9:21: Unexpected on_unhealthy;`, `a.hcl:10:21: Unexpected tries;`, `a.hcl:11:21: Unexpected next_timeout;`,
				`a.hcl:12:21: Unexpected max_fails;`, `a.hcl:13:21: Unexpected fail_timeout;`,
				`a.hcl:14:21: Unexpected max_conns in packet mode;`, `a.hcl:15:21: Unexpected responses in packet mode;`,
				`a.hcl:21:14: Unsupported balance for UDP; least_time measures connect and first-byte times`,
			},
		},
		{
			name: "consul token file and hold",
			hcl: `consul {
  token_file  = "/nonexistent/token"
  resync_hold = "-1s"
}` + minimal,
			wants: []string{`a.hcl:2:17: Unreadable Consul token file; open /nonexistent/token`, `a.hcl:3:17: Invalid duration`},
		},
		{
			name:  "consul consistency",
			hcl:   `consul { consistency = "consistent" }` + minimal,
			wants: []string{`a.hcl:1:24: Invalid consistency; "consistent" is not a consistency; use one of: leader, stale, streaming`},
		},
		{
			name:  "a device as a token file",
			hcl:   `api { token_file = "/dev/zero" }` + minimal,
			wants: []string{`a.hcl:1:20: Unreadable API token file; /dev/zero is a device, not a regular file`},
		},
		{
			name: "operator blocks",
			hcl: `api {
  address    = "localhost:9700"
  token      = "x"
  token_file = "/nonexistent/token"
  tls { client_ca_file = "/ca.pem" }
}
telemetry {
  prometheus_retention_time = "1 minute"
  statsd_address            = "statsd"
}
access_log { format = "xml" }
register_self { ttl = "0" }` + minimal,
			wants: []string{
				`a.hcl:2:16: Invalid address; "localhost" is not an IP address`,
				`Conflicting API token settings`, `a.hcl:4:16: Unreadable API token file`,
				`a.hcl:5:3: Incomplete API certificate`, `Invalid duration; "1 minute"`,
				`a.hcl:9:31: Invalid address; "statsd" is not host:port`,
				`a.hcl:11:1: Missing access log path`, `a.hcl:11:23: Invalid access log format; "xml"`,
				`a.hcl:12:23: Invalid duration; "0" must be greater than zero`,
			},
		},
		{
			name:  "syntax error",
			hcl:   `listener "x" {`,
			wants: []string{`a.hcl:1:14: Unclosed configuration block`},
		},
		{
			name:  "no listeners",
			hcl:   `log_level = "info"`,
			wants: []string{`No listeners; define at least one listener`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, map[string]string{"a.hcl": tc.hcl})
			cfg, diags := Load([]string{filepath.Join(dir, "a.hcl")})
			must.Nil(t, cfg)
			must.True(t, diags.HasErrors())
			out := FormatDiagnostics(diags)
			for _, want := range tc.wants {
				want = strings.ReplaceAll(want, "DIR/", dir+"/")
				must.StrContains(t, out, want)
			}
			must.Eq(t, len(tc.wants), len(diags.Errs()), must.Sprint(out))
		})
	}
}

func TestLoad_Paths(t *testing.T) {
	_, diags := Load([]string{"/nonexistent/pinlb.hcl"})
	must.StrContains(t, FormatDiagnostics(diags), "Missing configuration path")
	_, diags = Load([]string{t.TempDir()})
	must.StrContains(t, FormatDiagnostics(diags), "Empty configuration directory")
	_, diags = Load(nil)
	must.StrContains(t, FormatDiagnostics(diags), "No configuration files")
}

func TestLoad_ConsulUpstream(t *testing.T) {
	dir := write(t, map[string]string{"a.hcl": `
listener "span" {
  protocol      = "udp"
  address       = ":9996"
  upstream {
    service         = "pinpoint-collector"
    datacenter      = "dc2"
    filter          = "Service.Meta.version == \"2.5\""
    include_warning = true
    port_meta       = "port_thrift_span"
  }
}
listener "pinned" {
  address       = ":9991"
  drain_timeout = "30s"
  upstream {
    service = "pinpoint-collector"
    port    = 9991
  }
}`})
	cfg, diags := Load([]string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	must.Eq(t, 9991, cfg.Listeners[0].Upstream.Port)
	must.Eq(t, Upstream{
		Service: "pinpoint-collector", Datacenter: "dc2", Filter: `Service.Meta.version == "2.5"`,
		IncludeWarning: true, PortMeta: "port_thrift_span",
	}, cfg.Listeners[1].Upstream)
	must.Eq(t, 30*time.Second, cfg.Listeners[0].DrainTimeout)
}

func TestLoad_ConsulUpstreamErrors(t *testing.T) {
	cases := []struct {
		name     string
		upstream string
		want     string
	}{
		{"both", `servers = ["1.2.3.4:5"]
    service = "x"`, "Conflicting upstream; an upstream takes static servers or a Consul service, not both"},
		{"neither", ``, "Empty upstream"},
		{"bad filter", `service = "x"
    filter = "Service.Tags contains"`, "Invalid filter"},
		{"port and port_meta", `service = "x"
    port = 1
    port_meta = "k"`, "Conflicting port settings"},
		{"port range", `service = "x"
    port = 70000`, "Invalid port; 70000 is not a port"},
		{"empty service", `service = ""`, "Invalid service"},
		{"consul attribute on servers", `servers = ["1.2.3.4:5"]
    port_meta = "k"`, "Unexpected attribute; port_meta applies to a Consul service"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, map[string]string{"a.hcl": `listener "x" {
  address = ":1"
  upstream {
    ` + tc.upstream + `
  }
}`})
			_, diags := Load([]string{dir})
			must.True(t, diags.HasErrors())
			must.StrContains(t, FormatDiagnostics(diags), tc.want)
			must.Eq(t, 1, len(diags.Errs()), must.Sprint(FormatDiagnostics(diags)))
		})
	}
}

func TestLoad_BalancingAttributes(t *testing.T) {
	dir := write(t, map[string]string{"a.hcl": `
listener "grpc" {
  address      = ":9991"
  balance      = "least_conn"
  on_unhealthy = "close"
  tries        = 2
  next_timeout = "3s"
  max_fails    = 3
  fail_timeout = "30s"
  max_conns    = 500
  slow_start   = "1m"
  rebalance {
    skew         = 1.25
    max_rate     = 5
    min_idle     = "500ms"
    max_wait     = "1m"
    max_lifetime = "3h"
  }
  upstream {
    service     = "pinpoint-collector"
    backup_tag  = "standby"
    backup_meta = "role=backup"
  }
}`})
	cfg, diags := Load([]string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	l := cfg.Listeners[0]
	must.Eq(t, "least_conn", l.Balance)
	must.Eq(t, "close", l.OnUnhealthy)
	must.Eq(t, 2, l.Tries)
	must.Eq(t, 3*time.Second, l.NextTimeout)
	must.Eq(t, 3, l.MaxFails)
	must.Eq(t, 30*time.Second, l.FailTimeout)
	must.Eq(t, 500, l.MaxConns)
	must.Eq(t, time.Minute, l.SlowStart)
	must.Eq(t, Rebalance{Enabled: true, Skew: 1.25, MaxRate: 5, MinIdle: 500 * time.Millisecond,
		MaxWait: time.Minute, MaxLifetime: 3 * time.Hour}, l.Rebalance)
	must.Eq(t, "standby", l.Upstream.BackupTag)
	must.Eq(t, "role=backup", l.Upstream.BackupMeta)

	dir = write(t, map[string]string{"a.hcl": `
listener "span" {
  protocol     = "udp"
  address      = ":9996"
  on_unhealthy = "kill"
  max_fails    = -1
  rebalance { skew = 0.5 }
  upstream {
    service     = "x"
    backup_meta = "backup"
  }
}`})
	_, diags = Load([]string{dir})
	out := FormatDiagnostics(diags)
	for _, want := range []string{`Invalid on_unhealthy policy; "kill"`, "Invalid max_fails; -1 is negative",
		"Unexpected rebalance block", "Invalid skew; 0.5 is below 1", `Invalid backup_meta; "backup" is not key=value`} {
		must.StrContains(t, out, want)
	}
}

func TestDev(t *testing.T) {
	cfg, diags := Parse([]Source{Dev()})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	must.Eq(t, 6, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		must.StrHasPrefix(t, "127.0.0.1:999", l.Address)
		must.Eq(t, "pinpoint-collector", l.Upstream.Service)
		must.StrHasPrefix(t, "port_", l.Upstream.PortMeta)
		if l.Protocol == "udp" {
			must.Eq(t, "packet", l.UDP.Mode)
		}
		// Stat and span streams move after a scale-out; the agent
		// channels, whose closing Pinpoint records as an agent shutdown,
		// do not.
		if l.Protocol == "tcp" {
			must.Eq(t, "least_conn", l.Balance, must.Sprint(l.Name, ": long-lived streams placed by load"))
			// The scale-down runbook (maint, wait, stop) ends: a drained
			// collector's connections, which Pinpoint never ends, are
			// closed after a minute and the agents reconnect elsewhere.
			must.Eq(t, time.Minute, l.DrainTimeout, must.Sprint(l.Name))
		}
		moves := l.Name == "grpc-stat" || l.Name == "grpc-span"
		must.Eq(t, moves, l.Rebalance.Enabled, must.Sprint(l.Name))
		if moves {
			must.Eq(t, time.Second, l.Rebalance.MinIdle)
			must.Eq(t, 5*time.Minute, l.Rebalance.MaxWait)
		}
	}
	// Files merge over it.
	dir := write(t, map[string]string{"a.hcl": `log_level = "debug"`})
	cfg, diags = LoadOver([]Source{Dev()}, []string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	must.Eq(t, "debug", cfg.LogLevel)
	must.Eq(t, []string{DevSourceName, filepath.Join(dir, "a.hcl")}, cfg.Files)
}

// register_self's address is an IP or a go-sockaddr template that gives
// one, as Consul's addresses and `pinlb register -address` are.
func TestLoad_RegisterSelfAddressTemplate(t *testing.T) {
	for _, tc := range []struct {
		name, address, want, wantErr string
	}{
		{name: "an IP", address: "10.0.0.5", want: "10.0.0.5"},
		{name: "a template", address: `{{ GetAllInterfaces | include \"flags\" \"loopback\" | include \"type\" \"IPv4\" | limit 1 | attr \"address\" }}`, want: "127.0.0.1"},
		{name: "a name", address: "localhost", wantErr: `a.hcl:1:27: Invalid address; "localhost": it gives "localhost", not one IP address`},
		{name: "a template that fails", address: `{{ GetInterfaceIP \"nonexistent0\" }}`, wantErr: `a.hcl:1:27: Invalid address; "{{ GetInterfaceIP \"nonexistent0\" }}"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, map[string]string{"a.hcl": `register_self { address = "` + tc.address + `" }` + minimal})
			cfg, diags := Load([]string{dir})
			if tc.wantErr != "" {
				must.StrContains(t, FormatDiagnostics(diags), tc.wantErr)
				return
			}
			must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
			must.Eq(t, tc.want, cfg.RegisterSelf.Address)
		})
	}
}

// ${name} in a log format is written $${name} in HCL, as the reference
// says, and reads as the variable followed by text.
func TestLoad_LogFormatBracedVariable(t *testing.T) {
	dir := write(t, map[string]string{"a.hcl": `access_log {
  path   = "-"
  format = "$remote_addr $${session_time}s"
}` + minimal})
	cfg, diags := Load([]string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	must.Eq(t, []LogSegment{{Variable: "remote_addr"}, {Text: " "}, {Variable: "session_time"}, {Text: "s"}}, cfg.AccessLog.Template)
}

// Problems are listed as a reader meets them in the file, whatever order
// the checks ran in.
func TestLoad_DiagnosticsInFileOrder(t *testing.T) {
	dir := write(t, map[string]string{"a.hcl": `listener "a" {
  address = "127.0.0.1:1"
  balance = "nope"
  upstream { servers = ["1.2.3.4:5"] }
}
consul {
  stale_ttl = "x"
}`})
	_, diags := Load([]string{dir})
	out := FormatDiagnostics(diags)
	listener, consul := strings.Index(out, "a.hcl:3:"), strings.Index(out, "a.hcl:7:")
	must.Positive(t, consul, must.Sprint(out))
	must.Less(t, consul, listener, must.Sprint(out))
}
