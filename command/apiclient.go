package command

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/pinlb/pinlb/config"
)

// Environment variables the API commands read, as the Consul CLI reads its
// CONSUL_* ones. Flags override them.
const (
	envHTTPAddr      = "PINLB_HTTP_ADDR"
	envHTTPToken     = "PINLB_HTTP_TOKEN"
	envHTTPTokenFile = "PINLB_HTTP_TOKEN_FILE"
	envCACert        = "PINLB_CACERT"
	envClientCert    = "PINLB_CLIENT_CERT"
	envClientKey     = "PINLB_CLIENT_KEY"
	envTLSServerName = "PINLB_TLS_SERVER_NAME"
)

// apiFlags are the options every command that talks to the agent's API
// takes.
type apiFlags struct {
	address, token, tokenFile, caFile, certFile, keyFile, serverName string
}

func (f *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.address, "address", os.Getenv(envHTTPAddr), "")
	fs.StringVar(&f.token, "token", os.Getenv(envHTTPToken), "")
	fs.StringVar(&f.tokenFile, "token-file", os.Getenv(envHTTPTokenFile), "")
	fs.StringVar(&f.caFile, "ca-file", os.Getenv(envCACert), "")
	fs.StringVar(&f.certFile, "client-cert", os.Getenv(envClientCert), "")
	fs.StringVar(&f.keyFile, "client-key", os.Getenv(envClientKey), "")
	fs.StringVar(&f.serverName, "tls-server-name", os.Getenv(envTLSServerName), "")
}

// apiHelp documents apiFlags.
const apiHelp = `
API options:

  -address=<addr>
     The agent's API: host:port, or a URL with http:// or https://.
     Default: $` + envHTTPAddr + `, then ` + config.DefaultAPIAddress + `.

  -token=<token>
     The API token (api { token }). Default: $` + envHTTPToken + `.

  -token-file=<path>
     A file holding the token. Default: $` + envHTTPTokenFile + `.

  -ca-file=<path>
     The CA that signed the API's certificate; implies https.
     Default: $` + envCACert + `.

  -client-cert=<path>, -client-key=<path>
     A client certificate, when the API requires one (api { tls {
     client_ca_file } }); implies https. Default: $` + envClientCert + `,
     $` + envClientKey + `.

  -tls-server-name=<name>
     The name to check the API's certificate against.
     Default: $` + envTLSServerName + `.`

// apiClient calls the agent's API.
type apiClient struct {
	base  string // scheme://host:port
	token string
	http  *http.Client
}

func (f *apiFlags) client() (*apiClient, error) {
	addr := f.address
	if addr == "" {
		addr = config.DefaultAPIAddress
	}
	tlsOn := f.caFile != "" || f.certFile != ""
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	if s, rest, ok := strings.Cut(addr, "://"); ok {
		scheme, addr = s, rest
	}
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("-address: unknown scheme %q; use http:// or https://", scheme)
	}
	c := &apiClient{base: scheme + "://" + strings.TrimRight(addr, "/"), token: f.token}
	if f.tokenFile != "" && c.token == "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("-token-file: %w", err)
		}
		c.token = strings.TrimSpace(string(b))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if scheme == "https" {
		tc := &tls.Config{ServerName: f.serverName, MinVersion: tls.VersionTLS12}
		if f.caFile != "" {
			pem, err := os.ReadFile(f.caFile)
			if err != nil {
				return nil, fmt.Errorf("-ca-file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("-ca-file: %s holds no PEM certificate", f.caFile)
			}
		}
		if f.certFile != "" || f.keyFile != "" {
			cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
			if err != nil {
				return nil, fmt.Errorf("-client-cert/-client-key: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		tr.TLSClientConfig = tc
	}
	c.http = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return c, nil
}

// call sends a request and decodes a 2xx JSON answer into out; other
// answers become an error carrying the API's message.
func (c *apiClient) call(method, path string, out any) error {
	_, err := c.do(context.Background(), method, path, out)
	return err
}

// do is call with a context, returning the answer's header too.
func (c *apiClient) do(ctx context.Context, method, path string, out any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the pinlb API at %s (is the agent running? see -address or $%s): %w", c.base, envHTTPAddr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", c.base+path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)
		}
		return nil, fmt.Errorf("%s answered HTTP %d", c.base+path, resp.StatusCode)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return nil, fmt.Errorf("the answer of %s is not what this pinlb expects: %w", c.base+path, err)
	}
	return resp.Header, nil
}
