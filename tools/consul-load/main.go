//go:build linux

// Command consul-load measures what each of pinlb's Consul read modes
// (consul { consistency }) costs the Consul servers, and how fast a change
// reaches the pools, with many pinlb hosts watching the same service: a
// bed of network namespaces with 3 servers and -hosts pinlb hosts, each
// with its own Consul client agent. It prints the table of
// website/content/docs/consul.md, "Read modes". It needs root; run it with
//
//	make consul-load
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/fleet"
)

type options struct {
	pinlb, consul string
	hosts         int
	isolated      int           // changes one at a time
	bursts        int           // rounds of burstSize back-to-back changes
	churn         time.Duration // of 10 changes a second
}

const burstSize = 10

func main() {
	var o options
	flag.StringVar(&o.pinlb, "pinlb", "bin/pinlb", "the pinlb binary")
	flag.StringVar(&o.consul, "consul", "", "the consul binary")
	flag.IntVar(&o.hosts, "hosts", 20, "pinlb hosts")
	flag.IntVar(&o.isolated, "isolated", 20, "isolated changes per mode")
	flag.IntVar(&o.bursts, "bursts", 3, "bursts of 10 changes per mode")
	flag.DurationVar(&o.churn, "churn", 10*time.Second, "how long the churn of 10 changes a second lasts")
	flag.Parse()
	fmt.Printf("%d pinlb hosts, 3 Consul servers; isolated: %d changes, burst: %d x %d, churn: 10/s for %v\n\n",
		o.hosts, o.isolated, o.bursts, burstSize, o.churn)
	fmt.Println("| mode | server RPCs/s, idle | server RPCs/s, churn of 10/s | blocking queries/s, churn | isolated change p50 / p99 | burst of 10 p50 / p99 |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, mode := range []string{config.ConsistencyLeader, config.ConsistencyStale, config.ConsistencyStreaming} {
		r, err := measure(o, mode)
		if err != nil {
			fmt.Fprintln(os.Stderr, "Error:", mode+":", err)
			os.Exit(1)
		}
		fmt.Printf("| `%s` | %.1f | %.1f | %.1f | %s / %s | %s / %s |\n", mode, r.idleRPC, r.churnRPC, r.churnQueries,
			ms(r.isolated.p(50)), ms(r.isolated.p(99)), ms(r.burst.p(50)), ms(r.burst.p(99)))
	}
}

// result is one mode's figures.
type result struct {
	idleRPC, churnRPC, churnQueries float64
	isolated, burst                 latencies
}

func measure(o options, mode string) (result, error) {
	dir, err := os.MkdirTemp("", "pinlb-consul-load")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := fleet.Start(ctx, fleet.Options{
		Prefix: fmt.Sprintf("cl%d", os.Getpid()), Dir: filepath.Join(dir, "bed"), ConsulBin: o.consul,
		Pinlb:   fleet.PinlbOptions{Bin: o.pinlb, Consistency: mode},
		Servers: 3, Pinlbs: o.hosts, AgentHosts: 1,
	})
	if err != nil {
		return result{}, err
	}
	defer b.Close()
	w := newWriter(b)
	var r result
	if r.isolated, err = w.isolated(ctx, o.isolated); err != nil {
		return r, err
	}
	if r.burst, err = w.bursts(ctx, o.bursts); err != nil {
		return r, err
	}
	// Idle once the start-up syncs are over: what the fleet costs at rest.
	if r.idleRPC, _, err = rpcRate(b, func() error { time.Sleep(o.churn); return nil }); err != nil {
		return r, err
	}
	r.churnRPC, r.churnQueries, err = rpcRate(b, func() error { return w.churn(o.churn) })
	return r, err
}

// rpcRate runs fn and returns the servers' RPCs and blocking queries per
// second meanwhile, from their own telemetry.
func rpcRate(b *fleet.Bed, fn func() error) (rpcs, queries float64, err error) {
	read := func() (map[string]float64, error) {
		sum := map[string]float64{}
		for _, s := range b.Servers {
			m, err := s.Metrics("consul_rpc_request", "consul_rpc_query")
			if err != nil {
				return nil, err
			}
			for k, v := range m {
				sum[k] += v
			}
		}
		return sum, nil
	}
	before, err := read()
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := fn(); err != nil {
		return 0, 0, err
	}
	after, err := read()
	if err != nil {
		return 0, 0, err
	}
	d := time.Since(start).Seconds()
	return (after["consul_rpc_request"] - before["consul_rpc_request"]) / d,
		(after["consul_rpc_query"] - before["consul_rpc_query"]) / d, nil
}
