package agent

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// historyLen is how far back the dashboard's charts go: 15 minutes of the
// telemetry's samples, one a second. About 30 KiB a listener.
const historyLen = 900

// listenerHistory is one listener's last historyLen samples, as columns
// (the shape the dashboard's charts take), oldest first.
type listenerHistory struct {
	T         []int64  `json:"t"`         // unix milliseconds
	Active    []int64  `json:"active"`    // open TCP connections, or UDP sessions
	Bytes     []uint64 `json:"bytes"`     // in and out since the listener started
	Datagrams []uint64 `json:"datagrams"` // UDP: in since the listener started
}

// history keeps every listener's samples for GET /v1/history.
type history struct {
	mu sync.Mutex
	by map[string]*listenerHistory
}

func newHistory() *history { return &history{by: map[string]*listenerHistory{}} }

// record appends one sample of every listener; listeners gone from ls are
// forgotten.
func (h *history) record(ls []ListenerStatus, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := make(map[string]bool, len(ls))
	for _, l := range ls {
		seen[l.Name] = true
		lh := h.by[l.Name]
		if lh == nil {
			lh = &listenerHistory{}
			h.by[l.Name] = lh
		}
		c := l.Counters
		// Past historyLen the oldest sample goes: the window slides
		// along its array, and append copies it to a new one now and then.
		lh.T = keepLast(append(lh.T, now.UnixMilli()))
		lh.Active = keepLast(append(lh.Active, c.Active+c.Sessions))
		lh.Bytes = keepLast(append(lh.Bytes, c.BytesIn+c.BytesOut))
		lh.Datagrams = keepLast(append(lh.Datagrams, c.DatagramsIn))
	}
	for name := range h.by {
		if !seen[name] {
			delete(h.by, name)
		}
	}
}

// keepLast drops the oldest samples beyond historyLen.
func keepLast[T any](s []T) []T { return s[max(0, len(s)-historyLen):] }

// since returns every listener's samples after the unix millisecond ms.
func (h *history) since(ms int64) map[string]listenerHistory {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]listenerHistory, len(h.by))
	for name, lh := range h.by {
		i := len(lh.T)
		for i > 0 && lh.T[i-1] > ms {
			i--
		}
		out[name] = listenerHistory{ // copies: the answer is encoded after the lock
			T: slices.Clone(lh.T[i:]), Active: slices.Clone(lh.Active[i:]),
			Bytes: slices.Clone(lh.Bytes[i:]), Datagrams: slices.Clone(lh.Datagrams[i:]),
		}
	}
	return out
}

// serveHistory is GET /v1/history: every listener's samples of the last
// 15 minutes, or those after ?since= (unix milliseconds, the last t a
// client has).
func (a *apiRoutes) serveHistory(w http.ResponseWriter, r *http.Request) {
	var since int64
	if s := r.URL.Query().Get("since"); s != "" {
		var err error
		if since, err = strconv.ParseInt(s, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, "since=%q is not a time in unix milliseconds (the last t of the previous answer)", s)
			return
		}
	}
	writeJSON(w, http.StatusOK, a.tel.history.since(since))
}
