package discovery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// watch runs a watcher for q and returns its snapshots.
func watch(t *testing.T, client *Client, q Query) (*Watcher, <-chan Snapshot) {
	t.Helper()
	return watchWith(t, WatcherInput{
		Client:   client,
		Query:    q,
		StaleTTL: time.Minute,
		Logger:   hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Debug, Output: testWriter{t}}),
	})
}

// clientOf is a watch client of srv, with its management token if any.
func clientOf(t *testing.T, srv *testsupport.Consul) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{Address: srv.HTTP, Token: srv.Token()})
	must.NoError(t, err)
	return c
}

// watchWith runs a watcher for in until the test ends, and returns its
// snapshots.
func watchWith(t *testing.T, in WatcherInput) (*Watcher, <-chan Snapshot) {
	t.Helper()
	ch := make(chan Snapshot, 100)
	in.OnChange = func(s Snapshot) { ch <- s }
	w := NewWatcher(in)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return w, ch
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// next returns the next snapshot, failing after 10s.
func next(t *testing.T, ch <-chan Snapshot) Snapshot {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot within 10s")
		return Snapshot{}
	}
}

// ids lists the instances that take traffic.
func ids(s Snapshot) []string { return idsWhere(s, Instance.Usable) }

// serviceIDs lists every instance of a snapshot, usable or not.
func serviceIDs(s Snapshot) []string { return idsWhere(s, func(Instance) bool { return true }) }

// held lists the instances the resync hold keeps.
func held(s Snapshot) []string { return idsWhere(s, func(i Instance) bool { return i.Held }) }

func idsWhere(s Snapshot, keep func(Instance) bool) []string {
	out := []string{}
	for _, i := range s.Instances {
		if keep(i) {
			out = append(out, i.ServiceID)
		}
	}
	return out
}

func health(s Snapshot, id string) string {
	for _, i := range s.Instances {
		if i.ServiceID == id {
			return i.Health
		}
	}
	return "absent"
}

// register adds an instance of svc with one TTL check, passing.
func register(t *testing.T, c *api.Client, svc, id string, port int, tags ...string) {
	t.Helper()
	must.NoError(t, c.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID:      id,
		Name:    svc,
		Port:    port,
		Address: "127.0.0.1",
		Tags:    tags,
		Meta:    map[string]string{"port_span": fmt.Sprint(port + 1)},
		Weights: &api.AgentWeights{Passing: 3, Warning: 1},
		Check:   &api.AgentServiceCheck{CheckID: "check:" + id, TTL: "10m", Status: api.HealthPassing},
	}))
}

func setCheck(t *testing.T, c *api.Client, id, status string) {
	t.Helper()
	must.NoError(t, c.Agent().UpdateTTL("check:"+id, "set by test", status))
}

func TestWatcher_HealthGating(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	w, ch := watch(t, clientOf(t, srv), Query{Service: "collector"})
	must.Eq(t, []string{}, ids(next(t, ch))) // nothing registered yet

	register(t, c, "collector", "c1", 9991, "blue")
	s := next(t, ch)
	must.Eq(t, []Instance{{
		ID: "pinlb-test/c1", Node: "pinlb-test", ServiceID: "c1", Address: "127.0.0.1", Port: 9991,
		Weight: 3, Health: Passing, Tags: []string{"blue"}, Meta: map[string]string{"port_span": "9992"},
	}}, s.Instances)
	register(t, c, "collector", "c2", 9993)
	must.Eq(t, []string{"c1", "c2"}, ids(next(t, ch)))

	setCheck(t, c, "c1", api.HealthCritical)
	s = next(t, ch)
	must.Eq(t, []string{"c2"}, ids(s))
	must.Eq(t, Critical, health(s, "c1")) // listed, so operators see why it is out
	setCheck(t, c, "c1", api.HealthPassing)
	must.Eq(t, []string{"c1", "c2"}, ids(next(t, ch)))

	must.NoError(t, c.Agent().EnableServiceMaintenance("c2", "draining for a test"))
	s = next(t, ch)
	must.Eq(t, []string{"c1"}, ids(s))
	must.Eq(t, Maintenance, health(s, "c2")) // still there, so its connections drain
	must.NoError(t, c.Agent().DisableServiceMaintenance("c2"))
	must.Eq(t, []string{"c1", "c2"}, ids(next(t, ch)))

	setCheck(t, c, "c2", api.HealthWarning) // passing only, by default
	s = next(t, ch)
	must.Eq(t, []string{"c1"}, ids(s))
	must.Eq(t, Warning, health(s, "c2"))

	// Check output churn wakes the query but changes no usable instance:
	// no snapshot. The very next snapshot is the deregistration that
	// follows, then the scale to zero, which empties the set.
	index := func() uint64 {
		_, meta, err := c.Health().Service("collector", "", false, nil)
		must.NoError(t, err)
		return meta.LastIndex
	}
	before := index()
	churned := time.Now()
	for i := range 5 {
		must.NoError(t, c.Agent().UpdateTTL("check:c1", fmt.Sprintf("output %d", i), api.HealthPassing))
	}
	// The churn reached the catalog, and the watcher has had an answer
	// since it began: had churn made snapshots, one would be queued now.
	testsupport.WaitFor(t, "the churn to reach the catalog", func() bool { return index() > before })
	testsupport.WaitFor(t, "the watcher to see the churn", func() bool { return w.Status().LastContact.After(churned) })
	must.NoError(t, c.Agent().ServiceDeregister("c1"))
	must.Eq(t, []string{"c2"}, serviceIDs(next(t, ch)))
	must.NoError(t, c.Agent().ServiceDeregister("c2"))
	must.SliceEmpty(t, next(t, ch).Instances)
	must.Eq(t, 0, len(ch))
}

// Consul unreachable for longer than stale_ttl: the watcher says its
// endpoints may be stale, keeps them, and forgets it once Consul is back.
func TestWatcher_StaleAfterTTL(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	register(t, c, "collector", "c1", 9991)
	w, ch := watchWith(t, WatcherInput{
		Client: clientOf(t, srv), Query: Query{Service: "collector"}, StaleTTL: 300 * time.Millisecond, Logger: hclog.NewNullLogger(),
	})
	must.Eq(t, []string{"c1"}, ids(next(t, ch)))

	srv.Kill()
	down := time.Now()
	testsupport.WaitFor(t, "stale", func() bool { return w.Status().Stale })
	must.GreaterEq(t, 300*time.Millisecond, time.Since(down))
	must.Eq(t, 0, len(ch)) // the endpoints stay
	srv.Restart()
	testsupport.WaitFor(t, "fresh again", func() bool { s := w.Status(); return s.Reachable && !s.Stale })
}

func TestWatcher_IncludeWarning(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	register(t, c, "collector", "c1", 9991)
	register(t, c, "collector", "c2", 9993)
	setCheck(t, c, "c2", api.HealthWarning)

	_, passing := watch(t, clientOf(t, srv), Query{Service: "collector"})
	_, warning := watch(t, clientOf(t, srv), Query{Service: "collector", IncludeWarning: true})
	must.Eq(t, []string{"c1"}, ids(next(t, passing)))
	s := next(t, warning)
	must.Eq(t, []string{"c1", "c2"}, ids(s))
	must.Eq(t, Passing, s.Instances[0].Health)
	must.Eq(t, 3, s.Instances[0].Weight)
	must.Eq(t, Warning, s.Instances[1].Health)
	must.Eq(t, 1, s.Instances[1].Weight) // Weights.Warning

	// Critical and maintenance stay out even with include_warning.
	setCheck(t, c, "c2", api.HealthCritical)
	must.Eq(t, []string{"c1"}, ids(next(t, warning)))
	must.NoError(t, c.Agent().EnableServiceMaintenance("c1", "test"))
	must.Eq(t, []string{}, ids(next(t, warning)))
}

func TestWatcher_Filter(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	register(t, c, "collector", "blue1", 9991, "blue")
	register(t, c, "collector", "green1", 9993, "green")
	_, ch := watch(t, clientOf(t, srv), Query{Service: "collector", Filter: `"blue" in Service.Tags`})
	must.Eq(t, []string{"blue1"}, ids(next(t, ch)))
	register(t, c, "collector", "blue2", 9995, "blue")
	must.Eq(t, []string{"blue1", "blue2"}, ids(next(t, ch)))

	// The filter combines with include_warning.
	setCheck(t, c, "blue2", api.HealthWarning)
	_, warn := watch(t, clientOf(t, srv), Query{Service: "collector", Filter: `"blue" in Service.Tags`, IncludeWarning: true})
	must.Eq(t, []string{"blue1", "blue2"}, ids(next(t, warn)))
}

func TestWatcher_ConsulRestart(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	register(t, c, "collector", "c1", 9991)
	w, ch := watch(t, clientOf(t, srv), Query{Service: "collector"})
	must.Eq(t, []string{"c1"}, ids(next(t, ch)))

	srv.Stop() // in the middle of a blocking query
	deadline := time.Now().Add(10 * time.Second)
	for w.Status().Reachable {
		must.True(t, time.Now().Before(deadline), must.Sprint("watcher did not notice consul stopping"))
		time.Sleep(10 * time.Millisecond)
	}
	must.Eq(t, 0, len(ch)) // the last set stays: nothing emitted while down

	srv.Restart()
	// A restarted agent resets TTL checks to critical until their owner
	// refreshes them, as a collector's sidecar does: Consul itself drops
	// c1 for that moment. The watch must end on the full, current set.
	setCheck(t, c, "c1", api.HealthPassing)
	register(t, c, "collector", "c2", 9993)
	for s := next(t, ch); len(s.Instances) != 2; s = next(t, ch) {
	}
	must.True(t, w.Status().Reachable)
}

func TestWatcher_IndexGoesBackwards(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	_, err := c.Catalog().Register(ext("c1"), nil)
	must.NoError(t, err)
	snap := srv.Snapshot()
	for _, id := range []string{"c2", "c3"} {
		_, err = c.Catalog().Register(ext(id), nil)
		must.NoError(t, err)
	}

	// A restore wakes the blocking query at once, with the old state's
	// answer and index (TestWatcher_SnapshotRestoreSeenAtOnce): the watcher
	// reads again, and takes the lower index of the restored state.
	var log testsupport.LogBuffer
	ch := make(chan Snapshot, 100)
	w := NewWatcher(WatcherInput{
		Client: clientOf(t, srv), Query: Query{Service: "collector"}, Wait: time.Second,
		Logger:   hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: &log}),
		OnChange: func(s Snapshot) { ch <- s },
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	first := next(t, ch)
	must.Eq(t, []string{"c1", "c2", "c3"}, ids(first))

	srv.Restore(snap)
	s := next(t, ch)
	must.Eq(t, []string{"c1"}, ids(s))
	must.Less(t, first.Index, s.Index)
	must.StrContains(t, log.String(), "consul ended a blocking query early with nothing new")

	// Later changes are still seen.
	_, err = c.Catalog().Register(ext("c4"), nil)
	must.NoError(t, err)
	must.Eq(t, []string{"c1", "c4"}, ids(next(t, ch)))
}

func TestWatcher_TokenWithoutRightsKeepsThePool(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{ACL: true})
	admin := srv.Client()
	register(t, admin, "collector", "c1", 9991)

	policy, _, err := admin.ACL().PolicyCreate(&api.ACLPolicy{
		Name:  "read-collector",
		Rules: `service "collector" { policy = "read" } node_prefix "" { policy = "read" }`,
	}, nil)
	must.NoError(t, err)
	token, _, err := admin.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: policy.ID}}}, nil)
	must.NoError(t, err)
	reader, err := NewClient(ClientConfig{Address: srv.HTTP, Token: token.SecretID})
	must.NoError(t, err)

	w, ch := watch(t, reader, Query{Service: "collector"})
	must.Eq(t, []string{"c1"}, ids(next(t, ch)))

	// The token loses its rights; the next change wakes the query, whose
	// answer is now filtered (200, empty). The pool must keep c1.
	token.Policies = nil
	_, _, err = admin.ACL().TokenUpdate(token, nil)
	must.NoError(t, err)
	register(t, admin, "collector", "c2", 9993)
	deadline := time.Now().Add(10 * time.Second)
	for !w.Status().ACLFiltered {
		must.True(t, time.Now().Before(deadline), must.Sprint("filtered answer not noticed"))
		time.Sleep(10 * time.Millisecond)
	}
	must.Eq(t, 0, len(ch)) // nothing applied

	// A token that never had rights: nothing is ever applied.
	none, _, err := admin.ACL().TokenCreate(&api.ACLToken{}, nil)
	must.NoError(t, err)
	blind, err := NewClient(ClientConfig{Address: srv.HTTP, Token: none.SecretID})
	must.NoError(t, err)
	w2, ch2 := watch(t, blind, Query{Service: "collector"})
	deadline = time.Now().Add(10 * time.Second)
	for !w2.Status().ACLFiltered {
		must.True(t, time.Now().Before(deadline), must.Sprint("filtered answer not noticed"))
		time.Sleep(10 * time.Millisecond)
	}
	must.Eq(t, 0, len(ch2))
}

// A snapshot restore wakes a blocking query at once, with the old state's
// answer and index: the watcher reads the catalog again at once, rather
// than block on the old index for a whole wait (issue 32, item 2).
func TestWatcher_SnapshotRestoreSeenAtOnce(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	_, err := c.Catalog().Register(ext("c1"), nil)
	must.NoError(t, err)
	snap := srv.Snapshot()
	_, err = c.Catalog().Register(ext("c2"), nil)
	must.NoError(t, err)

	var log testsupport.LogBuffer
	_, ch := watchWith(t, WatcherInput{
		Client: clientOf(t, srv), Query: Query{Service: "collector"}, Wait: time.Minute,
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: &log}),
	})
	// The watcher goes back into its blocking query as soon as it has
	// handed over the snapshot (microseconds); a restore takes an upload
	// and a Raft round (milliseconds) before it abandons the state store.
	must.Eq(t, []string{"c1", "c2"}, ids(next(t, ch)))

	restored := time.Now()
	srv.Restore(snap)
	select {
	case s := <-ch:
		must.Eq(t, []string{"c1"}, ids(s))
		t.Logf("the restored catalog applied %v after the restore", time.Since(restored).Round(time.Millisecond))
	case <-time.After(2 * time.Second):
		t.Fatalf("the restored catalog not applied within 2s (the wait is a minute); log:\n%s", log.String())
	}
}

// ext is a catalog registration of a collector on an external node: the
// agent's anti-entropy leaves it alone, so a restore really takes the
// index back.
func ext(id string) *api.CatalogRegistration {
	return &api.CatalogRegistration{
		Node: "ext", Address: "127.0.0.2",
		Service: &api.AgentService{ID: id, Service: "collector", Port: 9991},
	}
}
