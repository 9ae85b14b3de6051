package config

import (
	"net"
	"net/netip"
)

// bindsOverlap reports whether two bind addresses (host:port, already
// validated) of one protocol would collide in the kernel: the same port,
// and the same IP or a wildcard on either side ("", 0.0.0.0 or ::, which
// Go binds on every address, IPv4 and IPv6 alike).
func bindsOverlap(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb {
		return false
	}
	ia, wildA := bindIP(ha)
	ib, wildB := bindIP(hb)
	return wildA || wildB || (ia.IsValid() && ia == ib)
}

// bindIP is a bind host's IP, or wild for every address; a host that is
// no IP (an error of its own) gives an invalid one, which overlaps nothing.
func bindIP(host string) (ip netip.Addr, wild bool) {
	if host == "" {
		return netip.Addr{}, true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	return ip, ip.IsUnspecified()
}
