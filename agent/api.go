package agent

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/pinlb/pinlb/config"
)

// apiServer is the running HTTP API.
type apiServer struct {
	cfg config.API
	ln  net.Listener
	srv *http.Server
}

// startAPI binds cfg.Address and serves h on it, over TLS when cfg says so.
func startAPI(cfg config.API, h http.Handler) (*apiServer, error) {
	var tlsCfg *tls.Config
	if t := cfg.TLS; t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("api: tls: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if t.ClientCAFile != "" {
			pem, err := os.ReadFile(t.ClientCAFile)
			if err != nil {
				return nil, fmt.Errorf("api: tls: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("api: tls: %s holds no PEM certificate", t.ClientCAFile)
			}
			tlsCfg.ClientCAs, tlsCfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
	}
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("api: %w (set api { address }, or api { enabled = false } to run without it)", err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s := &apiServer{cfg: cfg, ln: ln, srv: &http.Server{
		Handler:           guard(h, ln.Addr()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *apiServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// sameSocket reports whether next can keep this server's socket: only the
// token and pprof may differ, and those are read per request.
func (s *apiServer) sameSocket(next config.API) bool {
	return next.Enabled && next.Address == s.cfg.Address && next.TLS == s.cfg.TLS
}

// APIAddr returns the API's bound address, or nil when it is off.
func (a *Agent) APIAddr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.api == nil {
		return nil
	}
	return a.api.ln.Addr()
}

// setAPI moves the API to cfg: the same socket when only the token or pprof
// change, else a new one bound before the old one closes (or after, when
// it is the same address). a.mu is held.
func (a *Agent) setAPI(cfg config.API) error {
	a.apiCfg.Store(&cfg)
	old := a.api
	if old != nil && old.sameSocket(cfg) {
		return nil
	}
	if old != nil && (!cfg.Enabled || old.cfg.Address == cfg.Address) {
		old.stop()
		a.api, old = nil, nil
	}
	if cfg.Enabled {
		s, err := startAPI(cfg, a.handler())
		if err != nil {
			return err
		}
		a.api = s
		scheme := "http"
		if cfg.TLS.CertFile != "" {
			scheme = "https"
		}
		a.logger.Info("api ready", "address", scheme+"://"+s.ln.Addr().String(), "ui", scheme+"://"+s.ln.Addr().String()+"/ui/",
			"token", cfg.Token != "", "pprof", cfg.EnablePprof)
	}
	if old != nil {
		old.stop()
	}
	return nil
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, apiError{Error: fmt.Sprintf(format, args...)})
}

// endpoint wraps an API handler: the method it takes and the query
// parameters it knows; anything else is a 4xx with a JSON error.
func endpoint(method string, params []string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, "%s takes %s, not %s", r.URL.Path, method, r.Method)
			return
		}
		for k := range r.URL.Query() {
			known := false
			for _, p := range params {
				known = known || k == p
			}
			if !known {
				writeError(w, http.StatusBadRequest, "unknown query parameter %q for %s", k, r.URL.Path)
				return
			}
		}
		h(w, r)
	}
}

// handler is the API: /v1/..., /ui/, and /debug/pprof/ when enabled.
func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/status", endpoint(http.MethodGet, nil, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.Status())
	}))
	mux.HandleFunc("/v1/listeners", endpoint(http.MethodGet, nil, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.Listeners())
	}))
	mux.HandleFunc("/v1/listeners/{name}", endpoint(http.MethodGet, nil, func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		ls, ok := a.Listener(name)
		if !ok {
			writeError(w, http.StatusNotFound, "no listener named %q", name)
			return
		}
		writeJSON(w, http.StatusOK, ls)
	}))
	mux.HandleFunc("/v1/metrics", endpoint(http.MethodGet, []string{"format"}, a.serveMetrics))
	mux.HandleFunc("/v1/reload", endpoint(http.MethodPost, nil, func(w http.ResponseWriter, r *http.Request) {
		a.logger.Info("reloading configuration", "requested_by", "api", "remote", r.RemoteAddr)
		if err := a.ReloadConfig(); err != nil {
			writeError(w, http.StatusBadRequest, "%s", err)
			return
		}
		writeJSON(w, http.StatusOK, a.Status())
	}))
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no API endpoint %s; see /v1/status, /v1/listeners, /v1/metrics, /v1/reload", r.URL.Path)
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
func (a *Agent) pprof(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.apiCfg.Load().EnablePprof {
			writeError(w, http.StatusNotFound, "profiling is off; set api { enable_pprof = true }")
			return
		}
		h(w, r)
	}
}

// authorize checks the API token, when one is set, on everything but the
// dashboard's static files (the page asks for the token and sends it).
func (a *Agent) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := a.apiCfg.Load().Token
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

func (a *Agent) serveMetrics(w http.ResponseWriter, r *http.Request) {
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
