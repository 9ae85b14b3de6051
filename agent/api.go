package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
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
		MaxHeaderBytes:    maxHeaderBytes,
	}}
	go s.srv.Serve(ln)
	return s, nil
}

// stop lets requests in progress finish, for 2 s at most, then closes
// every connection left: Shutdown leaves a connection on which no request
// came yet (Go's client dials one ahead) for 5 s, and a long-poll for its
// wait.
func (s *apiServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
	s.srv.Close()
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
		s, err := startAPI(cfg, a.routes().handler())
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

// maxHeaderBytes bounds a request's line and headers: the API's longest
// honest request is a few hundred bytes, and Go's default (1 MiB) let each
// request hold megabytes.
const maxHeaderBytes = 16 << 10

// maxQuoted bounds what an error quotes back of the request.
const maxQuoted = 128

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > maxQuoted {
			args[i] = fmt.Sprintf("%s… (%d bytes)", s[:maxQuoted], len(s))
		}
	}
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
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil { // too many parameters, or a malformed one: the rest would go unchecked
			writeError(w, http.StatusBadRequest, "the query cannot be read: %s", err.Error())
			return
		}
		for k := range q {
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
