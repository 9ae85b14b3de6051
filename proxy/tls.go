//go:build linux

package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// statusTLSFailed ends a connection whose TLS handshake failed: a plain
// client, a missing or unverified client certificate, no common version, a
// timeout.
const statusTLSFailed = "tls_handshake_failed"

// wireConn is a client socket as crypto/tls sees it. It hands over first
// the bytes that a PROXY header's reader took past the header, and counts
// what crosses the socket, TLS records included: the byte counters of a TLS
// connection, open or ended, as TCP_INFO gives them for a plain one.
type wireConn struct {
	*net.TCPConn
	early   []byte
	in, out atomic.Uint64
}

func (w *wireConn) Read(b []byte) (int, error) {
	if len(w.early) > 0 {
		n := copy(b, w.early)
		w.early = w.early[n:]
		w.in.Add(uint64(n))
		return n, nil
	}
	n, err := w.TCPConn.Read(b)
	w.in.Add(uint64(n))
	return n, err
}

func (w *wireConn) Write(b []byte) (int, error) {
	n, err := w.TCPConn.Write(b)
	w.out.Add(uint64(n))
	return n, err
}

// handshake terminates TLS on an admitted connection, within the
// listener's handshake timeout; a shutdown that force-closes cuts it too.
func (l *tcpListener) handshake(c *tcpConn, p *peers, cfg *TLSConfig) error {
	w := &wireConn{TCPConn: c.client, early: p.early}
	p.early = nil
	tc := tls.Server(w, cfg.Config)
	ctx, cancel := context.WithTimeout(l.dialCtx, cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		l.stats.tlsHandshakeErrors.Add(1)
		if n, ok := l.tlsLog.allow(); ok {
			l.logger.Warn("closing a connection whose TLS handshake failed", "client", p.client, "error", err, "suppressed", n)
		}
		return err
	}
	c.tls, c.wire, p.tls = tc, w, tc
	return nil
}

// copyBuffers are the buffers of TLS connections' copies, a TLS record
// each: a TLS stream cannot splice.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// copyBuffered copies src to dst through a pooled buffer. Both are hidden
// behind bare interfaces, or io.CopyBuffer would take a TCP socket's
// ReadFrom or WriteTo, which allocate a buffer of their own.
func copyBuffered(dst io.Writer, src io.Reader) (int64, error) {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *buf)
}
