//go:build unix

package agent

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// An access log that is a named pipe never holds the reload: with no
// reader it is refused at once, and with one (a log shipper) lines flow
// to it (issue 32, item 8).
func TestAccessLog_NamedPipe(t *testing.T) {
	pipe := filepath.Join(t.TempDir(), "access.pipe")
	must.NoError(t, syscall.Mkfifo(pipe, 0o600))
	l := newAccessLog(hclog.NewNullLogger())
	defer l.close()
	cfg := config.AccessLog{Path: pipe, Format: "text"}

	done := make(chan error, 1)
	go func() { done <- l.configure(cfg) }()
	select {
	case err := <-done:
		must.ErrorContains(t, err, "a named pipe that no process reads")
	case <-time.After(10 * time.Second):
		t.Fatal("configuring a pipe with no reader blocked")
	}

	reader, err := os.OpenFile(pipe, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	must.NoError(t, err)
	defer reader.Close()
	must.NoError(t, l.configure(cfg))
	l.Record(record())
	buf := make([]byte, 4096)
	testsupport.WaitFor(t, "a line through the pipe", func() bool {
		n, _ := reader.Read(buf)
		return n > 0
	})
}
