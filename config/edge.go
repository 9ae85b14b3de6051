package config

import (
	"net/netip"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// The edge of a listener: what it accepts from the network in front of it
// and sends to its backends besides the bytes.

var proxyVersions = []string{"v1", "v2"}

// accessList is one allow or deny list, set at the top level, on a
// listener, or on neither.
type accessList struct {
	top, own *[]string
	topR, r  hcl.Range
	what     string
}

// resolve is the listener's list when it sets one, else the top level's.
func (v *validator) resolve(a accessList) []netip.Prefix {
	switch {
	case a.own != nil:
		return v.prefixes(*a.own, a.r, a.what)
	case a.top != nil:
		return v.prefixes(*a.top, a.topR, a.what)
	}
	return nil
}

// access is a listener's allow and deny: each its own when it sets it,
// else the top level's.
func (v *validator) access(fc *fileConfig, lb *listenerBlock) Access {
	return Access{
		Allow: v.resolve(accessList{fc.Allow, lb.Allow, fc.AllowRange, lb.AllowRange, "allow"}),
		Deny:  v.resolve(accessList{fc.Deny, lb.Deny, fc.DenyRange, lb.DenyRange, "deny"}),
	}
}

// proxyProtocol validates a proxy_protocol {} block.
func (v *validator) proxyProtocol(b *proxyProtocolBlock) ProxyProtocol {
	out := ProxyProtocol{
		Accept:  boolOr(b.Accept, false),
		Trusted: v.prefixes(b.Trusted, b.TrustedRange, "trusted"),
		Timeout: v.duration(b.Timeout, b.TimeoutRange, DefaultProxyProtocolTimeout, false),
	}
	if out.Accept && len(b.Trusted) == 0 {
		v.errorf(b.DefRange, "Missing trusted",
			`accept = true needs the peers that may send a PROXY header, e.g. trusted = ["10.0.0.0/8"]: from any other, a header could claim any client address`)
	}
	return out
}

// prefixes parses CIDR blocks; a bare address is a block of one.
func (v *validator) prefixes(in []string, r hcl.Range, what string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil && !strings.Contains(s, "/") {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			v.errorf(r, "Invalid "+what, `%q is not an address or a CIDR block, e.g. "10.0.0.0/8", "192.0.2.7" or "2001:db8::/32"`, s)
			continue
		}
		out = append(out, unmapPrefix(p))
	}
	return out
}

// unmapPrefix turns a block of v4-mapped IPv6 addresses (::ffff:10.0.0.0/104)
// into the IPv4 block it maps (10.0.0.0/8): clients are compared unmapped.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// sendProxyProtocol validates an upstream's proxy_protocol.
func (v *validator) sendProxyProtocol(s *string, r hcl.Range) string {
	if s == nil || *s == "" {
		return ""
	}
	v.oneOf(*s, r, "PROXY protocol version", proxyVersions)
	return *s
}

// limits validates a limits {} block.
func (v *validator) limits(b *limitsBlock) Limits {
	out := Limits{
		MaxConnsPerSource:     v.count(b.MaxConnsPerSource, b.MaxConnsPerSourceRange, "max_conns_per_source", 0, "no limit"),
		ConnRatePerSource:     v.rate(b.ConnRatePerSource, b.ConnRatePerSourceRange, "conn_rate_per_source"),
		DatagramRatePerSource: v.rate(b.DatagramRate, b.DatagramRateRange, "datagram_rate_per_source"),
		MaxSources:            DefaultMaxSources,
	}
	if b.MaxSources != nil {
		out.MaxSources = *b.MaxSources
		if out.MaxSources < 1 {
			v.errorf(b.MaxSourcesRange, "Invalid max_sources", "%d is below 1: the limits need a table to count in", out.MaxSources)
		}
	}
	return out
}

// rate is an optional non-negative rate a second; 0 means no limit.
func (v *validator) rate(r *float64, at hcl.Range, what string) float64 {
	if r == nil {
		return 0
	}
	if *r < 0 {
		v.errorf(at, "Invalid "+what, "%g is negative; use 0 for no limit", *r)
	}
	return *r
}
