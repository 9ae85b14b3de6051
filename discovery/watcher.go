package discovery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"
)

// Tuning of the watch loop, from measurements on Consul 1.22 (see
// website/content/docs/consul.md, "How pinlb watches Consul").
const (
	// DefaultWait is the blocking query's wait. Consul adds up to 1/16 of
	// jitter; the request deadline leaves room for it.
	DefaultWait = 55 * time.Second

	backoffMin = 100 * time.Millisecond
	// backoffMax keeps recovery within a second of Consul coming back.
	backoffMax = time.Second

	// troubledWait is the blocking query's wait while Consul fails or has
	// no leader: how soon a leader's return is seen when nothing changes.
	troubledWait = 5 * time.Second
)

// WatcherInput configures a Watcher.
type WatcherInput struct {
	Client *Client
	Query  Query
	// StaleTTL is how long Consul may be unreachable before the watcher
	// reports its endpoints as stale. 0 never does.
	StaleTTL time.Duration
	Logger   hclog.Logger
	// OnChange receives every new effective set, on the watcher's
	// goroutine, starting with the first answer.
	OnChange func(Snapshot)
	// OnEvent, if set, hears of what the watcher noticed or decided, as
	// the Event kinds say, on the watcher's goroutine.
	OnEvent func(kind, cause string)
	// OnCall, if set, hears of every Consul call: how long it took
	// (a blocking query waits until a change or the wait ends) and its
	// error.
	OnCall func(time.Duration, error)
	// Wait is the blocking query's wait; 0 means DefaultWait.
	Wait time.Duration
	// ResyncHold is how long, after a resync, instances Consul stops
	// listing stay in the snapshot (see resyncHold); 0 never keeps them.
	ResyncHold time.Duration
	// Seed is the last snapshot of the watcher this one replaces, with
	// another client (a reload that changed the Consul settings): the first
	// answer is then a resync of it, not a first sight.
	Seed *Snapshot
}

// Watcher follows one Query with blocking queries and reports the usable
// instances whenever the effective set changes: not when only check output
// or an unusable instance changed.
type Watcher struct {
	in         WatcherInput
	consul     fetcher
	staleReads atomic.Bool // while Consul fails or has no leader, for the fetcher
	pace       pacer
	hold       resyncHold
	// anonymous: the client sends no token. On a Consul that denies by
	// default, an anonymous request sees only what the anonymous token may
	// read, and Consul does not say that it filtered: an empty answer may
	// be a missing token, and is never applied.
	anonymous bool

	mu     sync.Mutex
	status Status
	down   bool // in an outage: the last call failed
}

// NewWatcher returns a watcher; Run starts it.
func NewWatcher(in WatcherInput) *Watcher {
	if in.Wait == 0 {
		in.Wait = DefaultWait
	}
	in.Logger = in.Logger.With("service", in.Query.Service)
	w := &Watcher{
		in:        in,
		pace:      newPacer(),
		hold:      resyncHold{d: in.ResyncHold, logger: in.Logger},
		anonymous: in.Client == nil || in.Client.Anonymous(),
		status:    Status{Since: time.Now()},
	}
	w.consul = healthQuery{client: in.Client, q: in.Query, stale: &w.staleReads}
	return w
}

// Status returns the watcher's current status.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// Run watches until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	var (
		index   uint64
		last    []Instance
		applied bool
		resync  bool // the next answer resynchronises with a Consul we lost
		backoff time.Duration
	)
	if w.in.Seed != nil {
		last, applied, resync = w.in.Seed.Instances, true, true
	}
	for {
		if err := w.pace.wait(ctx); err != nil {
			return
		}
		start := time.Now()
		wait := w.wait(start)
		entries, meta, err := w.consul.fetch(ctx, index, wait)
		if ctx.Err() != nil {
			return
		}
		if w.in.OnCall != nil {
			w.in.OnCall(time.Since(start), err)
		}
		if err != nil {
			w.failed(err, applied)
			// Resynchronise with a read that does not block: a Consul
			// that lost its data holds a query on our old, higher index
			// for the whole wait, and we would learn nothing until then.
			index, resync = 0, true
			backoff = nextBackoff(backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(jittered(backoff)):
			}
			continue
		}
		backoff = 0
		w.pace.answered(len(entries))
		w.reached(w.leaderless(meta))
		woke := meta.LastIndex != index // a write, not the end of the wait
		next, reset, skip := w.nextIndex(index, meta.LastIndex, woke, wait, time.Since(start))
		index, resync = next, resync || reset
		if skip {
			continue
		}

		insts := instances(entries, w.in.Query.IncludeWarning)
		if !w.checkACL(meta, insts, applied) {
			continue
		}
		insts = w.hold.apply(last, insts, resync, time.Now())
		resync = false
		w.setHeld(w.hold.held, w.hold.wake())
		if applied && slices.EqualFunc(last, insts, Instance.equal) {
			if woke {
				w.emit(&eventQueue{{EventUnchanged, fmt.Sprintf("index %d: nothing usable changed", meta.LastIndex)}})
			}
			continue
		}
		last, applied = insts, true
		w.in.OnChange(Snapshot{Instances: insts, Index: meta.LastIndex})
	}
}

// nextIndex is the index to block on after an answer at got to a query on
// index that took took of its wait; reset when the next answer is a
// resync, skip when this one must not be applied.
func (w *Watcher) nextIndex(index, got uint64, woke bool, wait, took time.Duration) (next uint64, reset, skip bool) {
	switch {
	case got < index:
		// The index went backwards (a new cluster, a restore between two
		// queries): this answer is current, but blocking on the old index
		// would wait for changes already missed. Start over.
		w.in.Logger.Debug("consul index went backwards; resetting", "from", index, "to", got)
		return 0, true, false
	case abandoned(woke, index, wait, took):
		// Consul ended the wait early with nothing new: a snapshot restore
		// abandons the state store, and the query answers at once from the
		// old one, with the old index. Blocking on that index again would
		// wait the whole wait for the restored catalog. Read it now, as a
		// resync.
		w.in.Logger.Info("consul ended a blocking query early with nothing new (a snapshot restore?); reading the catalog again", "index", index)
		return 0, true, true
	case got == 0:
		return 1, false, false // never block on 0: it returns at once, for ever
	}
	return got, false, false
}

// abandoned reports whether a blocking query on index, with wait, came back
// after took with nothing new, well before its wait: Consul abandoned the
// state store it waited on. A short wait (a hold's wake-up) says nothing.
func abandoned(woke bool, index uint64, wait, took time.Duration) bool {
	return !woke && index > 1 && wait >= time.Second && took < wait/2
}

// leaderless reports whether an answer came from a server that knows no
// leader. A streaming view never says whether its server knows one.
func (w *Watcher) leaderless(meta *api.QueryMeta) bool {
	return !meta.KnownLeader && w.in.Client != nil && w.in.Client.cfg.Consistency != ReadStreaming
}

// checkACL reports whether an answer may be applied: not one that Consul
// filtered for the token (a token without read rights gets 200 and a
// filtered, often empty, answer, not an error), nor an empty one that a
// missing token explains.
func (w *Watcher) checkACL(meta *api.QueryMeta, insts []Instance, applied bool) bool {
	switch {
	case meta.ResultsFilteredByACLs:
		w.aclProblem(aclFiltered, applied)
		return false
	case len(insts) == 0 && w.anonymous && meta.DefaultACLPolicy == "deny":
		w.aclProblem(aclAnonymous, applied)
		return false
	}
	w.aclProblem("", applied)
	return true
}

// nextBackoff doubles the wait before a retry, from backoffMin up to
// backoffMax.
func nextBackoff(b time.Duration) time.Duration { return min(max(2*b, backoffMin), backoffMax) }

// jittered is a wait in the upper half of b, drawn at random (full jitter
// there), so that many watchers don't retry in step.
func jittered(b time.Duration) time.Duration { return b/2 + rand.N(b/2+1) }

// wait is the blocking query's wait: shorter when a resync hold must end
// before it.
func (w *Watcher) wait(now time.Time) time.Duration {
	d := w.in.Wait
	if w.staleReads.Load() {
		// A stale read wakes on a change of the service only: a new
		// leader that changes nothing of it would go unseen for a whole
		// wait, with the endpoints called stale meanwhile.
		d = min(d, troubledWait)
	}
	if until := w.hold.wake(); !until.IsZero() {
		return min(d, max(until.Sub(now), 50*time.Millisecond))
	}
	return d
}
