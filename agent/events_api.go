package agent

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Waits of a blocking /v1/events request, as Consul's: 5 minutes unless
// ?wait= says, 10 at most.
const (
	defaultEventWait = 5 * time.Minute
	maxEventWait     = 10 * time.Minute
)

// serveEvents is GET /v1/events: the kept events, oldest first, that
// ?since= (a time, or a duration back from now) and ?listener= select.
// With ?index=N it is a blocking query in Consul's style: it answers with
// the events after index N, waiting up to ?wait= for the first one. The
// X-Pinlb-Index header is the newest event's index, to pass as the next
// ?index=.
func (a *apiRoutes) serveEvents(w http.ResponseWriter, r *http.Request) {
	f, wait, blocking, err := eventQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%s", err)
		return
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		events, last, grown := a.events.read(f)
		if len(events) > 0 || !blocking {
			writeEvents(w, events, last)
			return
		}
		// What was read matched nothing: the next read starts after it, so
		// that a wake-up costs the events it brings, not a rescan of the
		// ring under its lock.
		f.after = last
		select {
		case <-grown:
		case <-deadline.C:
			writeEvents(w, events, last)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func writeEvents(w http.ResponseWriter, events []Event, last uint64) {
	if events == nil {
		events = []Event{}
	}
	w.Header().Set("X-Pinlb-Index", strconv.FormatUint(last, 10))
	writeJSON(w, http.StatusOK, events)
}

// eventQuery reads the parameters of /v1/events.
func eventQuery(r *http.Request) (f eventFilter, wait time.Duration, blocking bool, err error) {
	q := r.URL.Query()
	f.listener = q.Get("listener")
	if s := q.Get("since"); s != "" {
		if f.since, err = parseSince(s, time.Now()); err != nil {
			return f, 0, false, err
		}
	}
	if s := q.Get("index"); s != "" {
		if f.after, err = strconv.ParseUint(s, 10, 64); err != nil {
			return f, 0, false, fmt.Errorf("index=%q is not an event index (the X-Pinlb-Index of the last answer)", s)
		}
		blocking = true
	}
	wait = defaultEventWait
	if s := q.Get("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil || wait < 0 {
			return f, 0, false, fmt.Errorf("wait=%q is not a duration such as 30s", s)
		}
		wait = min(wait, maxEventWait)
	}
	return f, wait, blocking, nil
}

// parseSince reads ?since=: an RFC 3339 time, or a duration back from now
// ("15m": the last 15 minutes).
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("since=%q is neither an RFC 3339 time (2026-12-02T09:41:07Z) nor a duration back from now (15m)", s)
}
