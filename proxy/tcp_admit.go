//go:build linux

package proxy

import (
	"net/netip"
	"time"
)

// admit applies allow and deny and the per-source limits to a client; a
// refused one's outcome says why. src is the client's hold under the
// limits, nil without them, held until the connection ends.
func (l *tcpListener) admit(client netip.AddrPort, cfg *Config, now time.Time) (src *source, o outcome) {
	switch {
	case !cfg.Access.allows(client.Addr()):
		l.stats.denied.Add(1)
		return nil, outcomeDenied
	case cfg.Limits.on():
		src, limit := l.sources.admit(client.Addr().Unmap(), cfg.Limits, now)
		if src == nil {
			l.overLimit(client, limit)
			return nil, outcomeLimited
		}
		return src, outcomeOK
	}
	return nil, outcomeOK
}

// overLimit counts and logs, rate-limited, a connection over a per-source
// limit.
func (l *tcpListener) overLimit(client netip.AddrPort, limit string) {
	l.stats.limited.Add(1)
	if n, ok := l.limitedLog.allow(); ok {
		l.logger.Warn("closing a connection over a per-source limit", "client", client.Addr(), "limit", limit, "suppressed", n)
	}
}

// proxyHeaderFailed counts and logs, rate-limited, a connection whose
// PROXY header could not be read.
func (l *tcpListener) proxyHeaderFailed(p peers, err error) {
	l.stats.proxyHeaderErrors.Add(1)
	if n, ok := l.proxyLog.allow(); ok {
		l.logger.Warn("closing a connection from a trusted peer without a valid PROXY header",
			"peer", p.peer, "error", err, "suppressed", n)
	}
}
