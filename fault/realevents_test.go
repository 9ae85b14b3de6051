package fault

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/pinpointgrpc"
	"github.com/pinlb/pinlb/internal/testsupport"
)

// The operator's events under real agents: a maintenance drain, a scale-in,
// a collector that recycles its connections, and a restart of pinlb. Each
// prints what it cost; what pinlb promises (a drain or a scale-in moves
// every span and stat stream within 30 s and loses nothing) is asserted,
// the restart's figures are for the handover work to raise.

// realDrain: `pinlb maint -enable` on one of three collectors. pinlb sends
// it nothing new and asks its agents to move: a GOAWAY, then the end of
// each stream once quiet.
func realDrain(t *testing.T) {
	f := startRealFleet(t, nodeAgents, 3, realAgents())
	f.streams(nodeAgents, "3 collectors")
	maint := exec.Command(pinlbBin, "maint", "-enable", "-id=collector-2", "-reason=fault suite")
	maint.Env = append(os.Environ(), "CONSUL_HTTP_ADDR="+f.consul.HTTP, "CONSUL_HTTP_TOKEN=")
	if out, err := maint.CombinedOutput(); err != nil {
		t.Fatalf("pinlb maint: %v: %s", err, out)
	}
	offCollector(t, f, "the drained collector")
}

// offCollector waits for collector 2 of f to hold no stream, and asserts
// the span and stat channels left it within 30 s with nothing lost.
func offCollector(t *testing.T, f *realFleet, which string) {
	gone := f.untilGone(1, moveLimit)
	for _, port := range []string{"grpc-stat", "grpc-span", "grpc-agent"} {
		figure(t, port+" conns off "+which+" after", gone[port], port == "grpc-agent" || within(gone[port]))
	}
	f.streams(nodeAgents, "after")
	served, lost := f.finish()
	figure(t, "spans served", served, true)
	figure(t, "spans lost", lost, lost == 0)
	figure(t, "client errors (agent log lines)", f.errors(), f.errors() == 0)
}

// realScaleIn: one of three collectors is deregistered, and stays up (an
// autoscaler's scale-in drains before it stops): pinlb moves its agents
// off it, gently, and nothing is lost.
func realScaleIn(t *testing.T) {
	f := startRealFleet(t, nodeAgents, 3, realAgents())
	victim := f.cols[1]
	victim.register.Process.Signal(syscall.SIGTERM) // deregisters
	victim.register.Wait()
	offCollector(t, f, "the deregistered collector")
}

// realMaxAge: the collectors recycle their connections every 5 s
// (max_connection_age, with its GOAWAY), a setting Pinpoint's users reach
// for against stickiness. Their GOAWAYs pass through pinlb untouched (the
// byte-level rule is proxy's TestH2C_NeverWrittenInto) and the agents
// reconnect, with no error. A span stream outlives the collector's grace,
// which then cuts it: what was in flight is the collector's loss, not
// pinlb's.
func realMaxAge(t *testing.T) {
	opts := pinpointgrpc.DefaultOptions()
	opts.MaxConnectionAge, opts.MaxConnectionAgeGrace = 5*time.Second, 2*time.Second
	f := startRealFleetWith(t, nodeAgents, 2, realAgents(), opts)
	before := f.accepted("grpc-span")
	testsupport.WaitUpTo(t, moveLimit, "every span stream recycled once", func() bool {
		return f.accepted("grpc-span") >= before+int64(len(f.apps))
	})
	figure(t, "span connections accepted, before / after", fmt.Sprintf("%d / %d", before, f.accepted("grpc-span")), true)
	served, lost := f.finish()
	figure(t, "spans served", served, true)
	bound := inFlight(len(f.apps))
	figure(t, fmt.Sprintf("spans lost to the collectors' grace (at most %d in flight)", bound), lost, lost <= bound)
	figure(t, "client errors (agent log lines)", f.errors(), f.errors() == 0)
}

// realRestart: pinlb stops (SIGTERM, its shutdown_timeout of 5 s waits for
// connections that never end) and starts again on the same addresses.
func realRestart(t *testing.T) {
	agents := realAgents()
	f := startRealFleet(t, nodeAgents, 2, agents)
	stopped := time.Now()
	f.pinlb.stop()
	figure(t, "seconds pinlb took to stop", fmt.Sprintf("%.1f", time.Since(stopped).Seconds()), true)
	f.pinlb = startPinlb(t, f.config(), 0)
	testsupport.WaitUpTo(t, 60*time.Second, "every agent's channels back", func() bool {
		for _, port := range []string{"grpc-stat", "grpc-span"} {
			if sum(f.conns(port)) != int64(agents) {
				return false
			}
		}
		return true
	})
	figure(t, "seconds until every span and stat stream is back", fmt.Sprintf("%.1f", time.Since(stopped).Seconds()), true)
	served, lost := f.finish()
	figure(t, "spans served", served, true)
	figure(t, "spans lost", lost, true)
}
