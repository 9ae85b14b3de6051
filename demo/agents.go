package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pinlb/pinlb/internal/nodeagent"
	"github.com/pinlb/pinlb/internal/pinpoint"
	"github.com/pinlb/pinlb/internal/pinpointgrpc"
	"github.com/pinlb/pinlb/internal/sim"
)

// agentRate is each gRPC agent's traced requests a second, one span each.
const agentRate = 20

// spanAgent is a real Node.js agent or a Java-shaped one.
type spanAgent interface {
	Served() int64
	StopTraffic() (int64, error)
	Close()
}

// startAgents starts the real Node.js agents (at once: each takes a second
// or two), the Java-shaped ones (odd ones sending spans as 3.1 does, in
// batches) and the simulated Thrift agents.
func (d *demo) startAgents() error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for i := 1; i <= d.o.NodeAgents; i++ {
		wg.Go(func() {
			log, _ := os.Create(filepath.Join(d.dir, fmt.Sprintf("node-%d.log", i)))
			a, err := nodeagent.Start(nodeagent.Config{
				ID: fmt.Sprintf("node-%d", i), Application: "demo-node", Collector: "127.0.0.1",
				Ports: pinpoint.Defaults(pinpoint.GRPCPorts()), Rate: agentRate, Log: log,
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			d.spanAgents = append(d.spanAgents, a)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i := 1; i <= d.o.Agents; i++ {
		a, err := pinpointgrpc.StartAgent(pinpointgrpc.AgentConfig{
			ID: fmt.Sprintf("java-%d", i), Application: "demo-java", Host: "127.0.0.1",
			Ports: pinpoint.Defaults(pinpoint.GRPCPorts()), Rate: agentRate, Batch: i%2 == 1,
		})
		if err != nil {
			return err
		}
		d.spanAgents = append(d.spanAgents, a)
	}
	thrift := pinpoint.Defaults(pinpoint.ThriftPorts())
	for i := 1; i <= d.o.ThriftAgents; i++ {
		d.thriftAgents = append(d.thriftAgents, sim.StartAgent(sim.AgentConfig{
			Name: fmt.Sprintf("thrift-%d", i), Host: "127.0.0.1", Ports: thrift,
			PingEvery: 5 * time.Second, Reconnect: 3 * time.Second, DatagramEvery: 20 * time.Millisecond,
		}))
	}
	d.logf("agents send through pinlb: %d real Pinpoint Node.js agents (%s) and %d Java-shaped ones (half 2.x span streams, half 3.1 span batches), %d spans/s each; %d simulated Thrift agents (TCP pings, UDP stats and spans)",
		d.o.NodeAgents, nodeagent.Version(), d.o.Agents, agentRate, d.o.ThriftAgents)
	return nil
}

// finishSpans stops the gRPC agents' traffic and waits for their last
// spans: it returns the spans served and those lost.
func (d *demo) finishSpans() (served, lost int64) {
	for _, a := range d.spanAgents {
		n, _ := a.StopTraffic()
		served += n
	}
	return served, pinpointgrpc.AwaitSpans(served, d.received)
}

func (d *demo) stopAgents() {
	for _, a := range d.spanAgents {
		a.Close()
	}
	for _, a := range d.thriftAgents {
		a.Stop()
	}
}

// lostSoFar waits, briefly, for every span served so far to reach a
// collector, and returns how many did not.
func (d *demo) lostSoFar() int64 {
	var served int64
	for _, a := range d.spanAgents {
		served += a.Served()
	}
	deadline := time.Now().Add(3 * time.Second)
	for d.received() < served && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // sampling the collectors' counts
	}
	return max(0, served-d.received())
}
