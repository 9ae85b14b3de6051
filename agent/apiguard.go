package agent

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// guard keeps web pages in an operator's browser away from the API. A
// cross-site request that changes state (a text/plain POST to /v1/reload
// needs no CORS preflight) is refused, by Go's CrossOriginProtection on
// Sec-Fetch-Site and Origin. On an API bound to loopback, a Host that names
// another host is refused too: that is a DNS rebinding page, whose name
// resolves to 127.0.0.1, reading the topology. Consul and Nomad guard
// their loopback APIs the same way.
func guard(next http.Handler, bound net.Addr) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin %s refused: the API changes state only for same-origin requests and clients that send no Origin (pinlb reload, curl)", r.Method)
	}))
	checkHost := isLoopback(bound)
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if checkHost && !loopbackHost(r.Host) {
			writeError(w, http.StatusMisdirectedRequest, "unexpected Host %q: an API bound to loopback answers only to localhost, 127.0.0.1 and [::1] (a guard against DNS rebinding)", r.Host)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// loopbackHost reports whether a Host header names this machine's
// loopback: localhost, a name under .localhost, or a loopback IP.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
