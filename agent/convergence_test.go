package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
)

// BenchmarkConvergence measures how fast a Consul write reaches pinlb: from
// the write returning to the pool being updated ("pool"), and to the next
// new connection landing on the new endpoint ("conn"). Each iteration is
// one change, alternately adding and removing an instance, 150ms after the
// previous one converged, so the watcher's token bucket (10 calls a second)
// is full. "burst" is ten collectors scaling out at once, each on its own
// host ("burst-one-agent": all through one Consul agent): from each write to
// that instance in the pool, beside Consul's own delivery to a bare
// blocking query (see benchBurst). It reports p50/p99 in milliseconds; run
// 200 changes (20 bursts) with
//
//	make consul && go test -run '^$' -bench Convergence -benchtime 200x ./agent
func BenchmarkConvergence(b *testing.B) {
	b.Run("catalog", func(b *testing.B) {
		benchConvergence(b, func(c *api.Client, id string, port uint16, add bool) error {
			if add {
				_, err := c.Catalog().Register(&api.CatalogRegistration{
					Node: "ext", Address: "127.0.0.1",
					Service: &api.AgentService{ID: id, Service: "collector", Port: int(port)},
				}, nil)
				return err
			}
			_, err := c.Catalog().Deregister(&api.CatalogDeregistration{Node: "ext", ServiceID: id}, nil)
			return err
		})
	})
	b.Run("burst", func(b *testing.B) { benchBurst(b, hostsScaleOut) })
	b.Run("burst-one-agent", func(b *testing.B) { benchBurst(b, oneAgentScaleOut) })
	b.Run("agent", func(b *testing.B) {
		benchConvergence(b, func(c *api.Client, id string, port uint16, add bool) error {
			if add {
				return c.Agent().ServiceRegister(&api.AgentServiceRegistration{
					ID: id, Name: "collector", Address: "127.0.0.1", Port: int(port),
				})
			}
			return c.Agent().ServiceDeregister(id)
		})
	})
}

// startGRPC runs an agent with one listener, "grpc", on srv's service
// "collector", until the benchmark ends.
func startGRPC(b *testing.B, srv *testsupport.Consul) *Agent {
	l := config.Listener{
		Name: "grpc", Protocol: "tcp", Address: testsupport.FreePort(b), Balance: config.DefaultBalance,
		ConnectTimeout: time.Second, IdleTimeout: time.Minute,
		Upstream: config.Upstream{Service: "collector"},
	}
	ag := New(&config.Config{Consul: config.Consul{Address: srv.HTTP}, Listeners: []config.Listener{l}}, Options{})
	if err := ag.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ag.Shutdown(context.Background()) })
	return ag
}

// changeGap lets the watcher's token bucket refill between changes.
const changeGap = 150 * time.Millisecond

type writeFunc func(c *api.Client, id string, port uint16, add bool) error

func benchConvergence(b *testing.B, write writeFunc) {
	srv := testsupport.StartConsul(b, testsupport.ConsulOptions{})
	c := srv.Client()
	// Each backend names itself on every connection.
	named := func(name string) *testsupport.TCP {
		return testsupport.StartTCPFunc(b, "127.0.0.1:0", func(conn *net.TCPConn) { conn.Write([]byte(name)) })
	}
	base, extra := named("b"), named("n")
	if err := write(c, "base", base.Addr.Port(), true); err != nil {
		b.Fatal(err)
	}
	ag := startGRPC(b, srv)
	has := func(port uint16) bool {
		for _, ep := range ag.Endpoints("grpc") {
			if ep.Addr.Port() == port {
				return true
			}
		}
		return false
	}
	waitFor := func(cond func() bool) time.Duration {
		start := time.Now()
		for !cond() {
			if time.Since(start) > 10*time.Second {
				b.Fatal("no convergence within 10s")
			}
			time.Sleep(20 * time.Microsecond)
		}
		return time.Since(start)
	}
	waitFor(func() bool { return has(base.Addr.Port()) })
	addr := ag.Addrs()["grpc"].String()
	landsOnExtra := func() bool {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer conn.Close()
		got, _ := io.ReadAll(conn)
		return string(got) == "n"
	}

	var pool, conn []time.Duration
	b.ResetTimer()
	for i := range b.N {
		add := i%2 == 0
		if err := write(c, "extra", extra.Addr.Port(), add); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		waitFor(func() bool { return has(extra.Addr.Port()) == add })
		pool = append(pool, time.Since(start))
		if add {
			waitFor(landsOnExtra)
			conn = append(conn, time.Since(start))
		}
		b.StopTimer()
		time.Sleep(changeGap) // pacing the changes, see above
		b.StartTimer()
	}
	b.StopTimer()
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"pool", pool}, {"conn", conn}} {
		if len(m.d) == 0 {
			continue
		}
		slices.Sort(m.d)
		b.ReportMetric(ms(m.d[len(m.d)/2]), m.name+"-p50-ms")
		b.ReportMetric(ms(m.d[(len(m.d)*99)/100]), m.name+"-p99-ms")
		b.Logf("%s: %d changes, p50 %v, p99 %v, max %v", m.name, len(m.d), m.d[len(m.d)/2], m.d[(len(m.d)*99)/100], m.d[len(m.d)-1])
	}
	b.ReportMetric(0, "ns/op") // wall time per change is not the figure of interest
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// burstSize is how many collectors scale out at once in the burst case.
const burstSize = 10

// A scale-out of burstSize collectors. hostsScaleOut: each registers
// through the Consul agent of its own host, which reaches the servers as a
// catalog write of that node, all at once. oneAgentScaleOut: all through
// one agent, back to back, which syncs them to the servers one at a time
// (Consul's anti-entropy), a floor of its own.
type scaleOut struct {
	concurrent bool
	register   func(c *api.Client, id string, port int) error
	deregister func(c *api.Client, id string) error
}

var (
	hostsScaleOut = scaleOut{
		concurrent: true,
		register: func(c *api.Client, id string, port int) error {
			_, err := c.Catalog().Register(&api.CatalogRegistration{
				Node: "host-" + id, Address: "127.0.0.1",
				Service: &api.AgentService{ID: id, Service: "collector", Port: port},
			}, nil)
			return err
		},
		deregister: func(c *api.Client, id string) error {
			_, err := c.Catalog().Deregister(&api.CatalogDeregistration{Node: "host-" + id}, nil)
			return err
		},
	}
	oneAgentScaleOut = scaleOut{
		register: func(c *api.Client, id string, port int) error {
			return c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: id, Name: "collector", Address: "127.0.0.1", Port: port})
		},
		deregister: func(c *api.Client, id string) error { return c.Agent().ServiceDeregister(id) },
	}
)

// benchBurst runs b.N/burstSize scale-outs. For each write it measures
// when the instance is in pinlb's pool, and when a bare blocking query
// beside pinlb (its query options, no token bucket, nothing done with the
// answer) first sees it: Consul's own delivery, the floor under any
// watcher. "added" is the difference, per change: pinlb's part.
func benchBurst(b *testing.B, how scaleOut) {
	srv := testsupport.StartConsul(b, testsupport.ConsulOptions{})
	c := srv.Client()
	ag := startGRPC(b, srv)
	consul := observeConsul(b, srv.HTTP)
	var pool, floor, added []time.Duration
	b.ResetTimer()
	for round := 0; round < max(1, b.N/burstSize); round++ {
		// The pool is watched from before the first write: a sequential
		// burst's first instances are in it long before the last write.
		pooled := make(chan []time.Time, 1)
		go func() { pooled <- waitInPool(b, ag, round, burstSize) }()
		ids, written := how.burst(b, c, round)
		inPool := <-pooled
		if b.Failed() {
			b.FailNow()
		}
		for i, id := range ids {
			seen := consul.waitFor(b, id)
			pool = append(pool, inPool[i].Sub(written[i]))
			floor = append(floor, seen.Sub(written[i]))
			added = append(added, inPool[i].Sub(seen))
		}
		b.StopTimer()
		for _, id := range ids {
			if err := how.deregister(c, id); err != nil {
				b.Fatal(err)
			}
		}
		// The watcher's token bucket (20 deep, 10 a second) refills from
		// the burst and its removal, so that the next burst finds it full.
		time.Sleep(2500 * time.Millisecond)
		b.StartTimer()
	}
	b.StopTimer()
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"pool", pool}, {"consul", floor}, {"added", added}} {
		slices.Sort(m.d)
		p50, p99 := m.d[len(m.d)/2], m.d[(len(m.d)*99)/100]
		b.ReportMetric(ms(p50), m.name+"-p50-ms")
		b.ReportMetric(ms(p99), m.name+"-p99-ms")
		b.Logf("burst of %d, %s: %d changes, p50 %v, p99 %v, max %v", burstSize, m.name, len(m.d), p50, p99, m.d[len(m.d)-1])
	}
	b.ReportMetric(0, "ns/op")
}

// burst writes the round's burstSize instances and returns their IDs and
// when each write returned.
func (how scaleOut) burst(b *testing.B, c *api.Client, round int) ([]string, []time.Time) {
	ids, written := make([]string, burstSize), make([]time.Time, burstSize)
	var wg sync.WaitGroup
	for i := range burstSize {
		ids[i] = fmt.Sprintf("r%d-%d", round, i)
		write := func() {
			if err := how.register(c, ids[i], burstPort(round, i)); err != nil {
				b.Error(err)
			}
			written[i] = time.Now()
		}
		if how.concurrent {
			wg.Go(write)
		} else {
			write()
		}
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return ids, written
}

func burstPort(round, i int) int { return 20000 + round*burstSize + i }

// waitInPool returns when each of the round's n instances (by its port)
// was first in the pool, polling every 200µs.
func waitInPool(b *testing.B, ag *Agent, round, n int) []time.Time {
	seen := make([]time.Time, n)
	for left, start := n, time.Now(); left > 0; time.Sleep(200 * time.Microsecond) {
		if time.Since(start) > 10*time.Second {
			b.Error("no convergence within 10s")
			return seen
		}
		ports := map[int]bool{}
		for _, ep := range ag.Endpoints("grpc") {
			ports[int(ep.Addr.Port())] = true
		}
		for i := range n {
			if seen[i].IsZero() && ports[burstPort(round, i)] {
				seen[i], left = time.Now(), left-1
			}
		}
	}
	return seen
}

// consulObserver is a bare watcher: blocking queries in a loop, with the
// options pinlb's default read mode sends, recording when each instance ID
// is first in an answer.
type consulObserver struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func observeConsul(b *testing.B, addr string) *consulObserver {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.Transport.DisableKeepAlives = true // as pinlb's client
	c, err := api.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	o := &consulObserver{seen: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		var index uint64
		for ctx.Err() == nil {
			opts := (&api.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second, Near: "_agent"}).WithContext(ctx)
			entries, meta, err := c.Health().Service("collector", "", false, opts)
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			now := time.Now()
			index = meta.LastIndex
			o.mu.Lock()
			for _, e := range entries {
				if _, ok := o.seen[e.Service.ID]; !ok {
					o.seen[e.Service.ID] = now
				}
			}
			o.mu.Unlock()
		}
	}()
	return o
}

func (o *consulObserver) waitFor(b *testing.B, id string) time.Time {
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(time.Millisecond) {
		o.mu.Lock()
		at, ok := o.seen[id]
		o.mu.Unlock()
		if ok {
			return at
		}
	}
	b.Fatalf("Consul never listed %s", id)
	return time.Time{}
}
