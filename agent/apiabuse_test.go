package agent

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pinlb/pinlb/config"
	"github.com/shoenig/test/must"
)

// What a hostile or broken client can make the API hold and send back is
// bounded (issue 32, item 6): a huge request line (a 1 MiB query, 262,144
// parameters) is refused by the server before any handler, an error quotes
// at most a little of the request, and a query Go cannot read whole is
// refused, not half-checked.
func TestAPI_AbuseIsBounded(t *testing.T) {
	ag := startConfig(t, &config.Config{API: config.API{Enabled: true, Address: "127.0.0.1:0"}}, testWriter{t})
	base := "http://" + ag.APIAddr().String()
	for _, tc := range []struct {
		name, query string
		code        int
		body        string
	}{
		{"a 1 MiB query", "x=" + strings.Repeat("y", 1<<20), http.StatusRequestHeaderFieldsTooLarge, ""},
		{"a 10 KiB unknown parameter", strings.Repeat("z", 10<<10) + "=1", http.StatusBadRequest, "(10240 bytes)"},
		{"262,144 parameters", strings.Repeat("a&", 1<<18), http.StatusRequestHeaderFieldsTooLarge, ""},
		{"a malformed escape, and an unknown parameter", "%zz=1&bogus=1", http.StatusBadRequest, "the query cannot be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(base + "/v1/status?" + tc.query)
			must.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			must.Eq(t, tc.code, resp.StatusCode)
			must.Less(t, 1024, len(body), must.Sprintf("an error body of %d bytes", len(body)))
			must.StrContains(t, string(body), tc.body)
		})
	}
}
