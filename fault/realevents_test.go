package fault

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
)

// The operator's events under real agents: a maintenance drain, a scale-in
// and a restart of pinlb. Each prints what it cost; what pinlb promises
// today (a drain loses nothing) is asserted, the rest are figures for the
// graceful-moves and handover work to raise.

// realDrain: `pinlb maint -enable` on one of three collectors. pinlb sends
// it nothing new; its quiet streams move, its busy span streams stay until
// max_wait.
func realDrain(t *testing.T) {
	f := startRealFleet(t, nodeAgents, 3, realAgents())
	f.streams(nodeAgents, "3 collectors")
	maint := exec.Command(pinlbBin, "maint", "-enable", "-id=collector-2", "-reason=fault suite")
	maint.Env = append(os.Environ(), "CONSUL_HTTP_ADDR="+f.consul.HTTP, "CONSUL_HTTP_TOKEN=")
	if out, err := maint.CombinedOutput(); err != nil {
		t.Fatalf("pinlb maint: %v: %s", err, out)
	}
	drained := f.untilGone(1, time.Duration(scale(10, 30))*time.Second)
	for _, port := range []string{"grpc-stat", "grpc-span", "grpc-agent"} {
		figure(t, port+" conns off the drained collector after", drained[port], true)
	}
	f.streams(nodeAgents, "after the drain")
	served, lost := f.finish()
	figure(t, "spans served", served, true)
	figure(t, "spans lost", lost, lost == 0)
}

// realScaleIn: one of three collectors is deregistered and stops as
// Pinpoint's does (GOAWAY, 3 s for calls to end, then close). A span
// stream never ends by itself, so what it carries in those last moments
// may be lost.
func realScaleIn(t *testing.T) {
	agents := realAgents()
	f := startRealFleet(t, nodeAgents, 3, agents)
	victim := f.cols[1]
	onVictim := victim.Counts().Conns["grpc-span"]
	stopped := time.Now()
	victim.register.Process.Signal(syscall.SIGTERM) // deregisters
	victim.register.Wait()
	victim.Stop()
	testsupport.WaitUpTo(t, 30*time.Second, "every span stream on the other collectors", func() bool {
		n := f.conns("grpc-span")
		return n[0]+n[2] == int64(agents)
	})
	figure(t, fmt.Sprintf("span streams back after (%d moved)", onVictim), fmt.Sprintf("%.1f s", time.Since(stopped).Seconds()), true)
	f.streams(nodeAgents, "after the scale-in")
	served, lost := f.finish()
	figure(t, "spans served", served, true)
	bound := inFlight(int(onVictim))
	figure(t, fmt.Sprintf("spans lost (at most %d in flight)", bound), lost, lost <= bound)
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
