package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/pinlb/pinlb/proxy"
	"github.com/shoenig/test/must"
)

func record() *proxy.Record {
	return &proxy.Record{Listener: "grpc", Protocol: proxy.TCP, Start: time.Now(), Status: "ok"}
}

// On a full disk every line is counted as dropped and said once, not lost
// without a word; once the file can be written again, lines get there,
// with no restart and no signal.
func TestAccessLog_FullDiskDropsCountsAndRecovers(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		testsupport.Missing(t, "/dev/full, a file every write to fails with ENOSPC")
		return
	}
	var out testsupport.LogBuffer
	l := newAccessLog(hclog.New(&hclog.LoggerOptions{Output: &out}))
	defer l.close()
	must.NoError(t, l.configure(config.AccessLog{Path: "/dev/full", Format: "text"}))
	for range 5 {
		l.Record(record())
	}
	testsupport.WaitFor(t, "5 lines counted as dropped, and said", func() bool {
		return l.dropped.Load() == 5 && strings.Contains(out.String(), "access log lines dropped")
	})
	must.Eq(t, 1, strings.Count(out.String(), "access log lines dropped: the file cannot be written"), must.Sprint(out.String()))
	must.StrContains(t, out.String(), "no space left on device")

	var disk testsupport.LogBuffer // the disk has room again
	l.mu.Lock()
	l.w.out = &disk
	l.mu.Unlock()
	l.Record(record())
	testsupport.WaitFor(t, "the next line written", func() bool { return strings.Contains(disk.String(), "listener=\"grpc\"") })
	must.Eq(t, 5, l.dropped.Load())
}

// A reload that keeps the path opens the file again, as SIGUSR2 does: after
// logrotate moved it, lines go to a new file under the name.
func TestAccessLog_ReloadReopensTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l := newAccessLog(hclog.NewNullLogger())
	defer l.close()
	cfg := config.AccessLog{Path: path, Format: "text"}
	must.NoError(t, l.configure(cfg))
	l.Record(record())
	testsupport.WaitFor(t, "the first line", func() bool { b, _ := os.ReadFile(path); return len(b) > 0 })
	must.NoError(t, os.Rename(path, path+".1")) // logrotate
	must.NoError(t, l.configure(cfg))           // SIGHUP
	l.Record(record())
	testsupport.WaitFor(t, "a line in the new file", func() bool { b, _ := os.ReadFile(path); return len(b) > 0 })
}
