package config

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// tlsFiles writes a CA, two server certificates and a file that is no PEM.
func tlsFiles(t *testing.T) string {
	dir := t.TempDir()
	ca := testsupport.NewCA(t)
	ca.WriteCA(t, dir)
	ca.Issue(t, dir, "a", x509.ExtKeyUsageServerAuth)
	ca.Issue(t, dir, "b", x509.ExtKeyUsageServerAuth)
	must.NoError(t, os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("not pem"), 0o600))
	return dir
}

func TestLoad_TLS(t *testing.T) {
	files := tlsFiles(t)
	dir := write(t, map[string]string{"a.hcl": `
listener "grpc" {
  address = "0.0.0.0:9441"
  tls {
    cert_file      = "` + files + `/a.pem"
    key_file       = "` + files + `/a-key.pem"
    client_ca_file = "` + files + `/ca.pem"
  }
  upstream { servers = ["10.0.0.1:9991"] }
}
listener "tuned" {
  address = "0.0.0.0:9442"
  tls {
    cert_file         = "` + files + `/b.pem"
    key_file          = "` + files + `/b-key.pem"
    min_version       = "1.3"
    alpn              = []
    handshake_timeout = "2s"
  }
  upstream { servers = ["10.0.0.1:9992"] }
}
listener "plain" {
  address = "0.0.0.0:9991"
  upstream { servers = ["10.0.0.1:9991"] }
}
`})
	cfg, diags := Load([]string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	byName := map[string]TLS{}
	for _, l := range cfg.Listeners {
		byName[l.Name] = l.TLS
	}
	grpc, tuned, plain := byName["grpc"], byName["tuned"], byName["plain"]
	must.NotNil(t, grpc.Certificate)
	must.Eq(t, "a", grpc.Certificate.Leaf.Subject.CommonName)
	must.NotNil(t, grpc.ClientCAs)
	must.Eq(t, DefaultTLSMinVersion, grpc.MinVersion)
	must.Eq(t, []string{"h2"}, grpc.ALPN)
	must.Eq(t, DefaultTLSHandshakeTimeout, grpc.HandshakeTimeout)
	must.Nil(t, tuned.ClientCAs)
	must.Eq(t, "1.3", tuned.MinVersion)
	must.Eq(t, []string{}, tuned.ALPN)
	must.Eq(t, 2*time.Second, tuned.HandshakeTimeout)
	must.Nil(t, plain.Certificate)
}

func TestLoad_TLSErrors(t *testing.T) {
	files := tlsFiles(t)
	block := func(attrs string) string {
		return "listener \"x\" {\n  address = \":1\"\n  tls {\n" + attrs + "  }\n  upstream { servers = [\"1.2.3.4:5\"] }\n}\n"
	}
	for _, tc := range []struct{ name, hcl, want string }{
		{"no key", block(`    cert_file = "` + files + `/a.pem"` + "\n"),
			`a.hcl:3:3: Incomplete TLS certificate; a listener terminates TLS with a certificate and its key`},
		{"missing file", block(`    cert_file = "` + files + `/none.pem"` + "\n" + `    key_file = "` + files + `/a-key.pem"` + "\n"),
			`a.hcl:4:17: Unreadable certificate file; open FILES/none.pem: no such file or directory`},
		{"key of another", block(`    cert_file = "` + files + `/a.pem"` + "\n" + `    key_file = "` + files + `/b-key.pem"` + "\n"),
			`a.hcl:4:17: Invalid TLS certificate; FILES/a.pem with FILES/b-key.pem: tls: private key does not match public key`},
		{"CA without PEM", block(`    cert_file = "` + files + `/a.pem"` + "\n" + `    key_file = "` + files + `/a-key.pem"` + "\n" +
			`    client_ca_file = "` + files + `/junk.pem"` + "\n"),
			`a.hcl:6:22: Invalid CA file; FILES/junk.pem holds no PEM certificate`},
		{"bad version", block(`    cert_file = "` + files + `/a.pem"` + "\n" + `    key_file = "` + files + `/a-key.pem"` + "\n" +
			`    min_version = "TLSv1.2"` + "\n"),
			`a.hcl:6:19: Invalid TLS version; "TLSv1.2" is not a TLS version; use one of: 1.0, 1.1, 1.2, 1.3`},
		{"UDP", `listener "x" {
  protocol = "udp"
  address  = ":1"
  tls {}
  upstream { servers = ["1.2.3.4:5"] }
}`, `a.hcl:4:3: Unexpected tls; listener "x" has protocol "udp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, map[string]string{"a.hcl": tc.hcl})
			_, diags := Load([]string{filepath.Join(dir, "a.hcl")})
			got := strings.ReplaceAll(FormatDiagnostics(diags), dir+"/", "")
			got = strings.ReplaceAll(got, files, "FILES")
			must.StrContains(t, got, tc.want)
		})
	}
}
