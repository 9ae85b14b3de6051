//go:build unix

package command

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// systemd's side of Type=notify: the agent reports readiness once it
// serves, a reload around SIGHUP, and stopping at SIGTERM.
func TestAgentCommand_NotifiesSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	must.NoError(t, err)
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	next := func() string {
		t.Helper()
		buf := make([]byte, 512)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		must.NoError(t, err)
		return string(buf[:n])
	}

	path := filepath.Join(t.TempDir(), "pinlb.hcl")
	listen := testsupport.FreePort(t)
	must.NoError(t, os.WriteFile(path, []byte(echoConfig(listen, testsupport.StartTCP(t))), 0o644))
	r := runAgent(t, "-config-file="+path)
	must.Eq(t, "READY=1\nSTATUS=serving", next())
	echoOnce(t, listen).Close() // it was ready: its listener serves

	r.sigs <- syscall.SIGHUP
	must.Eq(t, "RELOADING=1", next())
	must.Eq(t, "READY=1", next())

	r.sigs <- syscall.SIGTERM
	must.Eq(t, "STOPPING=1\nSTATUS=draining open connections", next())
	must.Eq(t, exitOK, r.exit(t))
}
