package proxy

import "net/netip"

// statusDenied ends a connection from a client that allow or deny refuses.
const statusDenied = "denied"

// AccessConfig says which client addresses a listener serves: none in
// Deny, and, when Allow is set, only those in it. Deny wins.
type AccessConfig struct {
	Allow []netip.Prefix
	Deny  []netip.Prefix
}

// allows reports whether the listener serves addr. The lists are short
// and scanned in place: no lock, no allocation.
func (a *AccessConfig) allows(addr netip.Addr) bool {
	return !inAny(a.Deny, addr) && (len(a.Allow) == 0 || inAny(a.Allow, addr))
}

// inAny reports whether one of ps holds addr, unmapped.
func inAny(ps []netip.Prefix, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range ps {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
