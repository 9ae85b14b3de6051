package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/pinlb/pinlb/internal/pinpoint"
)

// proc is a child process, in its own process group so that a terminal's
// Ctrl-C reaches the demo, which stops the children in order.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (d *demo) run(name, bin string, args ...string) *proc {
	log, _ := os.Create(filepath.Join(d.dir, name+".log"))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = log, log, d.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(log, "start: %v\n", err)
		close(p.done)
		return p
	}
	go func() {
		cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p
}

// stop signals the process and waits up to 10s, then kills it.
func (p *proc) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func portFree(p pinpoint.Port) error {
	addr := "127.0.0.1:" + strconv.Itoa(p.Default)
	if p.Protocol == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("%s/udp is in use", addr)
		}
		return c.Close()
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s/tcp is in use", addr)
	}
	return l.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
