package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
)

// FuzzAPI sends arbitrary requests to the API handlers, guard included:
// none may panic or fail with a 5xx of its own, and every error answer is
// the JSON error body the docs promise.
func FuzzAPI(f *testing.F) {
	a := testsupport.StartTCP(f)
	ag := New(&config.Config{
		API: config.API{Enabled: true, Address: "127.0.0.1:0"},
		Listeners: []config.Listener{{
			Name: "grpc", Protocol: "tcp", Address: "127.0.0.1:0", Balance: config.DefaultBalance,
			ConnectTimeout: config.DefaultConnectTimeout, Upstream: config.Upstream{Servers: []string{a.Addr.String()}},
		}},
	}, Options{})
	if err := ag.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ag.Shutdown(context.Background()) })
	setLoad(ag, func() (*config.Config, hcl.Diagnostics) { return ag.Config(), nil })
	h := guard(ag.routes().handler(), ag.APIAddr())

	for _, seed := range [][4]string{
		{"GET", "/v1/status", "127.0.0.1:9700", ""},
		{"GET", "/v1/listeners/grpc", "localhost", ""},
		{"GET", "/v1/metrics?format=json", "[::1]:9700", ""},
		{"POST", "/v1/reload", "127.0.0.1", "http://evil.example"},
		{"GET", "/debug/pprof/", "127.0.0.1", ""},
		{"GET", "/ui/app.js", "127.0.0.1", ""},
		{"DELETE", "/v1/listeners/%2e%2e", "evil.example", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, method, target, host, origin string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n") || strings.ContainsAny(method, " /\r\n") {
			return // not a request line an HTTP server would hand on
		}
		req, err := http.NewRequest(method, "http://127.0.0.1"+target, nil)
		if err != nil {
			return
		}
		req.Host = host
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		code := w.Code
		if code >= 500 && !(code == http.StatusServiceUnavailable && strings.HasPrefix(target, "/v1/metrics")) {
			t.Fatalf("%s %s: %d %s", method, target, code, w.Body)
		}
		if code >= 400 && strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			var body apiError
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" {
				t.Fatalf("%s %s: %d without an error body: %q", method, target, code, w.Body)
			}
		}
	})
}
