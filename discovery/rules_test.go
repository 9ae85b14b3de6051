package discovery

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// scripted is a Consul that answers each query with what the test gives
// it, and tells the test what it was asked.
type scripted struct {
	asked   chan asked
	answers chan answer
}

type asked struct {
	index uint64
	wait  time.Duration
}

type answer struct {
	entries []*api.ServiceEntry
	meta    *api.QueryMeta
	err     error
}

func (s *scripted) fetch(ctx context.Context, index uint64, wait time.Duration) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	select {
	case s.asked <- asked{index, wait}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	select {
	case a := <-s.answers:
		return a.entries, a.meta, a.err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// rules runs a watcher on a scripted Consul.
type rules struct {
	t         *testing.T
	w         *Watcher
	consul    *scripted
	snapshots chan Snapshot
}

func newRules(t *testing.T, in WatcherInput) *rules {
	r := &rules{t: t, consul: &scripted{asked: make(chan asked), answers: make(chan answer)}, snapshots: make(chan Snapshot, 10)}
	in.Query, in.Logger = Query{Service: "collector"}, hclog.NewNullLogger()
	in.OnChange = func(s Snapshot) { r.snapshots <- s }
	r.w = NewWatcher(in)
	r.w.consul = r.consul
	r.w.pace.calls.SetLimit(1e6) // the rules, not the pacing, are under test
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// next returns the query the watcher sends next.
func (r *rules) next() asked {
	r.t.Helper()
	select {
	case a := <-r.consul.asked:
		return a
	case <-time.After(5 * time.Second):
		r.t.Fatal("no query")
		return asked{}
	}
}

// answer answers the pending query with passing instances, at index.
func (r *rules) answer(index uint64, ids ...string) {
	r.answerMeta(&api.QueryMeta{LastIndex: index}, ids...)
}

func (r *rules) answerMeta(meta *api.QueryMeta, ids ...string) {
	entries := make([]*api.ServiceEntry, len(ids))
	for i, id := range ids {
		entries[i] = &api.ServiceEntry{
			Node:    &api.Node{Node: "n", Address: "10.0.0.1"},
			Service: &api.AgentService{ID: id, Service: "collector", Port: 9991},
			Checks:  api.HealthChecks{{Status: api.HealthPassing}},
		}
	}
	r.consul.answers <- answer{entries: entries, meta: meta}
}

func (r *rules) fail() { r.consul.answers <- answer{err: errors.New("connection refused")} }

// snapshot returns the next snapshot's IDs and held IDs.
func (r *rules) snapshot() (ids, held []string) {
	r.t.Helper()
	select {
	case s := <-r.snapshots:
		return serviceIDs(s), idsWhere(s, func(i Instance) bool { return i.Held })
	case <-time.After(5 * time.Second):
		r.t.Fatal("no snapshot")
		return nil, nil
	}
}

func (r *rules) noSnapshot() {
	r.t.Helper()
	select {
	case s := <-r.snapshots:
		r.t.Fatalf("unexpected snapshot %v", serviceIDs(s))
	default:
	}
}

func TestRules_BlocksOnTheLastIndexNeverOnZero(t *testing.T) {
	r := newRules(t, WatcherInput{})
	must.Eq(t, 0, r.next().index) // the first read does not block
	r.answer(0)
	r.snapshot()
	must.Eq(t, 1, r.next().index) // Consul said 0: never block on it
	r.answer(7, "c1")
	r.snapshot()
	a := r.next()
	must.Eq(t, 7, a.index)
	must.Eq(t, DefaultWait, a.wait)
}

// An answer that changes nothing touches nothing.
func TestRules_OnlyRealChangesReachThePool(t *testing.T) {
	r := newRules(t, WatcherInput{})
	r.next()
	r.answer(5, "c1", "c2")
	r.snapshot()
	for i := range uint64(3) { // check output churn: a new index, the same set
		r.next()
		r.answer(6+i, "c2", "c1")
	}
	r.next()
	r.noSnapshot()
	r.answer(9, "c1")
	ids, _ := r.snapshot()
	must.Eq(t, []string{"c1"}, ids)
}

// After an error the watcher resynchronises with a read that does not
// block, and that answer is a resync: what it no longer lists is held, and
// the hold's end shortens the next wait.
func TestRules_ErrorThenResyncHolds(t *testing.T) {
	// A hold well under the blocking wait (55 s), so that waking by its
	// end is seen.
	r := newRules(t, WatcherInput{ResyncHold: 10 * time.Second})
	r.next()
	r.answer(100, "c1", "c2")
	r.snapshot()
	must.Eq(t, 100, r.next().index)
	r.fail()
	must.Eq(t, 0, r.next().index) // not the old 100
	r.answer(3, "c1")
	ids, held := r.snapshot()
	must.Eq(t, []string{"c1", "c2"}, ids)
	must.Eq(t, []string{"c2"}, held)
	must.Eq(t, 1, r.w.Status().Held)
	must.LessEq(t, 10*time.Second, r.next().wait) // wakes by the hold's end at the latest
	r.answer(4, "c1", "c2")                       // listed again: the resync is complete
	ids, held = r.snapshot()
	must.Eq(t, []string{"c1", "c2"}, ids)
	must.SliceEmpty(t, held)
	r.next()
	r.answer(5, "c1") // outside a resync, a removal lands at once
	ids, _ = r.snapshot()
	must.Eq(t, []string{"c1"}, ids)
}

// An index that goes backwards resets it and starts a resync too.
func TestRules_IndexBackwardsResyncs(t *testing.T) {
	r := newRules(t, WatcherInput{ResyncHold: time.Minute})
	r.next()
	r.answer(100, "c1", "c2")
	r.snapshot()
	r.next()
	r.answer(40) // a restored snapshot, or a new cluster: empty, lower
	_, held := r.snapshot()
	must.Eq(t, []string{"c1", "c2"}, held)
	must.Eq(t, 0, r.next().index)
}

// Without a hold, the resync's answer is applied as it is.
func TestRules_NoHoldAppliesTheResync(t *testing.T) {
	r := newRules(t, WatcherInput{})
	r.next()
	r.answer(100, "c1")
	r.snapshot()
	r.next()
	r.fail()
	r.next()
	r.answer(3)
	ids, _ := r.snapshot()
	must.SliceEmpty(t, ids)
}

// Answers that a permission problem explains are never applied: one Consul
// says it filtered, and an empty one to a request without a token on a
// Consul that denies by default.
func TestRules_ACLAnswersAreNotApplied(t *testing.T) {
	r := newRules(t, WatcherInput{}) // no client: no token
	r.next()
	r.answerMeta(&api.QueryMeta{LastIndex: 5, DefaultACLPolicy: "deny"})
	r.next()
	r.noSnapshot()
	must.True(t, r.w.Status().ACLFiltered)
	must.Eq(t, aclAnonymous, r.w.Status().ACLProblem)

	r.answerMeta(&api.QueryMeta{LastIndex: 6, DefaultACLPolicy: "deny"}, "c1") // the anonymous token may read it
	ids, _ := r.snapshot()
	must.Eq(t, []string{"c1"}, ids)
	must.False(t, r.w.Status().ACLFiltered)

	r.next()
	r.answerMeta(&api.QueryMeta{LastIndex: 7, ResultsFilteredByACLs: true})
	r.next()
	r.noSnapshot()
	must.Eq(t, aclFiltered, r.w.Status().ACLProblem)

	r.answerMeta(&api.QueryMeta{LastIndex: 8, DefaultACLPolicy: "allow"}) // a real scale to zero
	ids, _ = r.snapshot()
	must.SliceEmpty(t, ids)
}

// churning is a Consul whose answer changes on every query, as a service
// whose check output churns: it answers at once, at a new index, with
// entries.
type churning struct {
	calls   atomic.Int64
	entries []*api.ServiceEntry
}

func (c *churning) fetch(ctx context.Context, index uint64, wait time.Duration) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	c.calls.Add(1)
	return c.entries, &api.QueryMeta{LastIndex: index + 1}, ctx.Err()
}

// runChurning runs a watcher against consul for about a second past the
// moment calls reach started, and returns how long it ran.
func runChurning(t *testing.T, consul *churning, started int64) time.Duration {
	w := NewWatcher(WatcherInput{Query: Query{Service: "collector"}, Logger: hclog.NewNullLogger(), OnChange: func(Snapshot) {}})
	w.consul = consul
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { w.Run(ctx); close(done) }()
	testsupport.WaitFor(t, "the burst spent", func() bool { return consul.calls.Load() >= started })
	time.Sleep(time.Second) // the span the bound is computed over, measured below
	cancel()
	<-done
	return time.Since(start)
}

// However fast Consul's answers change, the watcher's queries are bounded:
// a burst of callBurst (several collectors scaling out at once go through
// without waiting), then one per callInterval.
func TestRules_ChurnDrivesABoundedQueryRate(t *testing.T) {
	consul := &churning{}
	elapsed := runChurning(t, consul, callBurst)
	bound := int64(callBurst) + int64(elapsed/callInterval) + 1
	must.LessEq(t, bound, consul.calls.Load(), must.Sprintf("in %v", elapsed))
}

// A large service's answers are bounded by their size too: with 2,000
// instances in each, the instance bucket's burst, then two a second.
func TestRules_LargeAnswersDriveABoundedInstanceRate(t *testing.T) {
	const size = 2000
	consul := &churning{entries: make([]*api.ServiceEntry, size)}
	elapsed := runChurning(t, consul, instanceBurst/size)
	bound := int64((instanceBurst+elapsed.Seconds()*instanceRate)/size) + 1
	must.LessEq(t, bound, consul.calls.Load(), must.Sprintf("in %v", elapsed))
}

// Without a leader, Consul answers from the last state it has (a stale
// read), or fails saying so: the endpoints are kept, and stale at once,
// since nothing can change them until a leader is elected.
func TestRules_NoLeaderIsStale(t *testing.T) {
	r := newRules(t, WatcherInput{Client: &Client{cfg: ClientConfig{Consistency: ReadStale}, token: "t"}})
	r.next()
	r.answerMeta(&api.QueryMeta{LastIndex: 5, KnownLeader: true}, "c1")
	r.snapshot()
	r.next()
	must.False(t, r.w.Status().Stale)
	r.answerMeta(&api.QueryMeta{LastIndex: 5}, "c1") // a follower that knows no leader
	must.Eq(t, troubledWait, r.next().wait)          // a leader's return is seen soon
	st := r.w.Status()
	must.True(t, st.Reachable)
	must.True(t, st.NoLeader)
	must.True(t, st.Stale)
	must.True(t, r.w.staleReads.Load()) // the next reads are stale ones
	r.consul.answers <- answer{err: errors.New("Unexpected response code: 500 (No cluster leader)")}
	r.next()
	st = r.w.Status()
	must.False(t, st.Reachable)
	must.True(t, st.NoLeader)
	must.True(t, st.Stale)
	r.answerMeta(&api.QueryMeta{LastIndex: 6, KnownLeader: true}, "c1")
	must.Eq(t, DefaultWait, r.next().wait)
	st = r.w.Status()
	must.False(t, st.NoLeader)
	must.False(t, st.Stale)
	must.False(t, r.w.staleReads.Load())
	r.noSnapshot()
}

// A streaming view never says whether its server knows a leader.
func TestRules_StreamingAnswersAreNotLeaderless(t *testing.T) {
	r := newRules(t, WatcherInput{Client: &Client{cfg: ClientConfig{Consistency: ReadStreaming}, token: "t"}})
	r.next()
	r.answerMeta(&api.QueryMeta{LastIndex: 5}, "c1")
	r.snapshot()
	r.next()
	must.False(t, r.w.Status().NoLeader)
}

// What the watcher tells the timeline: an answer that changed nothing
// usable, but not the end of a wait with no write; Consul unreachable,
// then reachable again.
func TestRules_Events(t *testing.T) {
	var (
		mu     sync.Mutex
		events []string
	)
	r := newRules(t, WatcherInput{OnEvent: func(kind, cause string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, kind)
	}})
	r.next()
	r.answer(5, "c1")
	r.snapshot()
	r.next()
	r.answer(6, "c1") // check output: a new index, the same set
	r.next()
	r.answer(6, "c1") // the wait ended: the same index
	r.next()
	r.fail()
	r.next()
	r.answer(7, "c1")
	r.next()
	mu.Lock()
	defer mu.Unlock()
	must.Eq(t, []string{EventUnchanged, EventUnreachable, EventReachable, EventUnchanged}, events)
}

// Errors back off from 100 ms, doubling up to 1 s, each wait drawn in the
// upper half of the backoff, so that watchers do not retry in step.
func TestRules_BackoffDoublesWithJitter(t *testing.T) {
	var got []time.Duration
	for b := time.Duration(0); len(got) < 7; {
		b = nextBackoff(b)
		got = append(got, b)
	}
	ms := time.Millisecond
	must.Eq(t, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second, time.Second}, got)
	seen := map[time.Duration]bool{}
	for range 100 {
		d := jittered(time.Second)
		must.Between(t, 500*ms, d, time.Second)
		seen[d] = true
	}
	must.Greater(t, 50, len(seen), must.Sprint("the waits are drawn, not fixed"))
}
