package command

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// A TLS listener with a throwaway CA, through the agent command: a plain
// client and one without a client certificate are refused, one with a
// certificate is served and logged with what it negotiated, and a renewed
// certificate taken by SIGHUP serves new connections while one opened
// before goes on.
func TestAgentCommand_TLSListener(t *testing.T) {
	dir := t.TempDir()
	ca := testsupport.NewCA(t)
	ca.WriteCA(t, dir)
	for _, name := range []string{"first", "renewed"} {
		ca.Issue(t, dir, name, x509.ExtKeyUsageServerAuth)
	}
	ca.Issue(t, dir, "agent-1", x509.ExtKeyUsageClientAuth)
	install := func(name string) { // what a certificate renewal does: new files at the same paths
		for _, suffix := range []string{".pem", "-key.pem"} {
			b, err := os.ReadFile(filepath.Join(dir, name+suffix))
			must.NoError(t, err)
			must.NoError(t, os.WriteFile(filepath.Join(dir, "collector"+suffix), b, 0o600))
		}
	}
	install("first")

	backend := testsupport.StartTCP(t)
	listen := testsupport.FreePort(t)
	accessLog := filepath.Join(dir, "access.log")
	path := filepath.Join(dir, "pinlb.hcl")
	must.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`api { address = "127.0.0.1:0" }
access_log {
  path   = %q
  format = "$remote_addr $status $reason $ssl_protocol $ssl_cipher $ssl_client_s_dn"
}
listener "grpc-tls" {
  address = %q
  tls {
    cert_file      = "%s/collector.pem"
    key_file       = "%s/collector-key.pem"
    client_ca_file = "%s/ca.pem"
  }
  upstream { servers = [%q] }
}
`, accessLog, listen, dir, dir, dir, backend.Addr)), 0o644))
	r := runAgent(t, "-config-file="+path)

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM)
	agentCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "agent-1.pem"), filepath.Join(dir, "agent-1-key.pem"))
	must.NoError(t, err)
	connect := func(withCert bool) (*tls.Conn, error) {
		cfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
		if withCert {
			cfg.Certificates = []tls.Certificate{agentCert}
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", listen, cfg)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Write([]byte("ping"))
		if err == nil {
			_, err = io.ReadFull(c, make([]byte, 4))
		}
		return c, err
	}

	plain, err := net.Dial("tcp", listen)
	must.NoError(t, err)
	plain.SetDeadline(time.Now().Add(5 * time.Second))
	plain.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")) // a plain gRPC client's preface
	_, err = io.ReadAll(plain)
	must.NoError(t, err, must.Sprint("a plain client is closed"))
	plain.Close()
	_, err = connect(false)
	must.Error(t, err, must.Sprint("a client certificate is required"))
	open, err := connect(true)
	must.NoError(t, err)
	must.Eq(t, "first", open.ConnectionState().PeerCertificates[0].Subject.CommonName)
	must.Eq(t, 0, backend.Accepted.Load()-1, must.Sprint("only the verified client reached the backend"))

	install("renewed")
	r.sigs <- syscall.SIGHUP
	testsupport.WaitFor(t, "new connections to get the renewed certificate", func() bool {
		c, err := connect(true)
		return err == nil && c.ConnectionState().PeerCertificates[0].Subject.CommonName == "renewed"
	})
	_, err = open.Write([]byte("pong"))
	must.NoError(t, err)
	_, err = io.ReadFull(open, make([]byte, 4))
	must.NoError(t, err, must.Sprint("the connection opened before the rotation goes on"))
	open.Close()

	ls, ok := r.agent.Listener("grpc-tls")
	must.True(t, ok)
	must.Eq(t, "CN=renewed", ls.Edge.TLS.Subject)
	must.Eq(t, 2, ls.Counters.TLSHandshakeErrors)

	testsupport.WaitFor(t, "the served connection in the access log", func() bool {
		b, _ := os.ReadFile(accessLog)
		return strings.Contains(string(b), " 200 ok TLSv1.3 TLS_")
	})
	b, err := os.ReadFile(accessLog)
	must.NoError(t, err)
	must.StrContains(t, string(b), "127.0.0.1 400 tls_handshake_failed - - -\n")
	must.StrContains(t, string(b), " CN=agent-1\n")
}
