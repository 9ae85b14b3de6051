//go:build linux

package proxy

import (
	"errors"
	"net"
)

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
