package command

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// A reload applies log_level and log_json to every logger of the agent,
// including those handed out before it; -log-level still wins over the
// file.
func TestAgentCommand_ReloadAppliesLogSettings(t *testing.T) {
	a := testsupport.StartTCP(t)
	listen := testsupport.FreePort(t)
	path := filepath.Join(t.TempDir(), "pinlb.hcl")
	must.NoError(t, os.WriteFile(path, []byte(echoConfig(listen, a)), 0o644))
	r := runAgent(t, "-config-file="+path)
	out := r.ui.OutputWriter
	must.StrContains(t, out.String(), "[INFO]  pinlb: agent started")

	must.NoError(t, os.WriteFile(path, []byte("log_json = true\n"+echoConfig(listen, a)), 0o644))
	r.sigs <- syscall.SIGHUP
	testsupport.WaitFor(t, "the reload to be logged as JSON", func() bool {
		return strings.Contains(out.String(), `"@message":"configuration reloaded"`)
	})

	// The file asks for warn, in text: the proxy's "listener ready" (INFO,
	// from a logger made at start) is no longer written...
	must.NoError(t, os.WriteFile(path, []byte("log_level = \"warn\"\n"+echoConfig(listen, a)), 0o644))
	r.sigs <- syscall.SIGHUP
	testsupport.WaitFor(t, "the second reload", func() bool { return r.agent.Status().Reloads == 2 })
	ready := strings.Count(out.String(), "listener ready")
	r.sigs <- syscall.SIGHUP
	testsupport.WaitFor(t, "the third reload", func() bool { return r.agent.Status().Reloads == 3 })
	must.Eq(t, ready, strings.Count(out.String(), "listener ready"))

	// ...and an error is, as text.
	must.NoError(t, os.WriteFile(path, []byte(`listener "echo" { connect_timeout = "5x" }`), 0o644))
	r.sigs <- syscall.SIGHUP
	testsupport.WaitFor(t, "the failed reload to be logged as text", func() bool {
		return strings.Contains(out.String(), "[ERROR] pinlb.agent: reload failed: configuration is invalid")
	})
}

// -log-level wins over log_level, across reloads.
func TestAgentCommand_LogLevelFlagWins(t *testing.T) {
	a := testsupport.StartTCP(t)
	listen := testsupport.FreePort(t)
	path := filepath.Join(t.TempDir(), "pinlb.hcl")
	must.NoError(t, os.WriteFile(path, []byte("log_level = \"error\"\n"+echoConfig(listen, a)), 0o644))
	r := runAgent(t, "-config-file="+path, "-log-level=info")
	must.StrContains(t, r.ui.OutputWriter.String(), "agent started")
	r.sigs <- syscall.SIGHUP
	testsupport.WaitFor(t, "the reload to be logged at info", func() bool {
		return strings.Contains(r.ui.OutputWriter.String(), "configuration reloaded")
	})
}
