package agent

import (
	"crypto/tls"

	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/proxy"
)

// serverTLS is the proxy's side of a listener's tls {}: a nil Config when
// it has none, so that the listener stays plain TCP.
func serverTLS(t config.TLS) proxy.TLSConfig {
	if t.Certificate == nil {
		return proxy.TLSConfig{}
	}
	c := &tls.Config{
		Certificates: []tls.Certificate{*t.Certificate},
		MinVersion:   t.Version(),
		NextProtos:   t.ALPN,
	}
	if t.ClientCAs != nil {
		c.ClientCAs, c.ClientAuth = t.ClientCAs, tls.RequireAndVerifyClientCert
	}
	return proxy.TLSConfig{Config: c, HandshakeTimeout: t.HandshakeTimeout}
}

// sslProtocol is nginx's $ssl_protocol: "TLSv1.3", or "" without TLS.
func sslProtocol(st *tls.ConnectionState) string {
	if st == nil {
		return ""
	}
	switch st.Version {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return tls.VersionName(st.Version)
}

// sslCipher is $ssl_cipher, by its IANA name (TLS_AES_128_GCM_SHA256), as
// Go names suites: not OpenSSL's names that nginx writes.
func sslCipher(st *tls.ConnectionState) string {
	if st == nil {
		return ""
	}
	return tls.CipherSuiteName(st.CipherSuite)
}

// sslClientSubject is $ssl_client_s_dn: the verified client certificate's
// subject, as RFC 2253 writes it (CN=agent-1,O=example), or "".
func sslClientSubject(st *tls.ConnectionState) string {
	if st == nil || len(st.PeerCertificates) == 0 {
		return ""
	}
	return st.PeerCertificates[0].Subject.String()
}

// sslServerName is $ssl_server_name: the name the client asked for by SNI.
func sslServerName(st *tls.ConnectionState) string {
	if st == nil {
		return ""
	}
	return st.ServerName
}
