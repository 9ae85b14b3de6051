package pool

import "time"

// failed records a failed connect and reports whether it took the backend
// out: maxFails failures within failTimeout do, for failTimeout, and so
// does one failure on probation. Exactly one of the connects that fail
// together takes it out; those still in flight when it went out count for
// nothing.
func (b *Backend) failed(now int64, maxFails int, failTimeout time.Duration) bool {
	if maxFails <= 0 {
		return false
	}
	until := b.downUntil.Load()
	switch {
	case until > now:
		return false
	case b.probation.Load():
		return b.downUntil.CompareAndSwap(until, now+int64(failTimeout))
	}
	if now-b.failSince.Load() > int64(failTimeout) {
		b.failSince.Store(now)
		b.fails.Store(0)
	}
	if b.fails.Add(1) != int64(maxFails) {
		return false
	}
	b.fails.Store(0)
	if !b.downUntil.CompareAndSwap(until, now+int64(failTimeout)) {
		return false
	}
	b.probation.Store(true)
	return true
}

// succeeded forgets the failures of the current window, and ends the
// probation of a backend back from passive failure: it reports whether it
// did.
func (b *Backend) succeeded() bool {
	if b.fails.Load() != 0 {
		b.fails.Store(0)
	}
	return b.probation.Load() && b.probation.CompareAndSwap(true, false)
}

// onProbation reports whether the backend is back from passive failure
// and has not connected since.
func (b *Backend) onProbation(now int64) bool {
	return b.probation.Load() && b.downUntil.Load() <= now
}
