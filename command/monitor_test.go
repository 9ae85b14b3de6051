//go:build linux

package command

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// pinlb monitor against a running agent fed by a real Consul, through the
// API's token: the history -since asks for, then each new event as it
// happens (a collector that joins, a reload), until SIGINT;
// -follow=false -last=N prints N lines and exits.
func TestMonitorCommand_FollowsTheTimeline(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	tcpA, udpA := testsupport.StartTCP(t), testsupport.StartUDP(t)
	registerCollector(t, c, "a", tcpA, udpA, api.HealthPassing)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pinlb.hcl")
	cfg := apiConfig(srv.HTTP, filepath.Join(dir, "access.log"), testsupport.FreePort(t), testsupport.FreePort(t), "")
	must.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	r := runAgent(t, "-config-file="+cfgPath)
	args := []string{"-address=" + r.agent.APIAddr().String(), "-token=" + apiToken}

	ui, sigs, code := cli.NewMockUi(), make(chan os.Signal, 1), make(chan int, 1)
	go func() {
		code <- (&MonitorCommand{Ui: ui, signals: sigs}).Run(append(args, "-since=1h", "-listener=grpc"))
	}()
	out := func() string { return ui.OutputWriter.String() }
	testsupport.WaitFor(t, "the listener, Consul's answer and collector a on the timeline", func() bool {
		return strings.Contains(out(), " listener_added     grpc: tcp ") &&
			strings.Contains(out(), " consul_applied     collector: 1 usable instances") &&
			strings.Contains(out(), fmt.Sprintf(" endpoint_joined    grpc %s (", tcpA.Addr))
	})
	must.StrNotContains(t, out(), " span ", must.Sprint("-listener=grpc shows no other listener's events"))

	tcpB, udpB := testsupport.StartTCP(t), testsupport.StartUDP(t)
	registerCollector(t, c, "b", tcpB, udpB, api.HealthPassing)
	testsupport.WaitFor(t, "collector b's arrival to be followed", func() bool {
		return strings.Contains(out(), fmt.Sprintf(" endpoint_joined    grpc %s (", tcpB.Addr)) &&
			strings.Contains(out(), "/b): usable in consul service collector")
	})
	r.sigs <- syscall.SIGHUP
	testsupport.WaitFor(t, "the reload to be followed", func() bool {
		return strings.Contains(out(), " reload_applied: 2 listeners")
	})
	sigs <- syscall.SIGINT
	select {
	case c := <-code:
		must.Eq(t, exitOK, c, must.Sprint(ui.ErrorWriter.String()))
	case <-time.After(10 * time.Second):
		t.Fatal("monitor did not stop on SIGINT")
	}

	ui = cli.NewMockUi()
	must.Eq(t, exitOK, (&MonitorCommand{Ui: ui}).Run(append(args, "-last=1", "-follow=false", "-format=json")))
	must.StrContains(t, ui.OutputWriter.String(), `"kind":"reload_applied"`)
	must.Eq(t, 1, strings.Count(ui.OutputWriter.String(), "\n"))

	ui = cli.NewMockUi()
	must.Eq(t, exitError, (&MonitorCommand{Ui: ui}).Run(append(args, "-since=yesterday", "-follow=false")))
	must.StrContains(t, ui.ErrorWriter.String(), `since="yesterday" is neither an RFC 3339 time`)
}
