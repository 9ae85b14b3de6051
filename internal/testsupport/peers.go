package testsupport

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// NginxStreamModule is where Debian's libnginx-mod-stream puts the module.
const NginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// StartNginx runs nginx in the foreground on the body of a stream {} block,
// with the stream module loaded, and waits until addr accepts. It stops at
// the end of the test.
func StartNginx(t testing.TB, stream, addr string) {
	t.Helper()
	if _, err := exec.LookPath("nginx"); err != nil {
		Missing(t, "nginx (`make test` installs Debian's nginx and libnginx-mod-stream)")
	}
	if _, err := os.Stat(NginxStreamModule); err != nil {
		Missing(t, "nginx's stream module (Debian's libnginx-mod-stream)")
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
load_module %[2]s;
events { worker_connections 1024; }
stream {
%[3]s
}
`, dir, NginxStreamModule, stream)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startPeer(t, dir, addr, "nginx", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
}

// StartHAProxy runs HAProxy in the foreground on the sections after its
// defaults (mode tcp), and waits until addr accepts. It stops at the end of
// the test.
func StartHAProxy(t testing.TB, sections, addr string) {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		Missing(t, "HAProxy (`make test` installs Debian's haproxy)")
	}
	dir := t.TempDir()
	conf := `defaults
  mode tcp
  timeout connect 5s
  timeout client 1m
  timeout server 1m
` + sections
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startPeer(t, dir, addr, "haproxy", "-db", "-f", path)
}

// startPeer runs a peer's process until the end of the test and waits
// until addr accepts; its output goes to dir/output.log, shown on failure.
func startPeer(t testing.TB, dir, addr string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, "output.log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", args[0], err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		out.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s exited: %s", args[0], b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s does not accept on %s after 10s: %s", args[0], addr, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
