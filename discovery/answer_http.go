package discovery

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"
)

// healthAnswer asks Consul's health endpoint for every instance of
// service and decodes the answer as it arrives, one instance at a time.
// consul/api reads a whole answer into its decoder's buffer first, which
// grows by doubling: with 2,000 collectors, 3 MB of JSON cost 8 MB of
// buffers each time, most of pinlb's memory under a changing catalog.
// The request is the one consul/api sends (the same URL, token, basic
// auth and HTTP client), and an error status is its StatusError.
func (c *Client) healthAnswer(ctx context.Context, service string, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	req, err := c.request(ctx, "/v1/health/service/"+service, q)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.conf.HttpClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, nil, api.StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	meta, err := queryMeta(resp.Header)
	if err != nil {
		return nil, nil, err
	}
	entries, err := decodeEntries(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding consul's answer: %w", err)
	}
	return serviceEntries(entries), meta, nil
}

// request is a GET of path with q's options, as consul/api builds it.
func (c *Client) request(ctx context.Context, path string, q *api.QueryOptions) (*http.Request, error) {
	v := url.Values{}
	set := func(key, value string, on bool) {
		if on {
			v.Set(key, value)
		}
	}
	dc := cmp.Or(q.Datacenter, c.conf.Datacenter)
	set("dc", dc, dc != "")
	set("ns", c.conf.Namespace, c.conf.Namespace != "")
	set("partition", c.conf.Partition, c.conf.Partition != "")
	set("stale", "", q.AllowStale)
	set("index", strconv.FormatUint(q.WaitIndex, 10), q.WaitIndex != 0)
	set("wait", fmt.Sprintf("%dms", max(q.WaitTime.Milliseconds(), 1)), q.WaitTime > 0)
	set("near", q.Near, q.Near != "")
	set("filter", q.Filter, q.Filter != "")
	set("cached", "", q.UseCache)
	host := c.conf.Address
	if strings.HasPrefix(host, "/") { // a unix socket: the HTTP client dials it
		host = "localhost"
	}
	u := url.URL{Scheme: c.conf.Scheme, Host: host, Path: c.conf.PathPrefix + path, RawQuery: v.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if c.conf.Token != "" {
		req.Header.Set("X-Consul-Token", c.conf.Token)
	}
	if a := c.conf.HttpAuth; a != nil {
		req.SetBasicAuth(a.Username, a.Password)
	}
	return req, nil
}

// queryMeta reads what the watch uses of an answer's headers.
func queryMeta(h http.Header) (*api.QueryMeta, error) {
	var m api.QueryMeta
	if s := h.Get("X-Consul-Index"); s != "" {
		index, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("consul's X-Consul-Index %q: %w", s, err)
		}
		m.LastIndex = index
	}
	m.KnownLeader = h.Get("X-Consul-KnownLeader") == "true"
	m.ResultsFilteredByACLs = h.Get("X-Consul-Results-Filtered-By-ACLs") == "true"
	if p := h.Get("X-Consul-Default-ACL-Policy"); p == "allow" || p == "deny" {
		m.DefaultACLPolicy = p
	}
	return &m, nil
}

// decodeEntries decodes a JSON array of instances element by element, so
// that only one is buffered at a time.
func decodeEntries(r io.Reader) ([]answerEntry, error) {
	dec := json.NewDecoder(r)
	if tok, err := dec.Token(); err != nil {
		return nil, err
	} else if tok == nil { // null: no instance
		return nil, nil
	} else if tok != json.Delim('[') {
		return nil, fmt.Errorf("an array was expected, not %v", tok)
	}
	var out []answerEntry
	for dec.More() {
		out = append(out, answerEntry{})
		if err := dec.Decode(&out[len(out)-1]); err != nil {
			return nil, err
		}
	}
	_, err := dec.Token() // the closing bracket: a truncated answer is an error
	return out, err
}
