package discovery

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// Status says how a watcher's conversation with Consul goes.
type Status struct {
	Reachable   bool      // the last call succeeded
	LastContact time.Time // of the last successful call
	// Since is when the current state (reachable or not) began.
	Since time.Time
	// LastError is the last failure's message, while unreachable.
	LastError string
	// Stale is set when Consul has been unreachable for longer than the
	// stale TTL, or answers without a leader: the endpoints served may be
	// out of date.
	Stale bool
	// NoLeader is set while Consul answers without a leader (its servers
	// lost their quorum): no change can be written until one is elected.
	NoLeader bool
	// ACLFiltered is set while Consul hides instances from the token, or
	// may (an empty answer to an anonymous request on a Consul that denies
	// by default): the watcher keeps the last set it could see instead.
	ACLFiltered bool
	// ACLProblem says which, while ACLFiltered.
	ACLProblem string
	// Held counts the instances Consul no longer lists that the resync
	// hold keeps, until HoldUntil.
	Held      int
	HoldUntil time.Time
}

// What an ACLProblem says.
const (
	aclFiltered  = "consul filtered the answer: the token cannot read every instance"
	aclAnonymous = "consul denies by default and the request has no token: an empty answer may only mean that the anonymous token cannot read the service"
)

// failed records a failed call, logging only when the state changes.
func (w *Watcher) failed(err error, haveEndpoints bool) {
	now := time.Now()
	var events eventQueue
	defer w.emit(&events) // after the unlock
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &w.status
	s.Reachable, s.LastError = false, err.Error()
	w.setNoLeader(noLeader(err), &events)
	if !w.down {
		w.down, s.Since = true, now
		msg := "consul unreachable; serving the last known endpoints"
		if !haveEndpoints {
			msg = "consul unreachable; the pool stays empty until consul answers"
		}
		w.in.Logger.Warn(msg, "error", describe(err))
		events.add(EventUnreachable, describe(err))
		return
	}
	if ttl := w.in.StaleTTL; ttl > 0 && !s.Stale && haveEndpoints && now.Sub(s.Since) > ttl {
		s.Stale = true
		w.in.Logger.Error("consul unreachable for longer than stale_ttl; still serving the last known endpoints, which may be out of date",
			"stale_ttl", ttl, "unreachable_for", now.Sub(s.Since).Round(time.Second), "error", describe(err))
		events.add(EventStale, fmt.Sprintf("unreachable for longer than stale_ttl (%s); serving the last known endpoints", ttl))
	}
}

// reached records a successful call, and whether its server knew no leader.
func (w *Watcher) reached(leaderless bool) {
	now := time.Now()
	var events eventQueue
	defer w.emit(&events) // after the unlock
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &w.status
	if w.down {
		w.in.Logger.Info("consul reachable again", "unreachable_for", now.Sub(s.Since).Round(time.Millisecond))
		events.add(EventReachable, fmt.Sprintf("after %s unreachable", now.Sub(s.Since).Round(time.Millisecond)))
	}
	if !s.Reachable {
		s.Since = now
	}
	w.down = false
	s.Reachable, s.LastContact, s.LastError, s.Stale = true, now, "", false
	w.setNoLeader(leaderless, &events)
}

// setNoLeader records whether Consul has a leader, logging when that
// changes. Without one, the endpoints are stale at once: nothing can be
// written until a leader is elected. It also sets the read mode of the next
// query (see healthQuery.stale). w.mu is held, and Reachable set.
func (w *Watcher) setNoLeader(noLeader bool, events *eventQueue) {
	s := &w.status
	switch {
	case noLeader && !s.NoLeader:
		w.in.Logger.Warn("consul has no leader (its servers lost their quorum); serving the last known endpoints, which cannot change until one is elected")
		events.add(EventStale, "consul has no leader: its servers lost their quorum")
	case !noLeader && s.NoLeader:
		w.in.Logger.Info("consul has a leader again")
		events.add(EventReachable, "consul has a leader again")
	}
	s.NoLeader = noLeader
	s.Stale = s.Stale || noLeader
	w.staleReads.Store(noLeader || !s.Reachable)
}

// noLeader reports whether a call failed because Consul's servers have no
// leader: the agent answered, the cluster could not.
func noLeader(err error) bool {
	return strings.Contains(err.Error(), "No cluster leader")
}

// aclProblem records whether an answer was refused for an ACL problem,
// logging when that changes.
func (w *Watcher) aclProblem(problem string, haveEndpoints bool) {
	var events eventQueue
	defer w.emit(&events) // after the unlock
	w.mu.Lock()
	defer w.mu.Unlock()
	if problem == w.status.ACLProblem {
		return
	}
	w.status.ACLFiltered, w.status.ACLProblem = problem != "", problem
	if problem != "" {
		events.add(EventHeld, problem)
	}
	switch problem {
	case "":
		w.in.Logger.Info("consul token can read the service again")
		return
	case aclAnonymous:
		w.in.Logger.Error("consul answered no instance to a request without a token, on a consul that denies by default; not applying it",
			"fix", "set consul { token } or CONSUL_HTTP_TOKEN to a token with service:read and node:read", "pool", keeping(haveEndpoints))
	default:
		w.in.Logger.Error("consul token cannot read every instance; ignoring the filtered answer",
			"needs", fmt.Sprintf(`service:read on %q and node:read on its nodes`, w.in.Query.Service), "pool", keeping(haveEndpoints))
	}
}

func keeping(haveEndpoints bool) string {
	if haveEndpoints {
		return "keeping the last endpoints it could see"
	}
	return "stays empty until the token is fixed"
}

// setHeld records what the resync hold keeps.
func (w *Watcher) setHeld(n int, until time.Time) {
	var events eventQueue
	defer w.emit(&events) // after the unlock
	w.mu.Lock()
	defer w.mu.Unlock()
	if n > w.status.Held {
		events.add(EventHeld, fmt.Sprintf("resync hold: keeping %d instances consul no longer lists, until %s", n, until.Format(time.RFC3339)))
	}
	w.status.Held, w.status.HoldUntil = n, until
}

// Event kinds a watcher reports through WatcherInput.OnEvent, besides
// each applied answer, which OnChange hears of.
const (
	EventUnreachable = "unreachable" // a call failed after one that did not
	EventReachable   = "reachable"   // Consul answers again, or has a leader again
	EventStale       = "stale"       // the endpoints may be out of date: stale_ttl passed, or no leader
	EventHeld        = "held"        // an answer, or part of one, held back: an ACL problem or the resync hold
	EventUnchanged   = "unchanged"   // an answer that changed nothing usable (check output, say)
)

// eventQueue holds the events of a status change, for emit once w.mu is
// released: the hook may take locks of its own.
type eventQueue []struct{ kind, cause string }

func (q *eventQueue) add(kind, cause string) {
	*q = append(*q, struct{ kind, cause string }{kind, cause})
}

func (w *Watcher) emit(q *eventQueue) {
	if w.in.OnEvent == nil {
		return
	}
	for _, e := range *q {
		w.in.OnEvent(e.kind, e.cause)
	}
}

// describe adds a hint to errors an operator can act on.
func describe(err error) string {
	var se api.StatusError
	if errors.As(err, &se) && se.Code == 403 {
		return err.Error() + " (the consul token is missing or lacks rights; see consul { token } or CONSUL_HTTP_TOKEN)"
	}
	return err.Error()
}
