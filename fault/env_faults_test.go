package fault

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
)

// symlinkedConfigDir: a configuration directory as a Kubernetes ConfigMap
// mounts it (every file a symlink into a timestamped directory, swapped
// at once by renaming ..data). pinlb reads it at start and after a swap.
func symlinkedConfigDir(t *testing.T) {
	a := testsupport.StartTCP(t)
	dir := t.TempDir()
	grpc, stat := testsupport.FreePort(t), testsupport.FreePort(t)
	configMap(t, dir, "..v1", staticListener("grpc", grpc, "", addrs(a)...))
	p := startPinlb(t, "", 0, "-config-dir="+dir)
	figure(t, "listener of the symlinked file served", dialEcho(grpc, time.Second) == nil, dialEcho(grpc, time.Second) == nil)
	configMap(t, dir, "..v2", staticListener("grpc", grpc, "", addrs(a)...)+staticListener("stat", stat, "", addrs(a)...))
	code, body := p.reload()
	figure(t, "reload after the swap, the new listener served", fmt.Sprintf("%d, %v", code, dialEcho(stat, time.Second) == nil),
		code == 200 && dialEcho(stat, time.Second) == nil)
	if code != 200 {
		t.Log(body)
	}
}

// configMap writes body into dir/version/listeners.hcl and points dir's
// ..data and listeners.hcl at it, the way the kubelet does.
func configMap(t *testing.T, dir, version, body string) {
	must(t, os.Mkdir(filepath.Join(dir, version), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, version, "listeners.hcl"), []byte(body), 0o644))
	tmp := filepath.Join(dir, "..data_tmp")
	must(t, os.Symlink(version, tmp))
	must(t, os.Rename(tmp, filepath.Join(dir, "..data")))
	if _, err := os.Lstat(filepath.Join(dir, "listeners.hcl")); err != nil {
		must(t, os.Symlink("..data/listeners.hcl", filepath.Join(dir, "listeners.hcl")))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// pipeTokenFile: a named pipe with no writer as consul { token_file }.
// validate refuses it at once; a reload refuses it and the agent keeps
// serving, its API and signals answered.
func pipeTokenFile(t *testing.T) {
	a := testsupport.StartTCP(t)
	listen := testsupport.FreePort(t)
	good := staticListener("grpc", listen, "", addrs(a)...)
	fifo := filepath.Join(t.TempDir(), "token")
	must(t, mkfifo(fifo))
	bad := fmt.Sprintf("consul { token_file = %q }\n%s", fifo, good)
	file := filepath.Join(t.TempDir(), "bad.hcl")
	must(t, os.WriteFile(file, []byte(bad), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, pinlbBin, "validate", file).CombinedOutput()
	figure(t, "validate refuses the pipe", ctx.Err() == nil && strings.Contains(string(out), "named pipe"),
		ctx.Err() == nil && strings.Contains(string(out), "named pipe"))

	p := startPinlb(t, good, 0)
	p.write(bad)
	start := time.Now()
	code, _ := p.reload()
	figure(t, "reload refused, after", fmt.Sprintf("%d, %v", code, time.Since(start).Round(time.Millisecond)), code != 200 && time.Since(start) < 5*time.Second)
	_, err := p.status()
	figure(t, "API and listener still answer", err == nil && dialEcho(listen, time.Second) == nil, err == nil && dialEcho(listen, time.Second) == nil)
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		figure(t, "SIGTERM stops it", true, true)
	case <-time.After(10 * time.Second):
		figure(t, "SIGTERM stops it", false, false)
	}
}

// fullDisk: the access log's volume fills up under traffic. Every line
// that cannot be written is counted, and lines are written again once
// there is room, with no signal and no restart.
func fullDisk(t *testing.T) {
	dir := smallVolume(t, "256k")
	a := testsupport.StartTCP(t)
	listen := testsupport.FreePort(t)
	path := filepath.Join(dir, "access.log")
	p := startPinlb(t, fmt.Sprintf("access_log { path = %q }\n%s", path, staticListener("grpc", listen, "", addrs(a)...)), 0)
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	filled := time.Now()
	l := startLoad(listen, 4, time.Millisecond)
	testsupport.WaitFor(t, "lines counted as dropped", func() bool { return accessLogDropped(t, p) > 0 })
	l.stop()
	dropped := accessLogDropped(t, p)
	figure(t, "lines dropped on the full volume, counted", dropped, dropped > 0)
	said := strings.Count(p.out.String(), "access log lines dropped")
	figure(t, "said, at most once a second", said, said >= 1 && said <= 1+int(time.Since(filled).Seconds()))
	must(t, os.Remove(filler))
	before := fileSize(path)
	for range 20 {
		dialEcho(listen, time.Second)
	}
	testsupport.WaitFor(t, "lines written again", func() bool { return fileSize(path) > before })
	figure(t, "written again once there is room", fileSize(path) > before, true)
}

// smallVolume mounts a tmpfs of size for the test (root only).
func smallVolume(t *testing.T, size string) string {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		testsupport.Missing(t, fmt.Sprintf("a tmpfs mount (root): %v %s", err, out))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes to path until its volume is full.
func fill(t *testing.T, path string) {
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			return
		}
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

var droppedLine = regexp.MustCompile(`(?m)^pinlb_access_log_dropped_total (\S+)`)

// accessLogDropped reads pinlb_access_log_dropped_total.
func accessLogDropped(t *testing.T, p *proc) int {
	resp, err := apiClient.Get("http://" + p.api + "/v1/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := droppedLine.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseFloat(string(m[1]), 64)
	return int(n)
}
