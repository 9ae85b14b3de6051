package config

import (
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Accepted values of enumerated attributes.
var (
	logLevels = []string{"trace", "debug", "info", "warn", "error"}
	protocols = []string{"tcp", "udp"}
	balances  = []string{"round_robin", "least_conn", "random_two", "hash", "least_time"}
	policies  = []string{"drain", "close"}
	udpModes  = []string{"packet", "session"}
	logFormat = []string{"text", "json"}

	consistencies = []string{ConsistencyLeader, ConsistencyStale, ConsistencyStreaming}
)

// Balances lists the balance algorithms a listener may name, sorted.
func Balances() []string { return slices.Sorted(slices.Values(balances)) }

// finalize applies defaults to the merged user layer and validates it,
// collecting every problem.
func finalize(fc *fileConfig) (*Config, hcl.Diagnostics) {
	v := &validator{}
	cfg := &Config{
		LogLevel:        DefaultLogLevel,
		ShutdownTimeout: v.duration(fc.ShutdownTimeout, fc.ShutdownTimeoutRange, DefaultShutdownTimeout, false),
		Consul:          Consul{StaleTTL: DefaultConsulStaleTTL, ResyncHold: DefaultConsulResyncHold, Consistency: DefaultConsulConsistency},
		API:             API{Enabled: DefaultAPIEnabled, Address: DefaultAPIAddress},
		Telemetry: Telemetry{
			MetricsPrefix:           DefaultMetricsPrefix,
			DisableHostname:         DefaultDisableHostname,
			PrometheusRetentionTime: DefaultPrometheusRetentionTime,
		},
	}
	if fc.LogLevel != nil {
		cfg.LogLevel = strings.ToLower(*fc.LogLevel)
		v.oneOf(cfg.LogLevel, fc.LogLevelRange, "log level", logLevels)
	}
	if fc.LogJSON != nil {
		cfg.LogJSON = *fc.LogJSON
	}
	if c := fc.Consul; c != nil {
		cfg.Consul = v.consul(c)
	}
	if a := fc.API; a != nil {
		cfg.API = v.api(a)
	}
	if t := fc.Telemetry; t != nil {
		cfg.Telemetry = v.telemetry(t)
	}
	if l := fc.AccessLog; l != nil {
		cfg.AccessLog = v.accessLog(l)
	}
	if r := fc.RegisterSelf; r != nil {
		cfg.RegisterSelf = v.registerSelf(r)
	}

	seenName := map[string]*listenerBlock{}
	var blocks []*listenerBlock // cfg.Listeners' blocks, for their positions
	for _, lb := range fc.Listeners {
		l := v.listener(lb)
		l.Access = v.access(fc, lb)
		if first, ok := seenName[l.Name]; ok {
			v.errorf(lb.NameRange, "Duplicate listener",
				"listener %q is already defined at %s; listener names must be unique across all files",
				l.Name, position(first.NameRange))
		} else {
			seenName[l.Name] = lb
		}
		if i := boundBefore(cfg.Listeners, l); i >= 0 && lb.Address != nil {
			first, how := cfg.Listeners[i], ""
			if first.Address != l.Address {
				how = " (an address with no IP, 0.0.0.0 or [::] takes its port on every address)"
			}
			v.errorf(lb.AddressRange, "Duplicate listener address",
				"listener %q binds %s %s, which listener %q at %s binds already%s",
				l.Name, l.Protocol, l.Address, first.Name, position(blocks[i].AddressRange), how)
		}
		blocks = append(blocks, lb)
		cfg.Listeners = append(cfg.Listeners, l)
	}
	if len(fc.Listeners) == 0 {
		v.diags = append(v.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No listeners",
			Detail:   `define at least one listener "NAME" { ... } block`,
		})
	}
	sort.Slice(cfg.Listeners, func(i, j int) bool { return cfg.Listeners[i].Name < cfg.Listeners[j].Name })
	return cfg, v.diags
}

// boundBefore is the index of the first of earlier whose address l's would
// collide with in the kernel, or -1.
func boundBefore(earlier []Listener, l Listener) int {
	return slices.IndexFunc(earlier, func(e Listener) bool {
		return e.Protocol == l.Protocol && bindsOverlap(e.Address, l.Address)
	})
}
