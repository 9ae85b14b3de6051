//go:build linux

package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/pinlb/pinlb/config"
)

// Pinlb is a pinlb agent on a host, with its host's Consul agent: the
// built-in -dev listeners on the host's address, registered in Consul
// (register_self) so that Pinpoint agents find it by DNS.
type Pinlb struct {
	*Proc
	Host *Host
}

// PinlbOptions adjust every pinlb of a bed.
type PinlbOptions struct {
	Bin         string
	Consistency string // consul { consistency }; empty: the default
	// Extra is HCL appended to the configuration.
	Extra string
}

// fleetHCL is what a fleet host adds to the -dev listeners. Its
// leave_wait is 1 s, not 5: the tests stop hosts when they end, and a
// kill stands for a host lost.
func fleetHCL(h *Host, o PinlbOptions) string {
	consistency := ""
	if o.Consistency != "" {
		consistency = fmt.Sprintf("consistency = %q", o.Consistency)
	}
	return fmt.Sprintf(`
consul {
  address = "127.0.0.1:8500"
  %s
}
register_self {
  id         = "pinlb-%s"
  address    = "%s"
  ttl        = "3s"
  leave_wait = "1s"
}
%s
`, consistency, h.Name, h.IP, o.Extra)
}

// StartPinlb starts pinlb on h, its files in dir.
func StartPinlb(h *Host, dir string, o PinlbOptions) (*Pinlb, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	listeners := bytes.ReplaceAll(config.Dev().Data, []byte(`"127.0.0.1:`), []byte(`"`+h.IP.String()+`:`))
	files := map[string][]byte{"listeners.hcl": listeners, "fleet.hcl": []byte(fleetHCL(h, o))}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	p := &Pinlb{Host: h, Proc: newProc(h, o.Bin, "agent", "-config-dir="+dir)}
	return p, p.Start()
}

// API reads one of the agent's API paths into v.
func (p *Pinlb) API(path string, v any) error {
	hc := &http.Client{Transport: &http.Transport{DialContext: p.Host.Dial, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := hc.Get("http://127.0.0.1:9700" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Listener is the part of the API's listener view the bed reads.
type Listener struct {
	Name      string `json:"name"`
	Endpoints []struct {
		Address   string    `json:"address"`
		ServiceID string    `json:"service_id"`
		State     string    `json:"state"`
		Since     time.Time `json:"since"`
		Active    int64     `json:"active"`
	} `json:"endpoints"`
	Counters map[string]uint64 `json:"counters"`
}

// Listener reads one listener.
func (p *Pinlb) Listener(name string) (Listener, error) {
	var l Listener
	return l, p.API("/v1/listeners/"+name, &l)
}

// WaitReady waits until the API answers.
func (p *Pinlb) WaitReady(ctx context.Context) error {
	return Until(ctx, 100*time.Millisecond, func() error {
		if !p.Running() {
			return fmt.Errorf("pinlb exited: %s", p.Log())
		}
		var v any
		return p.API("/v1/status", &v)
	})
}
