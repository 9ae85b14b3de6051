package discovery

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/consul/api"
)

// ClientConfig says how to reach Consul. Empty fields take the Consul CLI's
// defaults: every CONSUL_* environment variable (address with http, https
// or unix scheme, token and token file, TLS files, namespace, partition).
type ClientConfig struct {
	Address    string
	Datacenter string
	// Token, when empty, is CONSUL_HTTP_TOKEN's, else what
	// CONSUL_HTTP_TOKEN_FILE holds, read when the client is built, so that
	// a reload sees a rotated file.
	Token string
	// TLS files and the server name to verify; any of them switches the
	// scheme to https (except on a unix socket).
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string
	// Consistency is how watches read; the zero value is ReadLeader.
	Consistency Consistency
}

// Consistency is a read mode of the health queries: who answers them, and
// so how fresh they are and which servers carry them.
type Consistency string

const (
	// ReadLeader forwards every query to the leader (Consul's default
	// consistency) and sorts by distance from the local agent, which also
	// keeps it off the agent's streaming backend.
	ReadLeader Consistency = "leader"
	// ReadStale lets the server the agent talks to answer from its own
	// state, leader or not: reads spread over the servers and go on
	// without a leader. A follower learns of a commit at the leader's next
	// heartbeat, so its answers come tens of milliseconds later.
	ReadStale Consistency = "stale"
	// ReadStreaming has the local agent answer from its materialized view,
	// fed by one subscription per service to a server (or from its cache
	// where use_streaming_backend is off).
	ReadStreaming Consistency = "streaming"
)

// Client is a Consul API client, shared by the watches of one
// configuration and used to register instances.
type Client struct {
	api   *api.Client
	conf  *api.Config // as api.NewClient resolved it: scheme, address, HTTP client
	cfg   ClientConfig
	token string // as sent, after the environment was consulted
}

// NewClient builds a client for cfg. It does no I/O beyond reading the
// token and TLS files.
func NewClient(cfg ClientConfig) (*Client, error) {
	token, err := resolveToken(cfg.Token)
	if err != nil {
		return nil, err
	}
	conf := apiConfig(cfg, token)
	c, err := api.NewClient(conf)
	if err != nil {
		return nil, err
	}
	return &Client{api: c, conf: conf, cfg: cfg, token: token}, nil
}

// Same reports whether c and o were built from the same settings and send
// the same token: a reload that changes neither keeps the client.
func (c *Client) Same(o *Client) bool {
	return c != nil && o != nil && c.cfg == o.cfg && c.token == o.token
}

// Address is what the logs say the client talks to: never the token.
func (c *Client) Address() string { return apiConfig(c.cfg, "").Address }

// Anonymous reports whether the client sends no token.
func (c *Client) Anonymous() bool { return c.token == "" }

func resolveToken(token string) (string, error) {
	if token != "" {
		return token, nil
	}
	env := api.DefaultConfig()
	if env.Token != "" || env.TokenFile == "" {
		return env.Token, nil
	}
	b, err := readTokenFile(env.TokenFile)
	if err != nil {
		return "", fmt.Errorf("CONSUL_HTTP_TOKEN_FILE: %w", err)
	}
	return b, nil
}

// readTokenFile reads a token file of 64 KiB at most: a token is a UUID, and
// a path such as /dev/zero must not be read for ever.
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	const limit = 64 << 10
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return "", err
	}
	if len(b) > limit {
		return "", fmt.Errorf("%s: over 64 KiB, not a token", path)
	}
	return strings.TrimSpace(string(b)), nil
}

// apiConfig is the environment's configuration with cfg over it.
func apiConfig(cfg ClientConfig, token string) *api.Config {
	c := api.DefaultConfig()
	if cfg.Address != "" {
		c.Address = cfg.Address
	}
	if cfg.Datacenter != "" {
		c.Datacenter = cfg.Datacenter
	}
	c.Token, c.TokenFile = token, ""
	// A connection per request: Go's transport silently re-sends a GET
	// whose kept-alive connection died before the answer, and would hand
	// a blocking query's old index to a Consul restarted in between,
	// which holds it for the whole wait, with no error for the watcher to
	// resynchronise on.
	c.Transport.DisableKeepAlives = true
	tls := &c.TLSConfig
	for _, s := range []struct {
		dst *string
		src string
	}{
		{&tls.CAFile, cfg.CAFile}, {&tls.CertFile, cfg.CertFile},
		{&tls.KeyFile, cfg.KeyFile}, {&tls.Address, cfg.ServerName},
	} {
		if s.src != "" {
			*s.dst = s.src
		}
	}
	if cfg.CAFile+cfg.CertFile+cfg.KeyFile+cfg.ServerName != "" && !strings.HasPrefix(c.Address, "unix://") {
		c.Scheme = "https"
	}
	return c
}
