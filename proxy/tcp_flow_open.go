//go:build linux

package proxy

import "github.com/pinlb/pinlb/proxy/reactor"

// A flow starts on the reactor the listener's acceptor handed it to: its
// PROXY header first, when its peer must send one, then its admission,
// then its connect (or, on a listener that terminates TLS, a goroutine of
// its own for the handshake).

// start takes a new flow on its reactor.
func (f *tcpFlow) start() {
	f.slot = f.r.Register(f)
	if err := f.r.Watch(f.fds[clientSide], f.slot, uint32(clientSide), reactor.Edge); err != nil {
		f.l.stats.localErrors.Add(1)
		f.end(outcomeLocalError)
		return
	}
	if pp := &f.c.cfg.ProxyProtocol; pp.Accept && pp.trusted(f.c.peers.peer.Addr()) {
		f.awaitHeader()
		return
	}
	f.admit()
}

// admit applies allow and deny and the per-source limits to the client,
// and starts the next phase of one admitted.
func (f *tcpFlow) admit() {
	c := f.c
	var o outcome
	if c.src, o = f.l.admit(c.peers.client, c.cfg, c.start); o != outcomeOK {
		f.end(o)
		return
	}
	if c.cfg.TLS.Config != nil {
		f.handOff()
		return
	}
	f.connect()
}

// handOff gives the client's socket to a TLS relay's goroutine, which
// settles the connection: the flow leaves its reactor.
func (f *tcpFlow) handOff() {
	f.phase = closed
	f.r.Unwatch(f.fds[clientSide])
	f.r.Release(f.slot)
	go f.l.serveTLS(f.fds[clientSide], f.c)
}
