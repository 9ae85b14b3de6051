package discovery

import (
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// resyncHold keeps, for a bounded time after a resync, the instances that
// Consul stopped listing. A resync is the first answer after Consul was
// unreachable, after its index went backwards, or from a new client (a
// reload). A Consul that lost its data (a dev agent, a lost data dir, a
// rebuilt cluster) first answers with an empty or partial catalog, until
// its client agents re-register their services by anti-entropy: absence
// in that answer is not evidence. What Consul does list is applied at
// once, critical checks included; the hold only keeps the absent.
//
// An instance the hold keeps stays kept until Consul lists it usable: a
// collector that registers again after a wipe starts with its checks
// critical (Consul's default for a new check), and that first critical
// answer says only that no check has run yet.
//
// The hold ends when an answer lists every instance it keeps as usable
// (the resync is complete), or when its duration is over: then the answer
// is applied as it is, so that a real scale-in lands, at most that late.
type resyncHold struct {
	d      time.Duration // 0: never hold
	logger hclog.Logger

	until time.Time
	held  int // instances kept now
}

// apply returns the set to use for Consul's answer insts, given the set
// last used; resync says that insts is the first answer of a resync.
func (h *resyncHold) apply(last, insts []Instance, resync bool, now time.Time) []Instance {
	if resync && h.d > 0 && len(last) > 0 {
		h.until = now.Add(h.d)
	}
	if !now.Before(h.until) {
		h.end("resync hold over; removing the instances consul still does not list")
		return insts
	}
	out, absent := withHeld(insts, last)
	if len(absent) == 0 {
		h.end("consul lists every held instance as usable again; resync complete")
		h.until = time.Time{}
		return insts
	}
	if h.held == 0 {
		h.logger.Warn("consul answered without instances it listed before, right after a resync (restarted or rebuilt consul?); keeping them until it lists them again or resync_hold ends",
			"absent", len(absent), "instances", strings.Join(absent, ","), "until", h.until.Format(time.RFC3339), "resync_hold", h.d)
	}
	h.held = len(absent)
	return out
}

// end logs why a hold that kept instances ends.
func (h *resyncHold) end(why string) {
	if h.held > 0 {
		h.logger.Info(why, "held", h.held)
	}
	h.held = 0
}

// wake is when the watcher must look again, though Consul says nothing
// new: when a hold that keeps instances ends. Zero: no hold.
func (h *resyncHold) wake() time.Time {
	if h.held == 0 {
		return time.Time{}
	}
	return h.until
}

// withHeld returns insts with the instances of last that it lacks, and
// those last held that it lists but not usable, as last had them, marked
// Held, sorted by ID; and the IDs of those.
func withHeld(insts, last []Instance) ([]Instance, []string) {
	var held []string
	out := slices.Clone(insts)
	for _, old := range last {
		i, found := slices.BinarySearchFunc(insts, old.ID, func(i Instance, id string) int { return strings.Compare(i.ID, id) })
		if found && (!old.Held || insts[i].Usable()) {
			continue // listed, and not held, or usable again
		}
		old.Held = true
		if found {
			out[i] = old
		} else {
			out = append(out, old)
		}
		held = append(held, old.ID)
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out, held
}
