//go:build linux

// Command cluster starts the multi-host bed of the fleet tests and leaves
// it up for a person to try: 3 Consul servers, 2 pinlb hosts registered in
// Consul, 3 collectors with `pinlb register`, and a host of Pinpoint agents
// that reach pinlb by Consul DNS. It prints how to look at each part and
// removes everything on Ctrl-C. It needs root; run it with
//
//	make cluster
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pinlb/pinlb/internal/fleet"
)

func main() {
	var o fleet.Options
	flag.StringVar(&o.Pinlb.Bin, "pinlb", "bin/pinlb", "the pinlb binary")
	flag.StringVar(&o.ConsulBin, "consul", "", "the consul binary")
	flag.IntVar(&o.Collectors, "collectors", 3, "collector hosts")
	agents := flag.Int("agents", 10, "simulated Pinpoint agents")
	flag.Parse()
	dir, err := os.MkdirTemp("", "pinlb-cluster")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	o.Prefix, o.Dir, o.Servers, o.Pinlbs, o.AgentHosts = "pinlb", dir, 3, 2, 1
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	b, err := fleet.Start(ctx, o)
	cancel()
	if err != nil {
		fail(err)
	}
	defer b.Close()
	for i := range *agents {
		a := b.Agents[0].StartAgent(fmt.Sprintf("agent%d", i+1), time.Second, time.Second)
		defer a.Stop()
	}
	describe(b, o.ConsulBin)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	fmt.Println("\nremoving the cluster")
}

// describe prints the hosts and what to try on them.
func describe(b *fleet.Bed, consul string) {
	fmt.Println("The cluster is up. Hosts (network namespaces):")
	for _, s := range b.Servers {
		fmt.Printf("  %-16s %-12s Consul server\n", s.Host.NS, s.Host.IP)
	}
	for _, p := range b.Pinlbs {
		fmt.Printf("  %-16s %-12s pinlb (API 127.0.0.1:9700) and a Consul client agent\n", p.Host.NS, p.Host.IP)
	}
	for _, c := range b.Collectors {
		fmt.Printf("  %-16s %-12s a collector, pinlb register and a Consul client agent\n", c.Host.NS, c.Host.IP)
	}
	a := b.Agents[0].Host
	fmt.Printf("  %-16s %-12s Pinpoint agents, dialling %s through the local agent's DNS\n", a.NS, a.IP, fleet.ServiceName)
	p, s := b.Pinlbs[0].Host.NS, b.Servers[0].Host.NS
	fmt.Printf(`
Try:
  ip netns exec %[1]s curl -s 127.0.0.1:9700/v1/status            pinlb's view of Consul
  ip netns exec %[1]s curl -s 127.0.0.1:9700/v1/listeners/grpc-stat
  ip netns exec %[2]s dig +short @127.0.0.1 -p 8600 %[3]s         the pinlb hosts agents get (dnsutils)
  ip netns exec %[4]s %[5]s operator raft list-peers              the Raft cluster
  ip netns exec %[4]s %[5]s catalog services -tags
  kill -9 the pinlb of %[1]s (ip netns pids %[1]s), and watch DNS drop it

Ctrl-C removes everything.
`, p, a.NS, fleet.ServiceName, s, consul)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "Error:", err)
	os.Exit(1)
}
