package fault

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/pinpointgrpc"
	"github.com/pinlb/pinlb/internal/testsupport"
)

// The real-agent scenarios: NAVER's Node.js agent through pinlb, each
// printing spans served, received and lost, and where the streams are. What
// pinlb promises is asserted; the rest are figures, which the graceful-moves
// work will raise.

// realAgents is how many agents a scenario runs.
func realAgents() int { return scale(6, 10) }

// realReload: pinlb reloads (SIGHUP) under real agents; no span is lost and
// no connection moves.
func realReload(t *testing.T) {
	f := startRealFleet(t, 2, realAgents())
	before := f.spread("grpc-span")
	for range 3 {
		f.pinlb.signal(syscall.SIGHUP)
		at := f.served()
		testsupport.WaitFor(t, "spans after the reload", func() bool { return f.received() > at })
	}
	served, lost := f.finish()
	figure(t, "spans served", served, true)
	figure(t, "spans lost over 3 reloads", lost, lost == 0)
	figure(t, "span conns per collector, before / after", before+" -> "+f.spread("grpc-span"), f.spread("grpc-span") == before)
}

// realScaleOut: 2 collectors, then 4. Every span arrives; how long each
// channel takes to spread evenly is a figure: a busy span stream is never
// quiet long enough for pinlb to move it without cutting.
func realScaleOut(t *testing.T) {
	f := startRealFleet(t, 2, realAgents())
	f.streams("2 collectors")
	f.addCollector("collector-3")
	f.addCollector("collector-4")
	testsupport.WaitUpTo(t, 20*time.Second, "4 collectors in pinlb's pools", func() bool { return f.poolsHave(4) })
	limit := time.Duration(scale(15, 60)) * time.Second
	took := f.timeToEven(pinpointgrpc.Ports, []int{0, 1, 2, 3}, limit)
	for _, port := range pinpointgrpc.Ports {
		figure(t, port+" even over 4 (1.25x) after", took[port], true)
	}
	f.streams("4 collectors")
	served, lost := f.finish()
	figure(t, "spans served", served, true)
	figure(t, "spans lost", lost, lost == 0)
}

// realCrash: one of three collectors dies (its listeners and connections
// close at once, its sidecar reports it critical). Its agents reconnect to
// the others; what is lost is at most what was in flight.
func realCrash(t *testing.T) {
	agents := realAgents()
	f := startRealFleet(t, 3, agents)
	f.streams("3 collectors")
	victim := f.cols[1]
	onVictim := victim.Counts().Conns["grpc-span"]
	killed := time.Now()
	victim.Kill()
	testsupport.WaitUpTo(t, 30*time.Second, "every span stream back on the live collectors", func() bool {
		n := f.conns("grpc-span")
		return n[0]+n[2] == int64(agents)
	})
	figure(t, "span streams on the killed collector", onVictim, true)
	figure(t, "seconds until every span stream is back", fmt.Sprintf("%.1f", time.Since(killed).Seconds()), true)
	f.streams("after the crash")
	served, lost := f.finish()
	// In flight: what the killed collector's agents send in the second it
	// takes them to see the connection gone.
	inFlight := onVictim * realAgentRate
	figure(t, "spans served", served, true)
	figure(t, fmt.Sprintf("spans lost (at most %d in flight)", inFlight), lost, lost <= inFlight)
}
