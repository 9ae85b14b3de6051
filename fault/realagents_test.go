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
// pinlb promises is asserted: a move costs no span and no client error, and
// the span and stat channels spread within 30 s (pinlb's GOAWAY, then its
// end of each quiet stream). The scale-out and the crash run once more
// with the Java-shaped agent (the one that scales to hundreds), which must
// end the same way as the real one.

// realAgents is how many agents a scenario runs.
func realAgents() int { return scale(6, 10) }

// realReload: pinlb reloads (SIGHUP) under real agents; no span is lost and
// no connection moves.
func realReload(t *testing.T) {
	f := startRealFleet(t, nodeAgents, 2, realAgents())
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

// A run's end: where the streams are, the spans lost, and how many it
// might have lost.
type realOutcome struct {
	conns map[string][]int64
	lost  int64
	bound int64
}

// realScaleOut: 2 collectors, then 4. Every span arrives, and the span and
// stat channels spread evenly within 30 s; the agent channel is not
// rebalanced (as under -dev), and its time is a figure.
func realScaleOut(t *testing.T) {
	node, java := scaleOut(t, nodeAgents), scaleOut(t, javaAgents)
	sameEnd(t, node, java, java.bound)
}

// realScaleOutMixed: the scale-out with real Node.js agents and, beside
// them in the same run, Java-shaped ones for the scale the real agent's
// processes cannot reach (100 of them, 200 span and stat streams, with
// -long): the same targets hold for all of them together.
func realScaleOutMixed(t *testing.T) {
	f := startRealFleet(t, nodeAgents, 2, realAgents())
	f.addAgents(javaAgents, scale(20, 100))
	scaleOutFleet(t, f, "node.js and java-shaped agents")
}

func scaleOut(t *testing.T, kind agentKind) realOutcome {
	return scaleOutFleet(t, startRealFleet(t, kind, 2, realAgents()), kind)
}

func scaleOutFleet(t *testing.T, f *realFleet, kind agentKind) realOutcome {
	f.streams(kind, "2 collectors")
	f.addCollector("collector-3")
	f.addCollector("collector-4")
	testsupport.WaitUpTo(t, 20*time.Second, "4 collectors in pinlb's pools", func() bool { return f.poolsHave(4) })
	took := f.timeToEven(moveLimit)
	for _, port := range pinpointgrpc.Ports {
		figure(t, fmt.Sprintf("%s: %s even over 4 (1.25x) after", kind, port), took[port], port == "grpc-agent" || within(took[port]))
	}
	conns := f.streams(kind, "4 collectors")
	served, lost := f.finish()
	figure(t, string(kind)+": spans served", served, true)
	bound := f.endedRaceBound(kind)
	figure(t, fmt.Sprintf("%s: spans lost (at most %d)", kind, bound), lost, lost <= bound)
	errs := f.errors()
	figure(t, fmt.Sprintf("%s: client errors (log lines, failed calls; at most %d)", kind, bound), errs, errs <= bound)
	return realOutcome{conns, lost, bound}
}

// endedRaceBound is what a move may cost agents of kind. The Node.js
// agent's gRPC (grpc-js) half-closes a call pinlb ended, and loses
// nothing. A grpc-go client (the Java-shaped agent; grpc-java's drops the
// same way) refuses a message it sends in the instant between pinlb's end
// of its call and its own reading of that end: at most one per call
// pinlb ended, and the client sees the failure.
func (f *realFleet) endedRaceBound(kind agentKind) int64 {
	if kind == nodeAgents {
		return 0
	}
	var ended uint64
	for _, port := range []string{"grpc-span", "grpc-stat"} {
		ended += f.pinlb.listener(port).Counters.CallsEnded
	}
	return int64(ended)
}

// realCrash: one of three collectors dies (its listeners and connections
// close at once, its sidecar reports it critical). Its agents reconnect to
// the others; what is lost is at most what was in flight.
func realCrash(t *testing.T) {
	node, java := crash(t, nodeAgents), crash(t, javaAgents)
	sameEnd(t, node, java, inFlight(realAgents()/3))
}

// inFlight bounds what a crash may lose: what agents send in the second
// they take to see their connection gone.
func inFlight(agents int) int64 { return int64(agents * realAgentRate) }

func crash(t *testing.T, kind agentKind) realOutcome {
	agents := realAgents()
	f := startRealFleet(t, kind, 3, agents)
	f.streams(kind, "3 collectors")
	victim := f.cols[1]
	onVictim := victim.Counts().Conns["grpc-span"]
	killed := time.Now()
	victim.Kill()
	testsupport.WaitUpTo(t, 30*time.Second, "every span stream back on the live collectors", func() bool {
		n := f.conns("grpc-span")
		return n[0]+n[2] == int64(agents)
	})
	figure(t, fmt.Sprintf("%s: span streams back after (%d moved)", kind, onVictim),
		fmt.Sprintf("%.1f s", time.Since(killed).Seconds()), true)
	conns := f.streams(kind, "after the crash")
	served, lost := f.finish()
	figure(t, string(kind)+": spans served", served, true)
	bound := inFlight(int(onVictim))
	figure(t, fmt.Sprintf("%s: spans lost (at most %d in flight)", kind, bound), lost, lost <= bound)
	return realOutcome{conns, lost, bound}
}

// sameEnd holds the Java-shaped agent to the real one: the same
// connections per collector on each channel, give or take one, and losses
// no more than lossTolerance apart.
func sameEnd(t *testing.T, node, java realOutcome, lossTolerance int64) {
	t.Helper()
	for _, port := range pinpointgrpc.Ports {
		n, j := node.conns[port], java.conns[port]
		same := len(n) == len(j)
		for i := 0; same && i < len(n); i++ {
			same = abs(n[i]-j[i]) <= 1
		}
		figure(t, port+" conns per collector, node.js / java-shaped (±1)", fmt.Sprintf("%v / %v", n, j), same)
	}
	figure(t, fmt.Sprintf("spans lost, node.js / java-shaped (±%d)", lossTolerance),
		fmt.Sprintf("%d / %d", node.lost, java.lost), abs(node.lost-java.lost) <= lossTolerance)
}

func abs(n int64) int64 { return max(n, -n) }
