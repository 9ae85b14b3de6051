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
	fmt.Fprintf(&b, "%-12s %-12s %9s %10s %10s %12s %10s\n", "collector", "consul", "tcp conns", "stat+span", "msgs/s", "datagrams/s", "messages")
	elapsed := 5.0
	if d.o.Live {
		elapsed = 1
	}
	for _, m := range d.members {
		s := m.sim.Stats()
		msgs, dgrams := s.Messages.Load(), s.Datagrams.Load()
		state := health[m.name]
		if state == "" {
			state = "deregistered"
		}
		if m.gone {
			state += "*"
		}
		fmt.Fprintf(&b, "%-12s %-12s %9d %10d %10.0f %12.0f %10d\n", m.name, state, s.ActiveConns.Load(), statSpan(m),
			float64(msgs-m.prevM)/elapsed, float64(dgrams-m.prevD)/elapsed, msgs)
		m.prevM, m.prevD = msgs, dgrams
	}
	var up, reconnects int64
	for _, a := range d.agents {
		up += a.Stats().Connected.Load()
		reconnects += a.Stats().Reconnects.Load()
	}
	fmt.Fprintf(&b, "\nagent streams up: %d/%d   reconnects: %d   (* = process stopped)\n", up, 4*len(d.agents), reconnects)
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
	var msgs, cut, corrupt, dgrams int64
	for _, m := range d.members {
		s := m.sim.Stats()
		msgs += s.Messages.Load()
		cut += s.Cut.Load()
		corrupt += s.Corrupt.Load()
		dgrams += s.Datagrams.Load()
	}
	var sent, dsent int64
	for _, a := range d.agents {
		sent += a.Stats().Messages.Load()
		dsent += a.Stats().Datagrams.Load()
	}
	fmt.Fprintf(d.o.Out, "\nsummary: %d of %d messages and %d of %d datagrams reached a collector; %d corrupt frames.\n",
		msgs, sent, dgrams, dsent, corrupt)
	fmt.Fprintf(d.o.Out, "%d frames were cut mid-way by a collector that crashed or stopped. Datagrams sent to a collector\n"+
		"between its crash and Consul marking it critical (about one check interval) are lost with it.\n", cut)
	d.spread()
	fmt.Fprintf(d.o.Out, "Logs: %s\n", d.dir)
}

// statSpan is how many gRPC stat and span streams a collector holds now.
func statSpan(m *member) int64 {
	s := m.sim.Stats()
	return s.Streams["grpc-stat"].Load() + s.Streams["grpc-span"].Load()
}

// spread says where the gRPC stat and span streams ended up, and how many
// pinlb moved: after the scale-out, the new collector gets its share of
// them, not only of the UDP datagrams.
func (d *demo) spread() {
	var b strings.Builder
	for _, m := range d.members {
		if !m.gone {
			fmt.Fprintf(&b, " %s %d,", m.name, statSpan(m))
		}
	}
	moves := 0
	for _, name := range []string{"grpc-stat", "grpc-span"} {
		moves += d.rebalanceMoves(name)
	}
	fmt.Fprintf(d.o.Out, "gRPC stat and span streams at the end:%s (pinlb's rebalancing moved %d of them).\n",
		strings.TrimSuffix(b.String(), ","), moves)
}
