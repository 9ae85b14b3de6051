package fault

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
)

// reloadStorm reloads a busy agent again and again, by SIGHUP and by the
// API, swapping its backends: not one connection may fail.
func reloadStorm(t *testing.T) {
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	listen := testsupport.FreePort(t)
	p := startPinlb(t, staticListener("grpc", listen, "", addrs(a)...), 0)
	l := startLoad(listen, 8, time.Millisecond)
	reloads := scale(30, 100)
	for i := range reloads {
		if i%2 == 0 {
			p.write(staticListener("grpc", listen, "", addrs(b)...))
		} else {
			p.write(staticListener("grpc", listen, "", addrs(a, b)...))
		}
		if i%3 == 0 {
			if code, body := p.reload(); code != 200 {
				t.Fatalf("reload %d: %d %s", i, code, body)
			}
		} else {
			p.signal(syscall.SIGHUP)
		}
		time.Sleep(20 * time.Millisecond) // paces the storm; the load runs meanwhile
	}
	testsupport.WaitFor(t, "every reload counted", func() bool {
		s, err := p.status()
		return err == nil && s.Reloads == uint64(reloads)
	})
	ok, failed, err := l.stop()
	s, _ := p.status()
	figure(t, "reloads (errors)", fmt.Sprintf("%d (%d)", s.Reloads, s.ReloadErrors), s.ReloadErrors == 0)
	figure(t, "connections ok", ok, ok > 0)
	figure(t, "connections failed", failed, failed == 0)
	if err != nil {
		t.Logf("first failure: %v", err)
	}
}

// badConfigs pushes files that crashed, stalled or bloated pinlb before:
// validate says why in a screen at most; SIGHUP and the API keep the
// running configuration, and the agent serves throughout.
func badConfigs(t *testing.T) {
	a := testsupport.StartTCP(t)
	listen := testsupport.FreePort(t)
	good := staticListener("grpc", listen, "", addrs(a)...)
	p := startPinlb(t, good, 0)
	dir := t.TempDir()
	cases := []struct{ name, content string }{
		{"60k brackets", "x = " + strings.Repeat("[", 60_000)},
		{"200k operators", "x = " + strings.Repeat("!", 200_000) + "true"},
		{"10 MB", strings.Repeat("garbage ", 10<<17)},
		{"200 KB of garbage", strings.Repeat("x = \"a\" \"b\" ~ $ ;\n", 10_000)},
		{"JSON 100k deep", strings.Repeat("[", 100_000)},
	}
	for i, c := range cases {
		name := filepath.Join(dir, fmt.Sprintf("bad%d.hcl", i))
		if strings.HasPrefix(c.name, "JSON") {
			name = strings.TrimSuffix(name, ".hcl") + ".json"
		}
		if err := os.WriteFile(name, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		out, err := exec.Command(pinlbBin, "validate", name).CombinedOutput()
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		figure(t, c.name+": validate exit, bytes", fmt.Sprintf("%d, %d", code, len(out)),
			code == 1 && len(out) < 16<<10 && !strings.Contains(string(out), "goroutine "))
		t.Logf("%s: validate took %v", c.name, time.Since(start).Round(time.Millisecond))

		p.write(c.content)
		if i%2 == 0 {
			p.signal(syscall.SIGHUP)
		} else if code, _ := p.reload(); code != 400 {
			t.Errorf("%s: POST /v1/reload answered %d, want 400", c.name, code)
		}
		testsupport.WaitFor(t, "the reload to fail", func() bool {
			s, err := p.status()
			return err == nil && s.ReloadErrors == uint64(i+1)
		})
		s, _ := p.status()
		figure(t, c.name+": agent serves, error bytes", len(s.LastReload.Error),
			p.alive() && dialEcho(listen, 5*time.Second) == nil && len(s.LastReload.Error) < 16<<10)
	}
	p.write(good)
}
