package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/pinlb/pinlb/proxy"
	"github.com/shoenig/test/must"
)

// What config accepts as a balance, proxy runs, and the other way round.
func TestBalancers_ConfigAndProxyAgree(t *testing.T) {
	must.Eq(t, proxy.Balancers(), config.Balances())
}

// proxyConfig, the one copy of a listener's settings from config to proxy,
// carries every one: each proxy.Config field is set from a listener whose
// every field is set, and each config.Listener field but the upstream's
// changes what the proxy gets.
func TestProxyConfig_CopiesEverySetting(t *testing.T) {
	var full config.Listener
	fill(reflect.ValueOf(&full).Elem())
	full.TLS.Certificate, full.TLS.ClientCAs = &tls.Certificate{}, x509.NewCertPool() // fill leaves pointers
	rec := &accessLog{}
	got := proxyConfig(full, rec)
	hooked := got
	hooked.Events = func(proxy.Event) {} // the agent's hook, not a setting: Agent.proxyConfig sets it
	for _, path := range zeroFields(reflect.ValueOf(hooked), "proxy.Config") {
		t.Errorf("%s is never set from config.Listener", path)
	}

	lt := reflect.TypeOf(full)
	for i := range lt.NumField() {
		f := lt.Field(i)
		if f.Name == "Upstream" { // the agent's to resolve, not the proxy's
			continue
		}
		cut := full
		reflect.ValueOf(&cut).Elem().Field(i).SetZero()
		if reflect.DeepEqual(proxyConfig(cut, rec), got) {
			t.Errorf("config.Listener.%s does not reach proxy.Config", f.Name)
		}
	}
}

// fill sets every field of v to a value that is not its zero.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(7 * time.Second))
	case reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0))
		v.Set(s)
	}
}

// zeroFields lists the fields of v, recursively, left at their zero.
func zeroFields(v reflect.Value, path string) []string {
	if v.Kind() != reflect.Struct {
		if v.IsZero() {
			return []string{path}
		}
		return nil
	}
	var out []string
	for i := range v.NumField() {
		out = append(out, zeroFields(v.Field(i), path+"."+v.Type().Field(i).Name)...)
	}
	return out
}

// Every combination of balance, protocol, UDP mode and on_unhealthy that
// config accepts, proxy runs: config's checks and proxy's agree.
func TestSettings_WhatConfigAcceptsProxyRuns(t *testing.T) {
	type combo struct{ protocol, extra string }
	var combos []combo
	for _, policy := range []string{"drain", "close"} {
		combos = append(combos, combo{"tcp", fmt.Sprintf("on_unhealthy = %q", policy)})
	}
	for _, mode := range []string{"packet", "session"} {
		combos = append(combos, combo{"udp", fmt.Sprintf("udp { mode = %q }", mode)})
	}
	accepted := 0
	for _, balance := range config.Balances() {
		for _, c := range combos {
			text := fmt.Sprintf("listener \"x\" {\n protocol = %q\n address = %q\n balance = %q\n %s\n upstream { servers = [\"127.0.0.1:1\"] }\n}\n",
				c.protocol, testsupport.FreePort(t), balance, c.extra)
			cfg, diags := config.Parse([]config.Source{{Name: "x.hcl", Data: []byte(text)}})
			if diags.HasErrors() {
				continue // refused with file:line:col, before the proxy sees it
			}
			accepted++
			pl, err := proxy.Listen(proxyConfig(cfg.Listeners[0], nil), hclog.NewNullLogger())
			must.NoError(t, err, must.Sprintf("config accepts, proxy refuses:\n%s", text))
			must.NoError(t, pl.Shutdown(context.Background()))
		}
	}
	must.Greater(t, len(config.Balances())*2, accepted)        // some were tried...
	must.Less(t, len(config.Balances())*len(combos), accepted) // ...and config refuses some
}
