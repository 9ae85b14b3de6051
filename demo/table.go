package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/pinlb/pinlb/internal/pinpoint"
)

// draw prints the table: in place on a terminal, every 5s otherwise.
func (d *demo) draw() {
	if !d.o.Live && time.Since(d.lastDraw) < 5*time.Second {
		return
	}
	elapsed := max(time.Since(d.lastDraw).Seconds(), 1)
	d.lastDraw = time.Now()
	health := map[string]string{}
	if entries, _, err := d.client.Health().Service(pinpoint.Service, "", false, nil); err == nil {
		for _, e := range entries {
			health[e.Service.ID] = e.Checks.AggregatedStatus()
		}
	}
	var b strings.Builder
	if d.o.Live {
		b.WriteString("\033[H\033[2J")
	}
	fmt.Fprintf(&b, "pinlb demo  t=%.0fs  agents -> pinlb 127.0.0.1:9991-9996 -> collectors   (Ctrl-C stops)\n\n", time.Since(d.start).Seconds())
	fmt.Fprintf(&b, "%-12s %-12s %22s %8s %9s %12s %12s\n", "collector", "consul", "gRPC agent/stat/span", "spans/s", "spans", "thrift conns", "datagrams/s")
	for _, m := range d.members {
		g, s := m.grpc.Counts(), m.thrift.Stats()
		dgrams := s.Datagrams.Load()
		state := health[m.name]
		if state == "" {
			state = "deregistered"
		}
		if m.gone {
			state += "*"
		}
		conns := fmt.Sprintf("%d/%d/%d", g.Conns["grpc-agent"], g.Conns["grpc-stat"], g.Conns["grpc-span"])
		fmt.Fprintf(&b, "%-12s %-12s %22s %8.0f %9d %12d %12.0f\n", m.name, state, conns,
			float64(g.Spans-m.prevSpans)/elapsed, g.Spans, s.ActiveConns.Load(), float64(dgrams-m.prevD)/elapsed)
		m.prevSpans, m.prevD = g.Spans, dgrams
	}
	fmt.Fprintf(&b, "\nspans received by the collectors: %d   (* = process stopped)\n", d.received())
	if d.o.Live {
		b.WriteString("\n")
		from := max(0, len(d.events)-8)
		for _, e := range d.events[from:] {
			b.WriteString(e + "\n")
		}
	}
	fmt.Fprint(d.o.Out, b.String())
}

func (d *demo) summary() {
	served, lost := d.finishSpans()
	var cut, corrupt, dgrams int64
	for _, m := range d.members {
		s := m.thrift.Stats()
		cut += s.Cut.Load()
		corrupt += s.Corrupt.Load()
		dgrams += s.Datagrams.Load()
	}
	var dsent int64
	for _, a := range d.thriftAgents {
		dsent += a.Stats().Datagrams.Load()
	}
	fmt.Fprintf(d.o.Out, "\nsummary: spans served %d, received %d, lost %d%s.\n", served, served-lost, lost, d.lossCause(lost))
	fmt.Fprintf(d.o.Out, "Thrift: %d of %d datagrams reached a collector; %d frames cut, %d corrupt. Datagrams sent to a\n"+
		"collector between its crash and Consul marking it critical (about one check interval) are lost with it.\n",
		dgrams, dsent, cut, corrupt)
	d.spread()
	fmt.Fprintf(d.o.Out, "Logs: %s\n", d.dir)
}

// lossCause says which spans were lost when: none to pinlb's moves (the
// scale-out, the drain and the scale-down), and what was in flight at the
// crash.
func (d *demo) lossCause(lost int64) string {
	if d.lostBefore < 0 {
		return ""
	}
	return fmt.Sprintf(": %d before collector-2 crashed (pinlb moved every stream of the scale-out, the drain and the scale-down gently), %d in flight when it did",
		d.lostBefore, lost-d.lostBefore)
}

// spread says how soon the span streams spread over the new collector,
// where the gRPC stat and span connections ended up, and how many pinlb
// moved: each agent asked by a GOAWAY, its stream ended once quiet, its
// next one on a new connection.
func (d *demo) spread() {
	if d.spreadIn > 0 {
		fmt.Fprintf(d.o.Out, "Span streams even over the 4 collectors %.1f s after collector-4 started.\n", d.spreadIn.Seconds())
	} else if !d.scaledOut.IsZero() {
		fmt.Fprintf(d.o.Out, "Span streams not yet even over the 4 collectors when the drain began.\n")
	}
	var b strings.Builder
	for _, m := range d.members {
		if !m.gone {
			n := m.grpc.Counts().Conns
			fmt.Fprintf(&b, " %s %d/%d,", m.name, n["grpc-stat"], n["grpc-span"])
		}
	}
	moves := 0
	for _, name := range []string{"grpc-stat", "grpc-span"} {
		moves += d.rebalanceMoves(name)
	}
	fmt.Fprintf(d.o.Out, "gRPC stat/span connections at the end:%s (pinlb's rebalancing moved %d of them).\n",
		strings.TrimSuffix(b.String(), ","), moves)
}
