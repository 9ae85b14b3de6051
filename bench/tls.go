package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// tlsFiles are the certificate the TLS listeners of every target serve,
// self-signed for 127.0.0.1, and the client side that trusts it.
type tlsFiles struct {
	cert, key, both string // PEM files; both is HAProxy's crt: certificate, then key
	client          *tls.Config
}

// The cipher suite and key exchange every target is held to, so that the
// rows compare proxies, not algorithms: OpenSSL would pick AES-256 and Go
// a post-quantum hybrid by default.
const (
	tlsSuite    = "TLS_AES_128_GCM_SHA256"
	tlsGroupSSL = "X25519"
)

// writeTLSFiles makes a P-256 certificate for 127.0.0.1 in dir.
func writeTLSFiles(dir string) (*tlsFiles, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pinlb bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	f := &tlsFiles{cert: filepath.Join(dir, "tls-cert.pem"), key: filepath.Join(dir, "tls-key.pem"), both: filepath.Join(dir, "tls-both.pem")}
	for path, b := range map[string][]byte{f.cert: certPEM, f.key: keyPEM, f.both: append(certPEM, keyPEM...)} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, err
		}
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	// No session cache: every connection is a full handshake, on every
	// target alike.
	f.client = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519}}
	return f, nil
}
