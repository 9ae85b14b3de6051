package agent

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// artifactsDir is where the test leaves the screenshot.
func artifactsDir(t *testing.T) string {
	dir, err := testsupport.ArtifactsDir()
	must.NoError(t, err)
	return dir
}

// The dashboard in a real headless Chromium: a pool change in Consul shows
// up on the page by itself, with the reason; a scale-out and an ejection
// reach the timeline and the listener's chart within 2 s of the agent
// recording them.
func TestUI_FollowsConsulInChromium(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	collector(t, c, "a", a.Addr.Port())
	ag := startWithAPI(t, srv, "grpc-agent", func(cfg *config.Config) {
		cfg.Listeners[0].MaxFails, cfg.Listeners[0].FailTimeout = 1, time.Minute // passive health, for the ejection
	})
	waitEndpoints(t, ag, "grpc-agent", a.Addr.Port())

	// Some traffic, for the counters and the chart.
	ctx, stopTraffic := context.WithCancel(context.Background())
	defer stopTraffic()
	go func() {
		for ctx.Err() == nil {
			if conn, err := net.DialTimeout("tcp", ag.Addrs()["grpc-agent"].String(), time.Second); err == nil {
				conn.Write(make([]byte, 4096))
				conn.Close()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	browser := testsupport.Chromium(t)
	run := func(what string, within time.Duration, actions ...chromedp.Action) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, within)
		defer cancel()
		must.NoError(t, chromedp.Run(ctx, actions...), must.Sprint(what))
	}
	const grpc = `section[data-listener="grpc-agent"]`
	url := "http://" + ag.APIAddr().String() + "/ui/"
	run("the page to show collector a active", 30*time.Second, chromedp.Navigate(url),
		chromedp.WaitVisible(grpc+` tr[data-endpoint="pinlb-test/a"][data-state="active"]`))

	// A scale-out, then a collector that does not answer: on the timeline
	// and on the chart, as soon as the agent records them.
	shown := func(kind, endpoint string) {
		t.Helper()
		testsupport.WaitFor(t, "the agent to record "+kind, func() bool {
			events, _, _ := ag.events.read(eventFilter{listener: "grpc-agent"})
			return slices.ContainsFunc(events, func(e Event) bool { return e.Kind == kind && e.Endpoint == endpoint })
		})
		sel := fmt.Sprintf(`[data-kind=%q][data-endpoint=%q]`, kind, endpoint)
		run(kind+" on the timeline and the chart within 2s", 2*time.Second,
			chromedp.WaitVisible(`#timeline li`+sel), chromedp.WaitReady(grpc+` .chart .marker`+sel))
	}
	collector(t, c, "b", b.Addr.Port())
	shown(EventJoined, b.Addr.String())
	dead := deadAddr(t)
	collector(t, c, "dead", dead.Port())
	shown(EventEjected, dead.String())

	setCheck(t, c, "a", api.HealthCritical)
	var reason string
	run("the page to show b active and a out", 30*time.Second,
		chromedp.WaitVisible(grpc+` tr[data-endpoint="pinlb-test/b"][data-state="active"]`),
		chromedp.WaitVisible(grpc+` tr[data-endpoint="pinlb-test/a"][data-state="out"]`),
		chromedp.Text(grpc+` tr[data-endpoint="pinlb-test/a"] .reason`, &reason))
	must.Eq(t, "consul:critical", reason)

	var shot []byte
	run("a screenshot, once the chart has 10 seconds", 30*time.Second,
		chromedp.Poll(`samples.get("grpc-agent").t.length >= 10`, nil),
		chromedp.FullScreenshot(&shot, 100)) // 100: PNG
	path := filepath.Join(artifactsDir(t), "dashboard.png")
	must.NoError(t, os.WriteFile(path, shot, 0o644))
	t.Logf("screenshot: %s", path)
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}
