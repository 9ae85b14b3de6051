// Command demo runs `make demo`: a real Consul dev agent, Pinpoint collector
// stand-ins (Pinpoint's gRPC on 9991-9993, simulated Thrift and UDP) each
// registered by `pinlb register`, `pinlb agent -dev`, and agents sending
// through it: real Pinpoint Node.js agents, Java-shaped gRPC agents and
// simulated Thrift ones, with a live table of traffic per collector and a
// scripted scale-out, crash and maintenance drain. It is a module of its
// own, so that its stand-ins stay out of the pinlb binary.
//
//	go run . -pinlb ../bin/pinlb [-duration 45s] [-node-agents 4] [-agents 12] [-thrift-agents 6]
//
// The Consul binary is $PINLB_CONSUL (`make demo` builds and sets it).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/pinlb/pinlb/internal/consulbin"
)

func main() {
	pinlb := flag.String("pinlb", "bin/pinlb", "the pinlb binary, run for register, maint and agent")
	duration := flag.Duration("duration", 0, "stop after this long and exit 0; 0 runs until Ctrl-C")
	agents := flag.Int("agents", 12, "Java-shaped gRPC agents (grpc-go), 20 spans/s each")
	nodeAgents := flag.Int("node-agents", 4, "real Pinpoint Node.js agents (make node-agent installs them), 20 spans/s each")
	thriftAgents := flag.Int("thrift-agents", 6, "simulated Pinpoint 1.x agents (Thrift TCP, UDP stats and spans)")
	flag.Parse()
	consul, err := consulbin.Path()
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = Run(ctx, Options{
		Pinlb: *pinlb, Consul: consul, Duration: *duration,
		Agents: *agents, NodeAgents: *nodeAgents, ThriftAgents: *thriftAgents,
		Out: os.Stdout, Live: isatty.IsTerminal(os.Stdout.Fd()),
	})
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "Error:", err)
	os.Exit(1)
}
