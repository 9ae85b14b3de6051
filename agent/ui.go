package agent

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
	"unicode/utf8"
)

// The dashboard: one static page that reads /v1/status, /v1/listeners,
// /v1/history and /v1/events every second. Everything it needs is embedded,
// its chart library (ui/vendor) included; it loads nothing from elsewhere.
//
//go:embed ui
var uiFiles embed.FS

func uiHandler() http.Handler {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The file server answers 500 to a name the FS refuses (invalid
		// UTF-8, say): there is no such file.
		if name := strings.TrimPrefix(r.URL.Path, "/ui/"); name != "" && (!utf8.ValidString(name) || !fs.ValidPath(strings.TrimSuffix(name, "/"))) {
			writeError(w, http.StatusNotFound, "no dashboard file %q", name)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		files.ServeHTTP(w, r)
	})
}
