package command

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/cli"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// pinlb monitor against a running agent: the history -since asks for, then
// each new event as it happens, until SIGINT; -follow=false -last=N prints
// N lines and exits.
func TestMonitorCommand_FollowsTheTimeline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pinlb.hcl")
	listen := testsupport.FreePort(t)
	must.NoError(t, os.WriteFile(path, []byte(echoConfig(listen, testsupport.StartTCP(t))), 0o644))
	r := runAgent(t, "-config-file="+path)
	address := "-address=" + r.agent.APIAddr().String()

	ui, sigs, code := cli.NewMockUi(), make(chan os.Signal, 1), make(chan int, 1)
	go func() {
		code <- (&MonitorCommand{Ui: ui, signals: sigs}).Run([]string{address, "-since=1h", "-listener=echo"})
	}()
	testsupport.WaitFor(t, "the listener's addition and its endpoint on the timeline", func() bool {
		out := ui.OutputWriter.String()
		return strings.Contains(out, " listener_added     echo: tcp ") && strings.Contains(out, " endpoint_joined    echo 127.0.0.1:")
	})
	r.sigs <- syscall.SIGHUP
	testsupport.WaitFor(t, "the reload to be followed", func() bool {
		return strings.Contains(ui.OutputWriter.String(), " reload_applied: 1 listeners")
	})
	sigs <- syscall.SIGINT
	select {
	case c := <-code:
		must.Eq(t, exitOK, c, must.Sprint(ui.ErrorWriter.String()))
	case <-time.After(10 * time.Second):
		t.Fatal("monitor did not stop on SIGINT")
	}

	ui = cli.NewMockUi()
	must.Eq(t, exitOK, (&MonitorCommand{Ui: ui}).Run([]string{address, "-last=1", "-follow=false"}))
	must.StrContains(t, ui.OutputWriter.String(), "reload_applied")
	must.Eq(t, 1, strings.Count(ui.OutputWriter.String(), "\n"))

	ui = cli.NewMockUi()
	must.Eq(t, exitError, (&MonitorCommand{Ui: ui}).Run([]string{address, "-since=yesterday", "-follow=false"}))
	must.StrContains(t, ui.ErrorWriter.String(), `since="yesterday" is neither an RFC 3339 time`)
}
