package agent

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/pinlb/pinlb/config"
	"github.com/shoenig/test/must"
)

// A web page in an operator's browser must neither reload pinlb nor read
// it through a rebound name.
func TestAPI_RefusesCrossSiteAndForeignHosts(t *testing.T) {
	ag := startConfig(t, &config.Config{API: config.API{Enabled: true, Address: "127.0.0.1:0"}}, testWriter{t})
	var reloads atomic.Int64
	setLoad(ag, func() (*config.Config, hcl.Diagnostics) { reloads.Add(1); return ag.Config(), nil })
	base := "http://" + ag.APIAddr().String()

	for _, tc := range []struct {
		name, method, path string
		header             map[string]string
		code               int
	}{
		{"cross-site text/plain POST", "POST", "/v1/reload", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, 403},
		{"fetch metadata cross-site", "POST", "/v1/reload", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"rebound name", "GET", "/v1/status", map[string]string{"Host": "evil.example:9700"}, 421},
		{"rebound name, dashboard", "GET", "/ui/", map[string]string{"Host": "evil.example"}, 421},
		{"CLI", "POST", "/v1/reload", nil, 200},
		{"same origin", "POST", "/v1/reload", map[string]string{"Origin": base}, 200},
		{"localhost", "GET", "/v1/status", map[string]string{"Host": "localhost:9700"}, 200},
		{"IPv6 loopback", "GET", "/v1/status", map[string]string{"Host": "[::1]:9700"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader("x"))
			must.NoError(t, err)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if h, ok := tc.header["Host"]; ok {
				req.Host = h
			}
			resp, err := http.DefaultClient.Do(req)
			must.NoError(t, err)
			resp.Body.Close()
			must.Eq(t, tc.code, resp.StatusCode)
		})
	}
	must.Eq(t, 2, reloads.Load()) // the CLI's and the same-origin one
}
