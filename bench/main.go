// Command bench measures pinlb side by side with nginx stream and HAProxy,
// and the backends reached directly, on loopback: TCP bulk throughput,
// request/response, connection rate, UDP under overload and at fixed rates,
// memory per idle connection and CPU per GB and per million datagrams.
// Targets are interleaved and every case repeated; it prints medians and
// ratios and writes results.json and results.png to -out.
//
// Run it with `make bench`, which builds pinlb and installs the peers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

// options say how long and how often.
type options struct {
	out      string
	pinlb    string
	reps     int
	tcpTime  time.Duration // per TCP run
	udpTime  time.Duration // per UDP run
	idleConn int           // connections for the idle-RSS case
	udpPorts int           // source ports for the UDP-flood RSS case
	rates    []float64     // offered UDP rates for the loss case
	smoke    bool
	only     *regexp.Regexp // the cases to run; nil: all
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "bench/out", "folder for results.json, results.png and the peers' logs")
	flag.StringVar(&o.pinlb, "pinlb", "bin/pinlb", "the pinlb binary to measure")
	flag.IntVar(&o.reps, "reps", 3, "repetitions of every case")
	flag.BoolVar(&o.smoke, "smoke", false, "a few seconds per case: checks that the harness works, measures nothing")
	only := flag.String("cases", "", "run only the cases whose name matches this regular expression (tcp_rr_64, udp_4096.*; names as in results.json), to profile one")
	flag.Parse()
	if o.smoke {
		o = smokeOptions(o.out, o.pinlb)
	} else {
		o.tcpTime, o.udpTime, o.idleConn, o.udpPorts = 2*time.Second, 1500*time.Millisecond, 10000, 10000
		o.rates = []float64{50000, 100000, 200000}
	}
	var err error
	if o.only, err = compileCases(*only); err != nil {
		fmt.Fprintln(os.Stderr, "Error: -cases:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if _, err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	fmt.Printf("\nwrote %s and %s\n", filepath.Join(o.out, "results.json"), filepath.Join(o.out, "results.png"))
}

// smokeOptions run every case briefly, once.
func smokeOptions(out, bin string) options {
	return options{
		out: out, pinlb: bin, reps: 1, smoke: true,
		tcpTime: 300 * time.Millisecond, udpTime: 200 * time.Millisecond,
		idleConn: 200, udpPorts: 200, rates: []float64{20000},
	}
}

// compileCases is -cases' expression, anchored so that tcp_rr_8 is not
// also tcp_rr_8_p99's run; nil for "".
func compileCases(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	return regexp.Compile("^(?:" + expr + ")$")
}
