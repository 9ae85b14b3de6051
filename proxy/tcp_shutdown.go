//go:build linux

package proxy

import (
	"context"
	"time"

	"golang.org/x/sys/unix"
)

func (l *tcpListener) Shutdown(ctx context.Context) error {
	l.stopping.Store(true) // the watchdog asks h2c clients to move
	l.stopOnce.Do(func() {
		l.takeAcceptQueue(ctx)
		l.unlisten()
		unix.Close(l.fd)
	})
	drained := make(chan struct{})
	go func() {
		l.handlers.Wait()
		close(drained)
	}()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
		l.forceClose()
		<-drained
	}
	l.endOnce.Do(func() {
		close(l.watchDone)
		l.cancelDial()
		reactors.Release()
	})
	return err
}

// acceptQueueWait bounds how long Shutdown lets the accept loop take the
// connections the kernel has already completed.
const acceptQueueWait = time.Second

// takeAcceptQueue waits, briefly, until the reactors have taken every
// connection in the socket's accept queue: the kernel completed those
// handshakes, their clients may have sent data already, and closing the
// socket would reset them. The ones taken drain with the others.
func (l *tcpListener) takeAcceptQueue(ctx context.Context) {
	deadline := time.Now().Add(acceptQueueWait)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if n, err := acceptQueueLen(l.fd); err != nil || n == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// forceClose closes every open connection and cancels connects in progress.
func (l *tcpListener) forceClose() {
	l.mu.Lock()
	l.forced = true
	n := len(l.conns)
	for c := range l.conns {
		c.abort(outcomeShutdown)
	}
	l.mu.Unlock()
	l.cancelDial()
	for _, a := range l.acceptors { // the reactors' headers and connects in progress
		r := a.r
		r.Post(func() { cancelConnects(r, l) })
	}
	if n > 0 {
		l.logger.Warn("closed connections still open at the deadline", "connections", n)
	}
}
