package config

import "github.com/hashicorp/hcl/v2"

// tcpOnly lists the listener attributes that act on TCP connections, with
// what to use instead on a UDP listener. Accepting them there would be a
// setting that silently does nothing.
var tcpOnly = []struct {
	name string
	set  func(*listenerBlock) (bool, hcl.Range)
	hint string
}{
	{"connect_timeout", func(b *listenerBlock) (bool, hcl.Range) { return b.ConnectTimeout != nil, b.ConnectTimeoutRange },
		"a datagram is sent without connecting"},
	{"idle_timeout", func(b *listenerBlock) (bool, hcl.Range) { return b.IdleTimeout != nil, b.IdleTimeoutRange },
		"a UDP session ends after udp { session_timeout } of silence"},
	{"max_connections", func(b *listenerBlock) (bool, hcl.Range) { return b.MaxConnections != nil, b.MaxConnectionsRange },
		"cap UDP sessions with udp { max_sessions }"},
	{"drain_timeout", func(b *listenerBlock) (bool, hcl.Range) { return b.DrainTimeout != nil, b.DrainTimeoutRange },
		"UDP has no connections to drain: the next datagram goes to the current pool"},
	{"http2_goaway", func(b *listenerBlock) (bool, hcl.Range) { return b.HTTP2GoAway != nil, b.HTTP2GoAwayRange },
		"UDP has no connections to ask to move: the next datagram goes to the current pool"},
	{"grpc_end_calls", func(b *listenerBlock) (bool, hcl.Range) { return b.GRPCEndCalls != nil, b.GRPCEndCallsRange },
		"UDP has no calls to end"},
	{"buffer_size", func(b *listenerBlock) (bool, hcl.Range) { return b.BufferSize != nil, b.BufferSizeRange },
		"a UDP listener's sockets ask for an 8 MB receive buffer of their own"},
	{"on_unhealthy", func(b *listenerBlock) (bool, hcl.Range) { return b.OnUnhealthy != nil, b.OnUnhealthyRange },
		"UDP has no connections to drain or close: the next datagram goes to the current pool"},
	{"tries", func(b *listenerBlock) (bool, hcl.Range) { return b.Tries != nil, b.TriesRange },
		"a datagram is sent once: no answer says whether it arrived"},
	{"next_timeout", func(b *listenerBlock) (bool, hcl.Range) { return b.NextTimeout != nil, b.NextTimeoutRange },
		"a datagram is sent once: no answer says whether it arrived"},
	{"max_fails", func(b *listenerBlock) (bool, hcl.Range) { return b.MaxFails != nil, b.MaxFailsRange },
		"passive health counts failed connects, and UDP has none; Consul's checks gate UDP endpoints"},
	{"fail_timeout", func(b *listenerBlock) (bool, hcl.Range) { return b.FailTimeout != nil, b.FailTimeoutRange },
		"passive health counts failed connects, and UDP has none; Consul's checks gate UDP endpoints"},
	{"proxy_protocol timeout", func(b *listenerBlock) (bool, hcl.Range) {
		if b.ProxyProtocol == nil {
			return false, hcl.Range{}
		}
		return b.ProxyProtocol.Timeout != nil, b.ProxyProtocol.TimeoutRange
	}, "a datagram's PROXY header comes whole with it: there is nothing to wait for"},
	{"max_conns_per_source", func(b *listenerBlock) (bool, hcl.Range) {
		if b.Limits == nil {
			return false, hcl.Range{}
		}
		return b.Limits.MaxConnsPerSource != nil, b.Limits.MaxConnsPerSourceRange
	}, "UDP has no connections to count; bound a source with datagram_rate_per_source, and the sessions with udp { max_sessions }"},
	{"conn_rate_per_source", func(b *listenerBlock) (bool, hcl.Range) {
		if b.Limits == nil {
			return false, hcl.Range{}
		}
		return b.Limits.ConnRatePerSource != nil, b.Limits.ConnRatePerSourceRange
	}, "UDP has no connections to count; use datagram_rate_per_source"},
	{"max_sources", func(b *listenerBlock) (bool, hcl.Range) {
		if b.Limits == nil {
			return false, hcl.Range{}
		}
		return b.Limits.MaxSources != nil, b.Limits.MaxSourcesRange
	}, "a UDP listener tracks the addresses that have a session, which udp { max_sessions } bounds"},
	{"tls", func(b *listenerBlock) (bool, hcl.Range) {
		if b.TLS == nil {
			return false, hcl.Range{}
		}
		return true, b.TLS.DefRange
	}, "pinlb terminates TLS on TCP listeners only (DTLS is not supported)"},
}

// protocolRules reports the settings of a listener that its protocol or
// UDP mode would ignore.
func (v *validator) protocolRules(lb *listenerBlock, l Listener) {
	if l.Protocol != "udp" {
		if b := lb.Limits; b != nil && b.DatagramRate != nil {
			v.errorf(b.DatagramRateRange, "Unexpected datagram_rate_per_source",
				"listener %q has protocol %q, and datagram_rate_per_source counts UDP datagrams; use conn_rate_per_source", l.Name, l.Protocol)
		}
		return
	}
	for _, a := range tcpOnly {
		if set, at := a.set(lb); set {
			v.errorf(at, "Unexpected "+a.name, "listener %q has protocol \"udp\", and %s applies to TCP connections: %s", l.Name, a.name, a.hint)
		}
	}
	if l.Upstream.ProxyProtocol == "v1" {
		v.errorf(lb.Upstream.ProxyProtocolRange, "Unsupported PROXY protocol version for UDP",
			`v1 is a line of text for streams; a datagram carries a v2 header: use proxy_protocol = "v2"`)
	}
	if l.Balance == "least_time" {
		v.errorf(lb.BalanceRange, "Unsupported balance for UDP",
			"least_time measures connect and first-byte times, which UDP has not; use round_robin, random_two or hash")
	}
	if l.UDP.Mode != "packet" {
		return
	}
	if l.Balance == "least_conn" {
		v.errorf(lb.BalanceRange, "Unsupported balance in packet mode",
			`least_conn counts the sessions bound to each endpoint, and in packet mode none is bound; use round_robin or random_two (both weighted), or udp { mode = "session" }`)
	}
	if lb.MaxConns != nil {
		v.errorf(lb.MaxConnsRange, "Unexpected max_conns in packet mode",
			`max_conns caps the sessions bound to an endpoint, and in packet mode none is bound; use udp { mode = "session" } to cap them`)
	}
	if u := lb.UDP; u != nil && u.Responses != nil && *u.Responses != 0 {
		v.errorf(u.ResponsesRange, "Unexpected responses in packet mode",
			`responses ends a session after that many replies, and packet mode keeps a client on no endpoint; use udp { mode = "session" }`)
	}
}
