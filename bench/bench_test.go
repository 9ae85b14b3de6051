package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoenig/test/must"
)

// missing skips a test whose part is missing, in one line, or fails it
// under `make test`, which sets PINLB_TEST_REQUIRE_ALL (as the main
// module's testsupport.Missing does; this module does not import it).
func missing(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("PINLB_TEST_REQUIRE_ALL") != "" {
		t.Fatalf("missing %s (PINLB_TEST_REQUIRE_ALL is set: every test must run)", what)
	}
	t.Skipf("skipped: needs %s", what)
}

// The harness in smoke mode, as `make test` runs it: a fraction of a second
// per case, once. It checks that every case runs on every target and that
// the report is written, never how fast anything is.
func TestSmoke(t *testing.T) {
	for _, cmd := range []string{"nginx", "haproxy", "iperf3"} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing(t, cmd+" (`make test` installs Debian's nginx libnginx-mod-stream haproxy iperf3)")
		}
	}
	if _, err := os.Stat(nginxModule); err != nil {
		missing(t, "nginx's stream module (Debian's libnginx-mod-stream)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "pinlb")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir, build.Stderr = "..", os.Stderr // the main module
	must.NoError(t, build.Run())

	var out strings.Builder
	rep, err := run(context.Background(), smokeOptions(dir, bin), io.MultiWriter(&out, testLog{t}))
	must.NoError(t, err)
	must.SliceEmpty(t, rep.Failures)
	for _, l := range rep.Lines {
		for _, target := range l.Targets {
			_, ok := l.Median[target]
			must.True(t, ok, must.Sprintf("%s: no figure for %s", l.Title, target))
		}
	}
	must.StrContains(t, out.String(), "pinlb/nginx")
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	must.NoError(t, err)
	var back report
	must.NoError(t, json.Unmarshal(b, &back))
	must.Eq(t, len(rep.Lines), len(back.Lines))
	must.StrHasPrefix(t, "pinlb v", back.Build)
	png, err := os.ReadFile(filepath.Join(dir, "results.png"))
	must.NoError(t, err)
	must.Eq(t, "\x89PNG", string(png[:4]))
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
