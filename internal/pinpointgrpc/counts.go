package pinpointgrpc

import (
	"context"
	"maps"
	"math"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
)

// Counts are what a collector received. The per-port maps are keyed by
// pinpoint.Port.Name.
type Counts struct {
	Spans      int64
	SpanChunks int64
	Batches    int64 // SendSpanBatch calls
	Stats      int64
	AgentInfos int64
	Metadata   int64
	Pings      int64
	Conns      map[string]int64 // HTTP/2 connections open now
	Accepted   map[string]int64 // HTTP/2 connections accepted in all
	Streams    map[string]int64 // span, stat, ping and command streams open now
	// ByAgent are the counts of each agent, by its agentid header, and
	// ByConn those of each connection, by "port client-address" (through
	// pinlb, pinlb's end of it); their maps stay empty.
	ByAgent map[string]*Counts
	ByConn  map[string]*Counts
	// Application is the applicationname header, in ByAgent's counts.
	Application string
}

// Counts returns a copy of the collector's counts.
func (c *Collector) Counts() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	out.Conns, out.Accepted, out.Streams = maps.Clone(c.counts.Conns), maps.Clone(c.counts.Accepted), maps.Clone(c.counts.Streams)
	out.ByAgent, out.ByConn = cloneEach(c.counts.ByAgent), cloneEach(c.counts.ByConn)
	return out
}

func cloneEach(m map[string]*Counts) map[string]*Counts {
	out := make(map[string]*Counts, len(m))
	for k, n := range m {
		cp := *n
		out[k] = &cp
	}
	return out
}

// add counts a call's message into the collector's totals, its agent's
// and its connection's.
func (c *Collector) add(ctx context.Context, count func(*Counts)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	count(&c.counts)
	agent := entry(c.counts.ByAgent, header(ctx, "agentid"))
	agent.Application = header(ctx, "applicationname")
	count(agent)
	count(entry(c.counts.ByConn, connOf(ctx)))
}

func entry(m map[string]*Counts, key string) *Counts {
	n := m[key]
	if n == nil {
		n = &Counts{}
		m[key] = n
	}
	return n
}

// header is a header every Pinpoint call carries (agentid,
// applicationname), or "".
func header(ctx context.Context, name string) string {
	if v := metadata.ValueFromIncomingContext(ctx, name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// open counts a stream open on its port until the returned func is called.
func (c *Collector) open(s grpc.ServerStream) func() {
	port := portOf(s.Context())
	c.mu.Lock()
	c.counts.Streams[port]++
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.counts.Streams[port]--
		c.mu.Unlock()
	}
}

type portKey struct{}

type connKey struct{}

func portOf(ctx context.Context) string {
	port, _ := ctx.Value(portKey{}).(string)
	return port
}

func connOf(ctx context.Context) string {
	conn, _ := ctx.Value(connKey{}).(string)
	return conn
}

// connCounter counts a port's connections, and tags each call with its
// port and connection.
type connCounter struct {
	c    *Collector
	port string
}

func (h connCounter) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	ctx = context.WithValue(ctx, portKey{}, h.port)
	return context.WithValue(ctx, connKey{}, h.port+" "+info.RemoteAddr.String())
}

func (h connCounter) HandleConn(_ context.Context, s stats.ConnStats) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	switch s.(type) {
	case *stats.ConnBegin:
		h.c.counts.Conns[h.port]++
		h.c.counts.Accepted[h.port]++
	case *stats.ConnEnd:
		h.c.counts.Conns[h.port]--
	}
}

func (h connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (h connCounter) HandleRPC(context.Context, stats.RPCStats)                       {}

// AwaitSpans waits for the spans served to arrive, as received counts
// them: until all have, or none has for 3 s (15 s at most). It returns
// those that did not: the spans lost.
func AwaitSpans(served int64, received func() int64) (lost int64) {
	deadline := time.Now().Add(15 * time.Second)
	last, since := received(), time.Now()
	for last < served && time.Since(since) < 3*time.Second && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // sampling until the count settles
		if n := received(); n != last {
			last, since = n, time.Now()
		}
	}
	return served - received()
}

// Even reports whether counts (of connections, per collector) are within
// 1.25x of an even share: none above 1.25 times the mean, rounded up, nor
// below the mean / 1.25, rounded down; and there is something to share.
func Even(counts []int64) bool {
	var total int64
	for _, n := range counts {
		total += n
	}
	mean := float64(total) / float64(len(counts))
	for _, n := range counts {
		if float64(n) > math.Ceil(1.25*mean) || float64(n) < math.Floor(mean/1.25) {
			return false
		}
	}
	return total > 0
}
