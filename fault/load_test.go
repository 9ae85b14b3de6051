package fault

import (
	"sync"
	"sync/atomic"
	"time"
)

// load is clients that connect, echo one message and close, in a loop,
// until stopped: each connection counts as ok or failed.
type load struct {
	ok, failed atomic.Int64
	slow       atomic.Int64 // connections that took longer than slowAfter
	stopCh     chan struct{}
	wg         sync.WaitGroup
	mu         sync.Mutex
	firstErr   error
	failedAt   []time.Time // when each failed connection started
}

const slowAfter = 900 * time.Millisecond

// startLoad runs workers clients against addr, each pausing pause between
// connections.
func startLoad(addr string, workers int, pause time.Duration) *load {
	l := &load{stopCh: make(chan struct{})}
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stopCh:
					return
				default:
				}
				start := time.Now()
				if err := dialEcho(addr, 10*time.Second); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if l.firstErr == nil {
						l.firstErr = err
					}
					l.failedAt = append(l.failedAt, start)
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
				}
				if time.Since(start) > slowAfter {
					l.slow.Add(1)
				}
				time.Sleep(pause)
			}
		})
	}
	return l
}

// failedSince counts the failed connections that started at t or later.
func (l *load) failedSince(t time.Time) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := int64(0)
	for _, at := range l.failedAt {
		if !at.Before(t) {
			n++
		}
	}
	return n
}

// stop ends the load and returns its counts.
func (l *load) stop() (ok, failed int64, firstErr error) {
	close(l.stopCh)
	l.wg.Wait()
	return l.ok.Load(), l.failed.Load(), l.firstErr
}
