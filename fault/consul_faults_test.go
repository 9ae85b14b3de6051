package fault

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/internal/testsupport"
)

// sidecarsPaused stops the sidecars from registering again: the minute a
// real client agent's anti-entropy may take after a rebuilt Consul.
var sidecarsPaused atomic.Bool

// sidecar keeps a collector registered with a passing TTL check, as
// `pinlb register` does: it registers the check critical (Consul's default
// for a new check), refreshes it passing, and registers again when Consul
// has lost the service.
func sidecar(t *testing.T, c *api.Client, id string, port uint16) {
	reg := &api.AgentServiceRegistration{
		ID: id, Name: "collector", Address: "127.0.0.1", Port: int(port),
		Check: &api.AgentServiceCheck{CheckID: "check:" + id, TTL: "30s", Status: api.HealthCritical},
	}
	if err := c.Agent().ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if c.Agent().UpdateTTL("check:"+id, "", api.HealthPassing) != nil && !sidecarsPaused.Load() {
				c.Agent().ServiceRegister(reg) // lost, or Consul is down: both are retried
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

// consulCluster is a Consul with two collectors behind their sidecars.
func consulCluster(t *testing.T, opts testsupport.ConsulOptions) (*testsupport.Consul, []*testsupport.TCP) {
	srv := testsupport.StartConsul(t, opts)
	bs := []*testsupport.TCP{testsupport.StartTCP(t), testsupport.StartTCP(t)}
	for i, b := range bs {
		sidecar(t, srv.Client(), fmt.Sprintf("c%d", i+1), b.Addr.Port())
	}
	return srv, bs
}

func consulListener(srv *testsupport.Consul, listen, token string) string {
	return fmt.Sprintf(`consul {
  address = %q
  token   = %q
}
listener "grpc" {
  address = %q
  upstream { service = "collector" }
}
`, srv.HTTP, token, listen)
}

// poolWatch samples a listener's active endpoints until stopped, and keeps
// the smallest and largest seen, and the most held.
type poolWatch struct {
	min, max, held atomic.Int64
	stop           func()
}

func watchPool(p *proc, name string) *poolWatch {
	w := &poolWatch{}
	w.min.Store(1 << 30)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			var l struct{ Pool struct{ Active int64 } }
			if p.get("/v1/listeners/"+name, &l) == nil {
				w.min.Store(min(w.min.Load(), l.Pool.Active))
				w.max.Store(max(w.max.Load(), l.Pool.Active))
			}
			if s, err := p.status(); err == nil && len(s.Consul.Watches) > 0 {
				w.held.Store(max(w.held.Load(), int64(s.Consul.Watches[0].HeldInstances)))
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	w.stop = func() { cancel(); wg.Wait() }
	return w
}

func waitActive(t *testing.T, p *proc, n int) {
	t.Helper()
	testsupport.WaitFor(t, fmt.Sprintf("%d active endpoints", n), func() bool { return p.listener("grpc").Pool.Active == n })
}

// underLoad starts pinlb on a Consul with two collectors, waits for its
// pool, and starts clients and a watch on the pool.
func underLoad(t *testing.T) (*testsupport.Consul, *proc, *load, *poolWatch) {
	srv, _ := consulCluster(t, testsupport.ConsulOptions{})
	listen := testsupport.FreePort(t)
	p := startPinlb(t, consulListener(srv, listen, ""), 0)
	waitActive(t, p, 2)
	return srv, p, startLoad(listen, 4, 2*time.Millisecond), watchPool(p, "grpc")
}

// consulKilled: Consul dies (SIGKILL) under load and comes back with its
// data. The pool keeps both collectors; no connection fails.
func consulKilled(t *testing.T) {
	srv, p, l, w := underLoad(t)
	srv.Kill()
	testsupport.WaitFor(t, "pinlb to see consul gone", func() bool { s, _ := p.status(); return !s.Consul.Reachable })
	time.Sleep(time.Duration(scale(1, 10)) * time.Second) // the outage: load goes on
	down := time.Now()
	srv.Restart()
	testsupport.WaitFor(t, "pinlb to see consul back", func() bool { s, _ := p.status(); return s.Consul.Reachable })
	back := time.Since(down)
	w.stop()
	ok, failed, _ := l.stop()
	figure(t, "pool size during (min-max)", fmt.Sprintf("%d-%d", w.min.Load(), w.max.Load()), w.min.Load() == 2)
	figure(t, "connections ok", ok, ok > 0)
	figure(t, "connections failed", failed, failed == 0)
	figure(t, "consul restart to reachable", back.Round(10*time.Millisecond), back < 15*time.Second)
}

// consulWiped: Consul comes back without its data; the sidecars register
// the collectors again a moment later, critical until their next refresh.
// The resync hold keeps both in the pool meanwhile, through that critical
// moment, and pinlb sees the new Consul at once, not after a wait on its
// old index.
func consulWiped(t *testing.T) {
	srv, p, l, w := underLoad(t)
	wiped := time.Now()
	sidecarsPaused.Store(true)
	srv.Wipe()
	testsupport.WaitFor(t, "pinlb to hold the collectors", func() bool {
		s, _ := p.status()
		return s.Consul.Reachable && s.Consul.Watches[0].HeldInstances == 2
	})
	seen := time.Since(wiped)
	time.Sleep(time.Duration(scale(2, 20)) * time.Second) // the catalog stays empty: load goes on
	sidecarsPaused.Store(false)
	testsupport.WaitFor(t, "the sidecars to register again", func() bool {
		s, _ := p.status()
		return s.Consul.Watches[0].HeldInstances == 0 && p.listener("grpc").Pool.Active == 2
	})
	w.stop()
	ok, failed, _ := l.stop()
	figure(t, "wipe to collectors held", seen.Round(10*time.Millisecond), seen < 15*time.Second)
	figure(t, "instances held at most", w.held.Load(), w.held.Load() == 2)
	figure(t, "pool size during (min-max)", fmt.Sprintf("%d-%d", w.min.Load(), w.max.Load()), w.min.Load() == 2)
	figure(t, "connections ok", ok, ok > 0)
	figure(t, "connections failed", failed, failed == 0)
}

// aclMatrix walks one agent through the token cases on a default-deny
// Consul, by reload: none may empty a pool that serves, and each says so.
func aclMatrix(t *testing.T) {
	srv, _ := consulCluster(t, testsupport.ConsulOptions{ACL: true})
	admin := srv.Client()
	policy, _, err := admin.ACL().PolicyCreate(&api.ACLPolicy{
		Name: "read", Rules: `service "collector" { policy = "read" } node_prefix "" { policy = "read" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reader, _, _ := admin.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: policy.ID}}}, nil)
	powerless, _, _ := admin.ACL().TokenCreate(&api.ACLToken{}, nil)
	listen := testsupport.FreePort(t)
	p := startPinlb(t, consulListener(srv, listen, ""), 0)
	watch := func() (filtered bool, reachable bool) {
		s, _ := p.status()
		return s.Consul.Watches[0].ACLFiltered, s.Consul.Watches[0].Reachable
	}
	step := func(name, token string, active int, filtered bool) {
		if token != "-" {
			p.write(consulListener(srv, listen, token))
			if code, body := p.reload(); code != 200 {
				t.Fatalf("%s: reload %d %s", name, code, body)
			}
		}
		testsupport.WaitFor(t, name, func() bool {
			f, _ := watch()
			return f == filtered && p.listener("grpc").Pool.Active == active
		})
		figure(t, name+": active, acl_filtered", fmt.Sprintf("%d, %v", active, filtered), true)
	}
	step("no token at start", "-", 0, true)
	step("token without rights", powerless.SecretID, 0, true)
	step("valid token", reader.SecretID, 2, false)
	step("token dropped on reload", "", 2, true)
	step("valid token again", reader.SecretID, 2, false)

	admin.ACL().TokenDelete(reader.AccessorID, nil)
	admin.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "c9", Name: "collector", Port: 9}) // wakes the query
	testsupport.WaitFor(t, "the revoked token's 403", func() bool { _, r := watch(); return !r })
	active := p.listener("grpc").Pool.Active
	figure(t, "revoked token: active", active, active == 2 && dialEcho(listen, 5*time.Second) == nil)
}

// snapshotRestore: Consul is restored from a snapshot that holds a
// collector deregistered since. The blocking query the restore ends early
// answers with the old index; pinlb reads again at once, and the
// collector is back in the pool within 2 s (it took a whole wait, 60 s).
func snapshotRestore(t *testing.T) {
	srv, _ := consulCluster(t, testsupport.ConsulOptions{})
	c := srv.Client()
	listen := testsupport.FreePort(t)
	p := startPinlb(t, consulListener(srv, listen, ""), 0)
	waitActive(t, p, 2)
	third := testsupport.StartTCP(t)
	extra := &api.CatalogRegistration{Node: "extra", Address: "127.0.0.1",
		Service: &api.AgentService{ID: "c3", Service: "collector", Port: int(third.Addr.Port())},
		Checks:  api.HealthChecks{{Node: "extra", CheckID: "c3:alive", ServiceID: "c3", Status: api.HealthPassing}}}
	if _, err := c.Catalog().Register(extra, nil); err != nil {
		t.Fatal(err)
	}
	waitActive(t, p, 3)
	snap, _, err := c.Snapshot().Save(nil)
	if err != nil {
		t.Fatal(err)
	}
	saved, err := io.ReadAll(snap)
	snap.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Catalog().Deregister(&api.CatalogDeregistration{Node: "extra"}, nil); err != nil {
		t.Fatal(err)
	}
	waitActive(t, p, 2)
	restored := time.Now()
	if err := c.Snapshot().Restore(nil, bytes.NewReader(saved)); err != nil {
		t.Fatal(err)
	}
	waitActive(t, p, 3)
	took := time.Since(restored)
	figure(t, "the restored collector in the pool after", took.Round(time.Millisecond), took < 2*time.Second)
}
