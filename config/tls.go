package config

import (
	"crypto/tls"
	"crypto/x509"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// DefaultTLSALPN is what a TLS listener offers by ALPN: HTTP/2, which
// gRPC clients (Pinpoint's agents among them) insist on. A client that
// offers no ALPN is served all the same.
var DefaultTLSALPN = []string{"h2"}

// tlsVersions are min_version's values, with crypto/tls's constants.
var tlsVersions = map[string]uint16{
	"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13,
}

// maxPEMFile bounds what is read of a certificate, key or CA file: a
// chain of a few certificates is some kilobytes.
const maxPEMFile = 1 << 20

// Version is MinVersion as crypto/tls numbers it.
func (t TLS) Version() uint16 { return tlsVersions[t.MinVersion] }

// listenerTLS validates a listener's tls {} block and reads its files.
func (v *validator) listenerTLS(b *listenerTLSBlock) TLS {
	out := TLS{
		CertFile:         deref(b.CertFile),
		KeyFile:          deref(b.KeyFile),
		ClientCAFile:     deref(b.ClientCAFile),
		MinVersion:       DefaultTLSMinVersion,
		ALPN:             DefaultTLSALPN,
		HandshakeTimeout: v.duration(b.HandshakeTimeout, b.HandshakeTimeoutRange, DefaultTLSHandshakeTimeout, false),
	}
	if b.MinVersion != nil {
		out.MinVersion = *b.MinVersion
		v.oneOf(out.MinVersion, b.MinVersionRange, "TLS version", []string{"1.0", "1.1", "1.2", "1.3"})
	}
	if b.ALPN != nil {
		out.ALPN = *b.ALPN
	}
	if b.CertFile == nil || b.KeyFile == nil || out.CertFile == "" || out.KeyFile == "" {
		v.errorf(b.DefRange, "Incomplete TLS certificate",
			`a listener terminates TLS with a certificate and its key: set both, e.g. cert_file = "/etc/pinlb/tls/collector.pem" and key_file = "/etc/pinlb/tls/collector-key.pem"`)
	} else {
		out.Certificate = v.keyPair(b)
	}
	if out.ClientCAFile != "" {
		out.ClientCAs = v.certPool(out.ClientCAFile, b.ClientCAFileRange)
	}
	return out
}

// keyPair reads and pairs a certificate (with its chain) and its key.
func (v *validator) keyPair(b *listenerTLSBlock) *tls.Certificate {
	certPEM := v.pemFile(*b.CertFile, b.CertFileRange, "certificate")
	keyPEM := v.pemFile(*b.KeyFile, b.KeyFileRange, "key")
	if certPEM == nil || keyPEM == nil {
		return nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		v.errorf(b.CertFileRange, "Invalid TLS certificate", "%s with %s: %v", *b.CertFile, *b.KeyFile, err)
		return nil
	}
	if now := time.Now(); now.After(pair.Leaf.NotAfter) {
		v.warnf(b.CertFileRange, "Expired TLS certificate",
			"%s expired on %s: clients that verify it will refuse the handshake", *b.CertFile, pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &pair
}

// certPool reads the CAs that verify client certificates.
func (v *validator) certPool(path string, at hcl.Range) *x509.CertPool {
	pem := v.pemFile(path, at, "CA")
	if pem == nil {
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		v.errorf(at, "Invalid CA file", "%s holds no PEM certificate", path)
		return nil
	}
	return pool
}

// pemFile reads a PEM file of at most maxPEMFile bytes; nil after an error.
func (v *validator) pemFile(path string, at hcl.Range, what string) []byte {
	b, err := readLimited(path, maxPEMFile)
	switch {
	case err != nil:
		v.errorf(at, "Unreadable "+what+" file", "%v", err)
		return nil
	case len(b) > maxPEMFile:
		v.errorf(at, "Invalid "+what+" file", "%s is over %s: not PEM", path, sizeString(maxPEMFile))
		return nil
	}
	return b
}
