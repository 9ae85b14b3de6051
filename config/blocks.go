package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-sockaddr/template"
	"github.com/hashicorp/hcl/v2"
)

func (v *validator) consul(c *consulBlock) Consul {
	out := Consul{
		Address:     deref(c.Address),
		Datacenter:  deref(c.Datacenter),
		Token:       deref(c.Token),
		TokenFile:   deref(c.TokenFile),
		StaleTTL:    v.duration(c.StaleTTL, c.StaleTTLRange, DefaultConsulStaleTTL, true),
		ResyncHold:  v.duration(c.ResyncHold, c.ResyncHoldRange, DefaultConsulResyncHold, true),
		Consistency: DefaultConsulConsistency,
	}
	if c.Consistency != nil {
		out.Consistency = *c.Consistency
		v.oneOf(out.Consistency, c.ConsistencyRange, "consistency", consistencies)
	}
	if c.Address != nil && strings.TrimSpace(out.Address) == "" {
		v.errorf(c.AddressRange, "Invalid Consul address",
			`address is empty; remove it to use $CONSUL_HTTP_ADDR or 127.0.0.1:8500, or give e.g. "127.0.0.1:8500"`)
	}
	if c.Token != nil && c.TokenFile != nil {
		v.errorf(c.TokenFileRange, "Conflicting Consul token settings",
			"set token or token_file, not both")
	}
	if c.TokenFile != nil && c.Token == nil {
		out.Token = v.tokenFile(*c.TokenFile, c.TokenFileRange, "Consul")
	}
	if t := c.TLS; t != nil {
		out.TLS = ConsulTLS{
			CAFile:     deref(t.CAFile),
			CertFile:   deref(t.CertFile),
			KeyFile:    deref(t.KeyFile),
			ServerName: deref(t.ServerName),
		}
		if (out.TLS.CertFile == "") != (out.TLS.KeyFile == "") {
			v.errorf(t.DefRange, "Incomplete Consul client certificate",
				"cert_file and key_file go together; set both or neither")
		}
	}
	return out
}

func (v *validator) api(a *apiBlock) API {
	out := API{
		Enabled:     boolOr(a.Enabled, DefaultAPIEnabled),
		Address:     DefaultAPIAddress,
		Token:       deref(a.Token),
		EnablePprof: boolOr(a.EnablePprof, false),
	}
	if a.Address != nil {
		out.Address = *a.Address
		v.hostPort(out.Address, a.AddressRange, true)
	}
	if a.Token != nil && a.TokenFile != nil {
		v.errorf(a.TokenFileRange, "Conflicting API token settings", "set token or token_file, not both")
	}
	if a.Token != nil && strings.TrimSpace(out.Token) == "" {
		v.errorf(a.TokenRange, "Empty API token", "remove token to leave the API open, or set a secret")
	}
	if a.TokenFile != nil {
		out.Token = v.tokenFile(*a.TokenFile, a.TokenFileRange, "API")
	}
	if t := a.TLS; t != nil {
		out.TLS = APITLS{CertFile: deref(t.CertFile), KeyFile: deref(t.KeyFile), ClientCAFile: deref(t.ClientCAFile)}
		if out.TLS.CertFile == "" || out.TLS.KeyFile == "" {
			v.errorf(t.DefRange, "Incomplete API certificate",
				"the API serves HTTPS with cert_file and key_file; set both (client_ca_file alone cannot work)")
		}
	}
	return out
}

func (v *validator) telemetry(t *telemetryBlock) Telemetry {
	out := Telemetry{
		MetricsPrefix:           DefaultMetricsPrefix,
		DisableHostname:         boolOr(t.DisableHostname, DefaultDisableHostname),
		PrometheusRetentionTime: v.duration(t.PrometheusRetentionTime, t.PrometheusRetentionTimeRange, DefaultPrometheusRetentionTime, true),
		StatsdAddress:           deref(t.StatsdAddress),
		DogstatsdAddr:           deref(t.DogstatsdAddr),
	}
	if t.MetricsPrefix != nil {
		out.MetricsPrefix = *t.MetricsPrefix
		if !listenerName.MatchString(out.MetricsPrefix) {
			v.errorf(t.MetricsPrefixRange, "Invalid metrics prefix", "%q: use letters, digits, '_', '-' and '.'", out.MetricsPrefix)
		}
	}
	if t.DogstatsdTags != nil {
		out.DogstatsdTags = *t.DogstatsdTags
	}
	for _, a := range []struct {
		s *string
		r hcl.Range
	}{{t.StatsdAddress, t.StatsdAddressRange}, {t.DogstatsdAddr, t.DogstatsdAddrRange}} {
		if a.s != nil {
			if _, _, err := net.SplitHostPort(*a.s); err != nil {
				v.errorf(a.r, "Invalid address", `%q is not host:port (use e.g. "127.0.0.1:8125")`, *a.s)
			}
		}
	}
	return out
}

func (v *validator) accessLog(l *accessLogBlock) AccessLog {
	out := AccessLog{Path: deref(l.Path), Format: DefaultAccessLogFormat}
	if l.Path == nil || strings.TrimSpace(out.Path) == "" {
		r := l.DefRange
		if l.Path != nil {
			r = l.PathRange
		}
		v.errorf(r, "Missing access log path", `set path to a file, or "-" for standard output; remove the block to log nothing`)
	} else {
		v.logPath(out.Path, l.PathRange)
	}
	if l.Format != nil {
		out.Format = *l.Format
		if strings.Contains(out.Format, "$") {
			out.Template = v.logTemplate(out.Format, l.FormatRange)
		} else {
			v.oneOf(out.Format, l.FormatRange, "access log format", logFormat)
		}
	}
	return out
}

func (v *validator) registerSelf(r *registerSelfBlock) RegisterSelf {
	out := RegisterSelf{
		Enabled:   true,
		Service:   DefaultRegisterSelfService,
		ID:        deref(r.ID),
		Address:   deref(r.Address),
		TTL:       v.duration(r.TTL, r.TTLRange, DefaultRegisterSelfTTL, false),
		LeaveWait: v.duration(r.LeaveWait, r.LeaveWaitRange, DefaultRegisterSelfLeaveWait, true),
	}
	if r.Service != nil {
		out.Service = *r.Service
		if !listenerName.MatchString(out.Service) {
			v.errorf(r.ServiceRange, "Invalid service name", "%q: use letters, digits, '_', '-' and '.'", out.Service)
		}
	}
	if r.Address != nil {
		out.Address = v.selfAddress(out.Address, r.AddressRange)
	}
	if r.Tags != nil {
		out.Tags = *r.Tags
	}
	return out
}

// selfAddress is register_self's address: an IP, or a go-sockaddr template
// ("{{ GetPrivateIP }}"), as Consul's own addresses and `pinlb register`
// take, resolved at every load.
func (v *validator) selfAddress(address string, r hcl.Range) string {
	ip, err := template.Parse(address)
	ip = strings.TrimSpace(ip)
	if err == nil {
		if _, perr := netip.ParseAddr(ip); perr != nil {
			err = fmt.Errorf("it gives %q, not one IP address", ip)
		}
	}
	if err != nil {
		v.errorf(r, "Invalid address", "%q: %v; give an IP or a go-sockaddr template that gives one, such as {{ GetPrivateIP }}", address, err)
		return address
	}
	return ip
}

// logPath checks what an access log path names: a directory, a socket or
// a block device is an error (a named pipe, a log shipper's, and a
// character device such as /dev/stdout on a terminal are fine); a
// directory that does not exist is a warning,
// since packaging may create it before pinlb starts. "-" is standard
// output. Whether pinlb may write there is known only when it opens the
// file, as the user it runs as.
func (v *validator) logPath(path string, r hcl.Range) {
	if path == "-" {
		return
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		v.warnf(r, "Access log directory missing", "%s is not a directory here: pinlb will not start until it is", dir)
		return
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		v.errorf(r, "Unusable access log path", "%v", err)
	case fi.IsDir():
		v.errorf(r, "Unusable access log path", "%s is a directory; name a file in it", path)
	case fi.Mode()&fs.ModeSocket != 0 || fi.Mode()&fs.ModeDevice != 0 && fi.Mode()&fs.ModeCharDevice == 0:
		v.errorf(r, "Unusable access log path", "%s is a %s; name a regular file, a named pipe or a terminal (/dev/stdout), or \"-\" for standard output", path, kindOf(fi.Mode()))
	}
}
