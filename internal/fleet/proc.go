//go:build linux

package fleet

import (
	"bytes"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
)

// Proc is a process run in a host's namespace, restartable.
type Proc struct {
	host *Host
	name string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    bytes.Buffer
}

func newProc(h *Host, name string, args ...string) *Proc {
	return &Proc{host: h, name: name, args: args}
}

// Start starts the process; its output is kept for Log.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := p.host.Command(p.name, p.args...)
	cmd.Stdout, cmd.Stderr = &syncWriter{p}, &syncWriter{p}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s on %s: %w", p.name, p.host.Name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited
	return nil
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Proc) Kill() { p.signal(syscall.SIGKILL) }

// Stop ends the process with SIGTERM and waits for it.
func (p *Proc) Stop() { p.signal(syscall.SIGTERM) }

func (p *Proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	<-exited
}

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Log is what the process printed.
func (p *Proc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

type syncWriter struct{ p *Proc }

func (w *syncWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.log.Write(b)
}
