// Package pool is one listener's endpoints and how they are chosen: the
// balancers, passive health, slow start, the drain of an endpoint that
// left, its status and its events. It knows no socket: the proxy's TCP
// flows, its TLS relays and its UDP sessions hold it only through what it
// exports, so each counter here has one writer, and the whole is tested
// without a connection.
//
// Typical use, for one TCP connection (as nginx's peer get and free):
//
//	p := pool.New()
//	p.Configure(pool.Rules{Balance: pool.RoundRobin, Tries: 2, ConnectTimeout: time.Second})
//	p.Update([]pool.Endpoint{{Addr: a}, {Addr: b}})
//	var l pool.Lease
//	p.Lease(&l, client)
//	for addr, timeout, ok := l.Next(); ok; addr, timeout, ok = l.Next() {
//		if err := dial(addr, timeout); err == nil {
//			l.Connected()
//			break
//		}
//		l.Failed(err, true)
//	}
//	...
//	l.Release(bytesIn, bytesOut)
//
// A pool's endpoint set is immutable behind an atomic pointer; Update
// swaps the whole set, so a choice never takes a lock. A backend's state
// (its counters, passive health, slow start) stays with its ID across
// updates.
package pool
