package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
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
// is full. "burst" is ten instances registered back to back, as several
// collectors scaling out at once: from each write to that instance in the
// pool. It reports p50/p99 in milliseconds; run 200 changes (20 bursts)
// with
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
	b.Run("burst", benchBurst)
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

// benchBurst registers burstSize instances back to back, b.N/burstSize
// times, and measures from each write to its instance being in the pool.
func benchBurst(b *testing.B) {
	srv := testsupport.StartConsul(b, testsupport.ConsulOptions{})
	c := srv.Client()
	ag := startGRPC(b, srv)
	var lat []time.Duration
	b.ResetTimer()
	for round := 0; round < max(1, b.N/burstSize); round++ {
		written := make([]time.Time, burstSize)
		for i := range burstSize {
			err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{
				ID: fmt.Sprintf("r%d-%d", round, i), Name: "collector", Address: "127.0.0.1", Port: 20000 + round*burstSize + i,
			})
			if err != nil {
				b.Fatal(err)
			}
			written[i] = time.Now()
		}
		seen := make([]time.Time, burstSize)
		for left, start := burstSize, time.Now(); left > 0; time.Sleep(20 * time.Microsecond) {
			if time.Since(start) > 10*time.Second {
				b.Fatal("no convergence within 10s")
			}
			ports := map[int]bool{}
			for _, ep := range ag.Endpoints("grpc") {
				ports[int(ep.Addr.Port())] = true
			}
			for i := range burstSize {
				if seen[i].IsZero() && ports[20000+round*burstSize+i] {
					seen[i], left = time.Now(), left-1
				}
			}
		}
		for i := range burstSize {
			lat = append(lat, seen[i].Sub(written[i]))
		}
		b.StopTimer()
		time.Sleep(time.Second) // the next burst finds the bucket full again
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "pool-p50-ms")
	b.ReportMetric(ms(lat[(len(lat)*99)/100]), "pool-p99-ms")
	b.Logf("burst of %d: %d changes, p50 %v, p99 %v, max %v", burstSize, len(lat), lat[len(lat)/2], lat[(len(lat)*99)/100], lat[len(lat)-1])
	b.ReportMetric(0, "ns/op")
}
