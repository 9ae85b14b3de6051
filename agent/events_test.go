package agent

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// A million events through the ring: it keeps the newest eventCapacity,
// in order, and its memory stays what the ring holds.
func TestEventLog_StaysBounded(t *testing.T) {
	l := newEventLog()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	push := func(from, n int) {
		for i := from; i < from+n; i++ {
			l.add(Event{Kind: EventJoined, Listener: "grpc", Endpoint: "10.0.0.1:9991", Cause: "event " + strconv.Itoa(i)})
		}
	}
	push(0, eventCapacity) // the ring is full: what it holds from now on is its size
	full := heap()
	push(eventCapacity, 1_000_000-eventCapacity)
	grown := int64(heap()) - int64(full)
	t.Logf("heap after the ring filled: %d KiB; after 1M events: %+d KiB", full/1024, grown/1024)
	must.Less(t, int64(256<<10), grown, must.Sprint("the heap grew with the events pushed through"))

	events, last, _ := l.read(eventFilter{})
	must.Eq(t, uint64(1_000_000), last)
	must.SliceLen(t, eventCapacity, events)
	must.Eq(t, uint64(1_000_000-eventCapacity+1), events[0].Index)
	must.Eq(t, "event 999999", events[len(events)-1].Cause)
}

func TestEventLog_FiltersAndWakes(t *testing.T) {
	l := newEventLog()
	t0 := time.Now()
	l.add(Event{Kind: EventReloaded, Time: t0.Add(-time.Hour)})
	l.add(Event{Kind: EventJoined, Listener: "a", Time: t0})
	l.add(Event{Kind: EventJoined, Listener: "b", Time: t0})

	got, last, grown := l.read(eventFilter{listener: "a"})
	must.Eq(t, uint64(3), last)
	must.Eq(t, []string{EventReloaded, EventJoined}, kinds(got)) // a's, and the one of no listener
	got, _, _ = l.read(eventFilter{since: t0.Add(-time.Minute)})
	must.SliceLen(t, 2, got)
	got, _, _ = l.read(eventFilter{after: 2})
	must.Eq(t, uint64(3), got[0].Index)

	select {
	case <-grown:
		t.Fatal("woken before an event")
	default:
	}
	l.add(Event{Kind: EventJoined, Listener: "b"})
	select {
	case <-grown:
		t.Fatal("b's event woke a reader of a's")
	default:
	}
	l.add(Event{Kind: EventLeft, Listener: "a"})
	select {
	case <-grown:
	case <-time.After(time.Second):
		t.Fatal("a's event woke no reader of a's")
	}
	_, _, all := l.read(eventFilter{})
	_, _, ofA := l.read(eventFilter{listener: "a"})
	l.add(Event{Kind: EventReloaded}) // of no listener: it concerns every reader
	for _, ch := range []<-chan struct{}{all, ofA} {
		select {
		case <-ch:
		case <-time.After(time.Second):
			t.Fatal("an event of no listener woke not every reader")
		}
	}
}

// Readers of more listener names than maxWakeFilters wait with the
// readers of every listener: the names a client sends cannot grow the
// table.
func TestEventLog_WakeFiltersAreBounded(t *testing.T) {
	l := newEventLog()
	for i := range maxWakeFilters + 100 {
		l.read(eventFilter{listener: strconv.Itoa(i)})
	}
	must.Eq(t, maxWakeFilters+1, len(l.grown)) // and "", every listener's
	_, _, late := l.read(eventFilter{listener: "late"})
	l.add(Event{Kind: EventJoined, Listener: "x"})
	select {
	case <-late:
	default:
		t.Fatal("a reader beyond the bound was not woken with every listener's")
	}
}

func kinds(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Kind)
	}
	return out
}

// The timeline of a running agent, through its API, against a real
// Consul: a collector joins, is ejected by passive health when it dies, one
// goes into maintenance, and a reload is refused; a blocking ?index= query
// wakes on the next event.
func TestEvents_TimelineOfARunningAgent(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	live, dead := testsupport.StartTCP(t), testsupport.StartTCP(t)
	collector(t, c, "live", live.Addr.Port())
	collector(t, c, "dead", dead.Addr.Port())
	l := consulListener(t, "grpc", config.Upstream{})
	l.MaxFails, l.FailTimeout = 1, time.Minute
	ag := startConfig(t, &config.Config{
		Consul:    config.Consul{Address: srv.HTTP, StaleTTL: time.Minute},
		API:       config.API{Enabled: true, Address: "127.0.0.1:0"},
		Listeners: []config.Listener{l},
	}, testWriter{t})
	base := "http://" + ag.APIAddr().String() + "/v1/events"
	waitEndpoints(t, ag, "grpc", live.Addr.Port(), dead.Addr.Port())
	start, _ := getEvents(t, base+"?listener=grpc")
	must.Eq(t, []string{EventAdded, EventJoined, EventJoined, EventApplied}, kinds(start))
	must.StrContains(t, idsOf(start), "dead")
	must.NotEq(t, "", start[1].Node, must.Sprint("Consul's node of a joined endpoint"))

	// The dead collector: its next connect fails and ejects it.
	dead.Close()
	_, index := getEvents(t, base)
	woke := make(chan []Event, 1)
	go func() {
		events, _ := getEvents(t, fmt.Sprintf("%s?index=%d&wait=10s", base, index))
		woke <- events
	}()
	testsupport.WaitFor(t, "the dead collector to be ejected", func() bool {
		if conn, err := net.DialTimeout("tcp", ag.Addrs()["grpc"].String(), time.Second); err == nil {
			conn.Close()
		}
		events, _ := getEvents(t, base+"?listener=grpc&since=1m")
		return strings.Contains(kindsString(events), EventEjected)
	})
	select {
	case events := <-woke:
		must.SliceNotEmpty(t, events)
		must.Greater(t, index, events[0].Index)
	case <-time.After(10 * time.Second):
		t.Fatal("a blocking ?index= query did not wake on the next event")
	}
	ejected := find(t, base, EventEjected)
	must.Eq(t, dead.Addr.String(), ejected.Endpoint)
	must.StrContains(t, ejected.Cause, "1 failed connects within fail_timeout")

	// Maintenance, then the instance leaves when deregistered.
	must.NoError(t, c.Agent().EnableServiceMaintenance("live", "scale-down"))
	must.Eq(t, live.Addr.String(), find(t, base, EventDraining).Endpoint)
	must.NoError(t, c.Agent().ServiceDeregister("dead"))
	left := find(t, base, EventLeft)
	must.Eq(t, dead.Addr.String(), left.Endpoint)
	must.Eq(t, "dead", left.ID)

	// A refused reload, with its reason.
	setLoad(ag, func() (*config.Config, hcl.Diagnostics) {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid duration"}}
	})
	must.Error(t, ag.ReloadConfig())
	must.StrContains(t, find(t, base, EventRefused).Cause, "Invalid duration")
}

func getEvents(t *testing.T, url string) ([]Event, uint64) {
	t.Helper()
	resp, err := http.Get(url)
	must.NoError(t, err)
	defer resp.Body.Close()
	must.Eq(t, http.StatusOK, resp.StatusCode)
	var events []Event
	must.NoError(t, json.NewDecoder(resp.Body).Decode(&events))
	index, err := strconv.ParseUint(resp.Header.Get("X-Pinlb-Index"), 10, 64)
	must.NoError(t, err)
	return events, index
}

// find waits for an event of kind and returns the newest.
func find(t *testing.T, base, kind string) Event {
	t.Helper()
	var found Event
	testsupport.WaitFor(t, "a "+kind+" event", func() bool {
		events, _ := getEvents(t, base)
		for _, e := range events {
			if e.Kind == kind {
				found = e
			}
		}
		return found.Kind != ""
	})
	return found
}

func kindsString(events []Event) string { return strings.Join(kinds(events), " ") }

func idsOf(events []Event) string {
	var ids []string
	for _, e := range events {
		ids = append(ids, e.ID)
	}
	return strings.Join(ids, " ")
}
