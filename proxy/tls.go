//go:build linux

package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A listener that terminates TLS takes each connection off its reactor once
// it is admitted (tcp_flow_open.go): a goroutine of its own waits on the
// client's handshake, connects, and a goroutine pair copies through
// crypto/tls, which cannot splice. The relay is the connection's driver.

// tlsRelay is the TLS driver of one connection.
type tlsRelay struct {
	client, upstream *net.TCPConn
	tls              *tls.Conn
	wire             *wireConn
}

// wireConn is a client socket as crypto/tls sees it, counting what crosses
// it, TLS records included: the byte counters of a TLS connection, open or
// ended, as a flow's are for a plain one.
type wireConn struct {
	*net.TCPConn
	in, out atomic.Uint64
}

func (w *wireConn) Read(b []byte) (int, error) {
	n, err := w.TCPConn.Read(b)
	w.in.Add(uint64(n))
	return n, err
}

func (w *wireConn) Write(b []byte) (int, error) {
	n, err := w.TCPConn.Write(b)
	w.out.Add(uint64(n))
	return n, err
}

// serveTLS carries an admitted connection from its handshake to its end,
// and settles it.
func (l *tcpListener) serveTLS(fd int, c *tcpConn) {
	file := os.NewFile(uintptr(fd), "")
	conn, err := net.FileConn(file)
	file.Close()
	if err != nil {
		l.stats.localErrors.Add(1)
		if n, ok := l.localLog.allow(); ok {
			l.logger.Error("cannot take an accepted connection; closing it", "error", err, "suppressed", n,
				"hint", "raise the open-file limit (ulimit -n, LimitNOFILE) or lower max_connections")
		}
		l.settle(c, outcomeLocalError, 0, 0, nil)
		return
	}
	t := &tlsRelay{client: conn.(*net.TCPConn)}
	o, err := l.relayTLS(c, t)
	if c.backend() == nil {
		t.closeBoth()
	}
	in, out := t.bytes()
	l.settle(c, o, in, out, err)
}

// relayTLS runs the handshake, the connect and the relay; o says how a
// connection that reached no backend ended.
func (l *tcpListener) relayTLS(c *tcpConn, t *tlsRelay) (o outcome, err error) {
	if err := l.handshake(c, t); err != nil {
		return outcomeTLSFailed, nil
	}
	upstream, o := l.connect(c)
	if upstream == nil {
		return o, nil
	}
	t.upstream = upstream
	c.setLifetime()
	c.drv = t
	if !l.track(c) {
		t.closeBoth()
		return outcomeShutdown, nil
	}
	if err := sendProxyHeader(upstream, c.cfg.SendProxyProtocol, c.peers); err != nil {
		t.closeBoth()
		return outcomeOK, err
	}
	var firstByte func()
	if c.cfg.Balance == LeastTime {
		firstByte = func() { c.lease.FirstByte(time.Since(c.start)) }
	}
	return outcomeOK, t.relay(firstByte)
}

// handshake terminates TLS on an admitted connection, within the
// listener's handshake timeout; a shutdown that force-closes cuts it too.
func (l *tcpListener) handshake(c *tcpConn, t *tlsRelay) error {
	cfg := &c.cfg.TLS
	t.wire = &wireConn{TCPConn: t.client}
	tc := tls.Server(t.wire, cfg.Config)
	ctx, cancel := context.WithTimeout(l.dialCtx, cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		l.stats.tlsHandshakeErrors.Add(1)
		if n, ok := l.tlsLog.allow(); ok {
			l.logger.Warn("closing a connection whose TLS handshake failed", "client", c.peers.client, "error", err, "suppressed", n)
		}
		return err
	}
	t.tls, c.peers.tls = tc, tc
	return nil
}

func (t *tlsRelay) bytes() (in, out uint64) {
	if t.wire == nil {
		return 0, 0
	}
	return t.wire.in.Load(), t.wire.out.Load()
}

// closeWrite sends a close_notify, then a FIN, so that the client's TLS
// stack sees an end and no truncation. The close_notify waits for a write
// in progress, which must not hold up the watchdog.
func (t *tlsRelay) closeWrite() { go t.closeWriteClient() }

func (t *tlsRelay) closeWriteClient() {
	t.tls.CloseWrite()
	t.client.CloseWrite()
}

func (t *tlsRelay) abort() { t.closeBoth() }

// goAway: pinlb never writes inside a TLS stream of its own making.
func (t *tlsRelay) goAway([]byte, bool) bool { return false }

func (t *tlsRelay) calls() int { return -1 }

func (t *tlsRelay) closeBoth() {
	t.client.Close()
	if t.upstream != nil {
		t.upstream.Close()
	}
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

// relay copies a TLS connection both ways, through a pooled buffer each
// way, until both directions end. A clean EOF on one side is passed on as
// a half-close and the other direction goes on; an error on either side
// aborts both.
//
// firstByte, if set, is called once the backend's first byte is ready to
// read (or the stream ended), before the copy toward the client starts.
func (t *tlsRelay) relay(firstByte func()) error {
	up := make(chan error, 1)
	go func() {
		_, err := copyBuffered(t.upstream, t.tls)
		if err != nil {
			t.closeBoth()
		} else {
			t.upstream.CloseWrite()
		}
		up <- err
	}()
	if firstByte != nil && waitReadable(t.upstream) == nil {
		firstByte()
	}
	_, err := copyBuffered(t.tls, t.upstream)
	if err != nil {
		t.closeBoth()
	} else {
		t.closeWriteClient()
	}
	upErr := <-up
	t.closeBoth()
	return firstCause(upErr, err)
}

// firstCause drops the "use of closed network connection" that one direction
// reports when the other direction's failure closed both sockets.
func firstCause(errs ...error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
	}
	return nil
}

// sendProxyHeader starts the backend's stream with the PROXY header, when
// the listener sends one.
func sendProxyHeader(upstream *net.TCPConn, version string, p peers) error {
	if version == "" {
		return nil
	}
	h, err := proxyHeader(version, p)
	if err != nil {
		return err
	}
	_, err = upstream.Write(h)
	return err
}
