package agent

import (
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/config"
)

// apiRoutes are the API's handlers. They read the agent through its view
// and change it only through the one reload path.
type apiRoutes struct {
	view   view
	reload func() error
	cfg    *atomic.Pointer[config.API] // read by every request: a reload may change it
	tel    *telemetry
	events *eventLog
	logger hclog.Logger
}

// routes are the API of a.
func (a *Agent) routes() *apiRoutes {
	return &apiRoutes{view: a, reload: a.ReloadConfig, cfg: &a.apiCfg, tel: a.tel, events: a.events, logger: a.logger}
}

// handler is the API: /v1/..., /ui/, and /debug/pprof/ when enabled.
func (a *apiRoutes) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/status", endpoint(http.MethodGet, nil, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.view.Status())
	}))
	mux.HandleFunc("/v1/listeners", endpoint(http.MethodGet, nil, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.view.Listeners())
	}))
	mux.HandleFunc("/v1/listeners/{name}", endpoint(http.MethodGet, nil, func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		ls, ok := a.view.Listener(name)
		if !ok {
			writeError(w, http.StatusNotFound, "no listener named %q", name)
			return
		}
		writeJSON(w, http.StatusOK, ls)
	}))
	mux.HandleFunc("/v1/metrics", endpoint(http.MethodGet, []string{"format"}, a.serveMetrics))
	mux.HandleFunc("/v1/events", endpoint(http.MethodGet, []string{"since", "listener", "index", "wait"}, a.serveEvents))
	mux.HandleFunc("/v1/history", endpoint(http.MethodGet, []string{"since"}, a.serveHistory))
	mux.HandleFunc("/v1/reload", endpoint(http.MethodPost, nil, func(w http.ResponseWriter, r *http.Request) {
		a.logger.Info("reloading configuration", "requested_by", "api", "remote", r.RemoteAddr)
		if err := a.reload(); err != nil {
			writeError(w, http.StatusBadRequest, "%s", err)
			return
		}
		writeJSON(w, http.StatusOK, a.view.Status())
	}))
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no API endpoint %s; see /v1/status, /v1/listeners, /v1/metrics, /v1/events, /v1/history, /v1/reload", r.URL.Path)
	})
	mux.HandleFunc("/debug/pprof/", a.pprof(pprof.Index))
	mux.HandleFunc("/debug/pprof/cmdline", a.pprof(pprof.Cmdline))
	mux.HandleFunc("/debug/pprof/profile", a.pprof(pprof.Profile))
	mux.HandleFunc("/debug/pprof/symbol", a.pprof(pprof.Symbol))
	mux.HandleFunc("/debug/pprof/trace", a.pprof(pprof.Trace))
	mux.Handle("/ui/", uiHandler())
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "nothing at %s; the API is under /v1/ and the dashboard at /ui/", r.URL.Path)
	})
	return a.authorize(mux)
}

// pprof serves h only when api { enable_pprof = true }.
func (a *apiRoutes) pprof(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.cfg.Load().EnablePprof {
			writeError(w, http.StatusNotFound, "profiling is off; set api { enable_pprof = true }")
			return
		}
		h(w, r)
	}
}

// authorize checks the API token, when one is set, on everything but the
// dashboard's static files (the page asks for the token and sends it).
func (a *apiRoutes) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := a.cfg.Load().Token
		if token == "" || strings.HasPrefix(r.URL.Path, "/ui/") || r.URL.Path == "/" {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			got = r.Header.Get("X-Pinlb-Token")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			writeError(w, http.StatusUnauthorized, "missing or wrong API token: send Authorization: Bearer TOKEN (pinlb commands read $PINLB_HTTP_TOKEN)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *apiRoutes) serveMetrics(w http.ResponseWriter, r *http.Request) {
	tel := a.tel
	switch f := r.URL.Query().Get("format"); f {
	case "", "prometheus":
		if tel.prom == nil {
			writeError(w, http.StatusNotFound, "prometheus output is off (telemetry { prometheus_retention_time = \"0\" }); use ?format=json")
			return
		}
		tel.prom.ServeHTTP(w, r)
	case "json":
		summary, err := tel.inm.DisplayMetrics(w, r)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "%s", err)
			return
		}
		writeJSON(w, http.StatusOK, summary)
	default:
		writeError(w, http.StatusBadRequest, "unknown format %q; use prometheus (the default) or json", f)
	}
}
