//go:build linux

package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// tlsFixture is a throwaway CA with a server and a client certificate.
type tlsFixture struct {
	ca  *testsupport.CA
	dir string
}

func newTLSFixture(t *testing.T) *tlsFixture {
	f := &tlsFixture{ca: testsupport.NewCA(t), dir: t.TempDir()}
	f.ca.Issue(t, f.dir, "server", x509.ExtKeyUsageServerAuth)
	f.ca.Issue(t, f.dir, "agent-1", x509.ExtKeyUsageClientAuth)
	return f
}

func (f *tlsFixture) pair(t *testing.T, name string) tls.Certificate {
	c, err := tls.LoadX509KeyPair(filepath.Join(f.dir, name+".pem"), filepath.Join(f.dir, name+"-key.pem"))
	must.NoError(t, err)
	return c
}

func (f *tlsFixture) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(f.ca.PEM)
	return p
}

// server is a listener's TLS with the named certificate; with clientCAs,
// client certificates are required.
func (f *tlsFixture) server(t *testing.T, name string, clientCAs bool) TLSConfig {
	c := &tls.Config{Certificates: []tls.Certificate{f.pair(t, name)}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}}
	if clientCAs {
		c.ClientCAs, c.ClientAuth = f.pool(), tls.RequireAndVerifyClientCert
	}
	return TLSConfig{Config: c, HandshakeTimeout: 2 * time.Second}
}

// client dials l over TLS, with the named client certificate if any.
func (f *tlsFixture) client(t *testing.T, l Listener, cert string) (*tls.Conn, error) {
	cfg := &tls.Config{RootCAs: f.pool(), ServerName: "localhost", NextProtos: []string{"h2"}}
	if cert != "" {
		cfg.Certificates = []tls.Certificate{f.pair(t, cert)}
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	tc := c.(*tls.Conn)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	return tc, nil
}

// echo writes msg and reads it back.
func echo(c io.ReadWriter, msg string) (string, error) {
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	return string(got), err
}

// A TLS client's bytes reach the backend in the clear and its answer comes
// back; a half-close passes through as close_notify and FIN; the record
// and the counters say what was negotiated and what crossed the socket.
func TestTLS_TerminatesAndRelays(t *testing.T) {
	f := newTLSFixture(t)
	b := testsupport.StartTCP(t)
	rec := &records{}
	cfg := tcpConfig()
	cfg.TLS, cfg.Recorder = f.server(t, "server", false), rec
	l := startTCP(t, cfg, b.Addr)

	c, err := f.client(t, l, "")
	must.NoError(t, err)
	must.Eq(t, "h2", c.ConnectionState().NegotiatedProtocol)
	got, err := echo(c, "hello over tls")
	must.NoError(t, err)
	must.Eq(t, "hello over tls", got)
	must.NoError(t, c.CloseWrite()) // the backend sees EOF, echoes its end
	rest, err := io.ReadAll(c)
	must.NoError(t, err)
	must.Eq(t, 0, len(rest))

	r := rec.wait(t, 1)[0]
	must.Eq(t, "ok", r.Status)
	must.NotNil(t, r.TLS)
	must.Eq(t, tls.VersionTLS13, r.TLS.Version)
	must.Greater(t, uint64(len("hello over tls")), r.BytesIn, must.Sprint("counted on the wire, TLS records included"))
	st := l.Stats()
	must.Eq(t, r.BytesIn, st.BytesIn)
	must.Eq(t, r.BytesOut, st.BytesOut)
	must.Eq(t, 0, st.TLSHandshakeErrors)
}

// The end of the backend's stream reaches a TLS client as a close_notify
// alert before the FIN: read raw, under TLS 1.2, whose alerts are not
// disguised, the last record is an alert.
func TestTLS_EndIsCloseNotify(t *testing.T) {
	f := newTLSFixture(t)
	b := testsupport.StartTCP(t)
	cfg := tcpConfig()
	cfg.TLS = f.server(t, "server", false)
	l := startTCP(t, cfg, b.Addr)

	raw := &rawRecorder{TCPConn: dial(t, l)}
	c := tls.Client(raw, &tls.Config{RootCAs: f.pool(), ServerName: "localhost", MaxVersion: tls.VersionTLS12})
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := echo(c, "hello")
	must.NoError(t, err)
	must.NoError(t, c.CloseWrite())
	_, err = io.ReadAll(c)
	must.NoError(t, err)
	must.Eq(t, recordAlert, lastRecordType(raw.read), must.Sprint("the stream ends with close_notify, not a bare FIN"))
}

const recordAlert = 21

// rawRecorder keeps every byte read from the socket.
type rawRecorder struct {
	*net.TCPConn
	read []byte
}

func (r *rawRecorder) Read(b []byte) (int, error) {
	n, err := r.TCPConn.Read(b)
	r.read = append(r.read, b[:n]...)
	return n, err
}

// lastRecordType walks TLS records (type, version, length) to the last.
func lastRecordType(b []byte) byte {
	var last byte
	for len(b) >= 5 {
		last = b[0]
		b = b[min(len(b), 5+(int(b[3])<<8|int(b[4]))):]
	}
	return last
}

// A plain client, a silent one and one without a client certificate fail
// their handshake: each is counted and recorded, and no backend is dialled.
func TestTLS_FailedHandshakesDialNothing(t *testing.T) {
	f := newTLSFixture(t)
	b := testsupport.StartTCP(t)
	rec := &records{}
	cfg := tcpConfig()
	cfg.TLS, cfg.Recorder = f.server(t, "server", true), rec
	cfg.TLS.HandshakeTimeout = 300 * time.Millisecond
	l := startTCP(t, cfg, b.Addr)

	plain := dial(t, l)
	plain.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	silent := dial(t, l)
	for _, c := range []*net.TCPConn{plain, silent} {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := io.ReadAll(c) // an alert at most, then the close
		must.NoError(t, err)
	}
	noCert, err := f.client(t, l, "")
	if err == nil { // TLS 1.3: the client learns of the refusal on its first read
		_, err = echo(noCert, "x")
	}
	must.Error(t, err)

	recs := rec.wait(t, 3)
	for _, r := range recs {
		must.Eq(t, outcomeTLSFailed.String(), r.Status)
	}
	must.Eq(t, 3, l.Stats().TLSHandshakeErrors)
	must.Eq(t, 0, b.Accepted.Load())

	withCert, err := f.client(t, l, "agent-1")
	must.NoError(t, err)
	got, err := echo(withCert, "mtls")
	must.NoError(t, err)
	must.Eq(t, "mtls", got)
	withCert.Close()
	r := rec.wait(t, 4)[3]
	must.Eq(t, "CN=agent-1", r.TLS.PeerCertificates[0].Subject.String())
}

// A new certificate applies to the connections after it; one open before
// it keeps its session and goes on.
func TestTLS_UpdateRotatesTheCertificate(t *testing.T) {
	f := newTLSFixture(t)
	f.ca.Issue(t, f.dir, "server-renewed", x509.ExtKeyUsageServerAuth)
	b := testsupport.StartTCP(t)
	cfg := tcpConfig()
	cfg.TLS = f.server(t, "server", false)
	l := startTCP(t, cfg, b.Addr)

	old, err := f.client(t, l, "")
	must.NoError(t, err)
	_, err = echo(old, "before")
	must.NoError(t, err)

	cfg.TLS = f.server(t, "server-renewed", false)
	must.NoError(t, l.Update(cfg))
	renewed, err := f.client(t, l, "")
	must.NoError(t, err)
	must.Eq(t, "server-renewed", renewed.ConnectionState().PeerCertificates[0].Subject.CommonName)

	got, err := echo(old, "after")
	must.NoError(t, err, must.Sprint("the connection open across the rotation"))
	must.Eq(t, "after", got)
	must.Eq(t, "server", old.ConnectionState().PeerCertificates[0].Subject.CommonName)
}

// A trusted balancer's PROXY header comes before the TLS handshake, and may
// share its first segment with the ClientHello.
func TestTLS_AfterAPROXYHeader(t *testing.T) {
	f := newTLSFixture(t)
	b := testsupport.StartTCP(t)
	rec := &records{}
	cfg := tcpConfig()
	cfg.TLS, cfg.Recorder = f.server(t, "server", false), rec
	cfg.ProxyProtocol = ProxyProtocolConfig{Accept: true, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: time.Second}
	l := startTCP(t, cfg, b.Addr)

	raw := dial(t, l)
	c := tls.Client(&headerFirst{TCPConn: raw, header: []byte("PROXY TCP4 192.0.2.7 192.0.2.1 4242 9991\r\n")},
		&tls.Config{RootCAs: f.pool(), ServerName: "localhost"})
	c.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := echo(c, "behind a balancer")
	must.NoError(t, err)
	must.Eq(t, "behind a balancer", got)
	c.Close()
	r := rec.wait(t, 1)[0]
	must.Eq(t, "192.0.2.7:4242", r.ProxyClient.String())
	must.NotNil(t, r.TLS)
}

// headerFirst writes a PROXY header in the same write as the first bytes.
type headerFirst struct {
	*net.TCPConn
	header []byte
}

func (h *headerFirst) Write(b []byte) (int, error) {
	if h.header != nil {
		all := append(h.header, b...)
		h.header = nil
		n, err := h.TCPConn.Write(all)
		return max(0, n-(len(all)-len(b))), err
	}
	return h.TCPConn.Write(b)
}
