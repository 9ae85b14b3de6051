package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// Long-lived connections and a UDP stream run through pinlb while a
// collector joins and leaves the pool 50 times: no connection fails, and no
// datagram reaches the leaving collector once its pool was updated.
func TestConsul_ChurnKeepsConnectionsAndStopsDatagrams(t *testing.T) {
	const (
		conns  = 200
		cycles = 50
		// A datagram picked just before the pool swap may arrive just
		// after it.
		inFlight = 50 * time.Millisecond
	)
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	type member struct {
		id  string
		tcp *testsupport.TCP
		udp *testsupport.UDP
	}
	newMember := func(id string) member {
		return member{id, testsupport.StartTCP(t), testsupport.StartUDP(t)}
	}
	register := func(m member) {
		must.NoError(t, c.Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: m.id, Name: "collector", Address: "127.0.0.1", Port: int(m.tcp.Addr.Port()),
			Meta: map[string]string{"port_span": fmt.Sprint(m.udp.Addr.Port())},
		}))
	}
	stable := []member{newMember("s1"), newMember("s2")}
	flapper := newMember("f")
	for _, m := range stable {
		register(m)
	}

	tcpL := consulListener(t, "grpc", config.Upstream{})
	udpL := consulListener(t, "span", config.Upstream{PortMeta: "port_span"})
	udpL.Protocol, udpL.Address = "udp", testsupport.FreePort(t)
	udpL.UDP = config.UDP{Mode: "packet", SessionTimeout: time.Minute, MaxSessions: 10}
	ag := startWithConsul(t, srv, "", tcpL, udpL)
	waitEndpoints(t, ag, "grpc", stable[0].tcp.Addr.Port(), stable[1].tcp.Addr.Port())
	waitEndpoints(t, ag, "span", stable[0].udp.Addr.Port(), stable[1].udp.Addr.Port())

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var failures, roundTrips atomic.Int64
	for range conns {
		conn, err := net.Dial("tcp", ag.Addrs()["grpc"].String())
		must.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			buf := make([]byte, 5)
			for ctx.Err() == nil {
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := conn.Write([]byte("frame")); err != nil {
					failures.Add(1)
					return
				}
				if _, err := io.ReadFull(conn, buf); err != nil {
					failures.Add(1)
					return
				}
				roundTrips.Add(1)
				time.Sleep(20 * time.Millisecond) // pacing the traffic
			}
		}()
	}
	udpConn, err := net.Dial("udp", ag.Addrs()["span"].String())
	must.NoError(t, err)
	defer udpConn.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			udpConn.Write([]byte("span"))
			time.Sleep(200 * time.Microsecond) // a steady stream, about 5k/s
		}
	}()

	var worst time.Duration
	for range cycles {
		register(flapper)
		waitEndpoints(t, ag, "span", stable[0].udp.Addr.Port(), stable[1].udp.Addr.Port(), flapper.udp.Addr.Port())
		testsupport.WaitFor(t, "datagrams at the new member", func() bool {
			return flapper.udp.LastAt.Load() > 0
		})

		must.NoError(t, c.Agent().ServiceDeregister("f"))
		out := time.Now()
		waitEndpoints(t, ag, "span", stable[0].udp.Addr.Port(), stable[1].udp.Addr.Port())
		updated := time.Now()
		worst = max(worst, updated.Sub(out))
		// Let the stream run on the smaller pool, then check the last
		// datagram the leaver got.
		time.Sleep(30 * time.Millisecond) // observation window, not a wait for a condition
		last := time.Unix(0, flapper.udp.LastAt.Load())
		must.True(t, last.Before(updated.Add(inFlight)),
			must.Sprintf("datagram at the removed member %v after its pool update", last.Sub(updated)))
	}
	stop()
	wg.Wait()
	must.Eq(t, 0, failures.Load())
	must.Positive(t, roundTrips.Load())
	t.Logf("%d cycles, %d round trips on %d connections, 0 failures; slowest removal to pool update: %v",
		cycles, roundTrips.Load(), conns, worst)
}
