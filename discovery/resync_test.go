package discovery

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// A Consul that comes back without its data answers with an empty catalog
// and a lower index. The watcher learns of it at once, with a read that
// does not block on the old index, and keeps the instances it knew until
// they are listed again or the hold ends; a scale-in after that still
// lands at once.
func TestWatcher_WipedConsulHoldsThePool(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	register(t, c, "collector", "c1", 9991)
	register(t, c, "collector", "c2", 9993)

	var log testsupport.LogBuffer
	const hold = 4 * time.Second
	var unchanged atomic.Int32 // answers that changed nothing usable
	w, ch := watchWith(t, WatcherInput{
		Client: clientOf(t, srv), Query: Query{Service: "collector"}, ResyncHold: hold,
		OnEvent: func(kind, _ string) {
			if kind == EventUnchanged {
				unchanged.Add(1)
			}
		},
		// The default 55 s wait: a query blocked on the old index would
		// hold the watcher blind for all of it.
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: &log}),
	})
	must.Eq(t, []string{"c1", "c2"}, ids(next(t, ch)))

	srv.Wipe()
	back := time.Now()
	s := next(t, ch)
	must.Less(t, 10*time.Second, time.Since(back), must.Sprint("the watcher waited on its old index"))
	must.Eq(t, []string{"c1", "c2"}, ids(s)) // still usable
	must.Eq(t, []string{"c1", "c2"}, held(s))
	st := w.Status()
	must.True(t, st.Reachable)
	must.Eq(t, 2, st.Held)
	must.StrContains(t, log.String(), "consul answered without instances it listed before")

	// c1's sidecar registers it again, its check critical until it first
	// runs (Consul's default for a new check, and pinlb register's): that
	// is no news, and c1 stays held (issue 32, item 1). Passing, it is no
	// longer held.
	quiet := unchanged.Load()
	registerCritical(t, c, "c1", 9991)
	testsupport.WaitFor(t, "the watcher to take c1's critical listing", func() bool { return unchanged.Load() > quiet })
	must.Eq(t, 0, len(ch), must.Sprint("a critical listing of a held instance changed the set"))
	must.Eq(t, 2, w.Status().Held)
	setCheck(t, c, "c1", api.HealthPassing)
	s = next(t, ch)
	must.Eq(t, []string{"c1", "c2"}, ids(s))
	must.Eq(t, []string{"c2"}, held(s))

	// c2 never comes back: it goes when the hold ends, without any change
	// in Consul to wake the query.
	s = next(t, ch)
	must.Eq(t, []string{"c1"}, ids(s))
	must.GreaterEq(t, hold-time.Second, time.Since(back))
	must.Eq(t, 0, w.Status().Held)
	must.StrContains(t, log.String(), "resync hold over")

	// Outside a resync, a scale-in to zero is applied at once.
	must.NoError(t, c.Agent().ServiceDeregister("c1"))
	must.Eq(t, []string{}, ids(next(t, ch)))
}

// A Consul restarted with its data lists every instance again: the hold
// ends on that answer, and keeps nothing.
func TestWatcher_IntactRestartHoldsNothing(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	register(t, c, "collector", "c1", 9991)
	w, ch := watchWith(t, WatcherInput{
		Client: clientOf(t, srv), Query: Query{Service: "collector"}, ResyncHold: time.Hour, Logger: hclog.NewNullLogger(),
	})
	must.Eq(t, []string{"c1"}, ids(next(t, ch)))

	srv.Kill()
	testsupport.WaitFor(t, "the watcher to notice", func() bool { return !w.Status().Reachable })
	srv.Restart()
	testsupport.WaitFor(t, "the watcher to resync", func() bool { return w.Status().Reachable })
	must.Eq(t, 0, w.Status().Held)
	// The restart may still bring answers (its TTL checks reset); none
	// holds anything, and the deregistration empties the set: the
	// hour-long hold is over.
	must.NoError(t, c.Agent().ServiceDeregister("c1"))
	for s := next(t, ch); len(s.Instances) > 0; s = next(t, ch) {
		must.Eq(t, []string{}, held(s))
	}
}

// registerCritical registers an instance of "collector" as pinlb register
// does: its check critical until it first runs.
func registerCritical(t *testing.T, c *api.Client, id string, port int) {
	t.Helper()
	must.NoError(t, c.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: id, Name: "collector", Port: port, Address: "127.0.0.1",
		Check: &api.AgentServiceCheck{CheckID: "check:" + id, TTL: "10m", Status: api.HealthCritical},
	}))
}
