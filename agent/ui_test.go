package agent

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hashicorp/consul/api"
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
// up on the page by itself, with the reason.
func TestUI_FollowsConsulInChromium(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	collector(t, c, "a", a.Addr.Port())
	ag := startWithAPI(t, srv, "grpc-agent")
	waitEndpoints(t, ag, "grpc-agent", a.Addr.Port())

	// Some traffic, for the counters and sparklines.
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
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		must.NoError(t, chromedp.Run(ctx, actions...), must.Sprint(what))
	}

	url := "http://" + ag.APIAddr().String() + "/ui/"
	run("the page to show collector a active", chromedp.Navigate(url),
		chromedp.WaitVisible(`section[data-listener="grpc-agent"] tr[data-endpoint="pinlb-test/a"][data-state="active"]`))

	// Scale out and fail one: the page follows without a reload.
	collector(t, c, "b", b.Addr.Port())
	setCheck(t, c, "a", api.HealthCritical)
	var reason string
	run("the page to show b active and a out",
		chromedp.WaitVisible(`section[data-listener="grpc-agent"] tr[data-endpoint="pinlb-test/b"][data-state="active"]`),
		chromedp.WaitVisible(`section[data-listener="grpc-agent"] tr[data-endpoint="pinlb-test/a"][data-state="out"]`),
		chromedp.Text(`section[data-listener="grpc-agent"] tr[data-endpoint="pinlb-test/a"] .reason`, &reason))
	must.Eq(t, "consul:critical", reason)

	var shot []byte
	run("a screenshot, once the sparkline has a few points",
		chromedp.Poll(`document.querySelector('section[data-listener="grpc-agent"] svg.big polyline').points.numberOfItems >= 10`, nil),
		chromedp.FullScreenshot(&shot, 100)) // 100: PNG
	path := filepath.Join(artifactsDir(t), "dashboard.png")
	must.NoError(t, os.WriteFile(path, shot, 0o644))
	t.Logf("screenshot: %s", path)
}
