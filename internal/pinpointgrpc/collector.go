package pinpointgrpc

import (
	"context"
	"fmt"
	"maps"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/stats"
)

// Ports are the collector's gRPC ports by pinpoint.Port.Name.
var Ports = []string{"grpc-agent", "grpc-stat", "grpc-span"}

// Options are the collector's gRPC server settings. DefaultOptions are
// Pinpoint's own collector's; a test shortens MaxConnectionAge to make it
// recycle connections in seconds.
type Options struct {
	Keepalive             time.Duration // server pings an idle connection after this long
	KeepaliveTimeout      time.Duration // and closes it when the ping is not answered in this long
	PermitKeepalive       time.Duration // the shortest keepalive interval agents may use
	MaxConnectionIdle     time.Duration // a connection without calls this long gets a GOAWAY
	MaxConnectionAge      time.Duration // any connection this old gets a GOAWAY
	MaxConnectionAgeGrace time.Duration // calls in progress get this long after it
	// StopGrace is how long a graceful stop waits for calls after its
	// GOAWAY before it closes every connection.
	StopGrace time.Duration
}

// DefaultOptions are Pinpoint 3.x's collector server options.
func DefaultOptions() Options {
	return Options{
		Keepalive: 30 * time.Second, KeepaliveTimeout: 60 * time.Second, PermitKeepalive: 20 * time.Second,
		MaxConnectionIdle: 360 * time.Second, MaxConnectionAge: 3 * time.Hour, MaxConnectionAgeGrace: 10 * time.Second,
		StopGrace: 3 * time.Second,
	}
}

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
	Streams    map[string]int64 // span, stat, ping and command streams open now
	// ByAgent are the counts of each agent by its agentid header; their
	// maps stay empty.
	ByAgent map[string]*Counts
}

// Collector is a running stand-in for one Pinpoint collector's gRPC ports.
type Collector struct {
	Name  string
	Ports map[string]int // by pinpoint.Port.Name

	opts    Options
	servers []*grpc.Server
	wg      sync.WaitGroup

	mu     sync.Mutex
	counts Counts
}

// Start starts a collector on host (an IP) with each gRPC port free.
func Start(name, host string, o Options) (*Collector, error) {
	lns := map[string]net.Listener{}
	for _, port := range Ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("collector %s: %s: %w", name, port, err)
		}
		lns[port] = ln
	}
	return Serve(name, lns, o), nil
}

// Serve serves the collector's gRPC ports on lns, by port name; a port
// not in lns is not served.
func Serve(name string, lns map[string]net.Listener, o Options) *Collector {
	c := &Collector{Name: name, Ports: map[string]int{}, opts: o, counts: Counts{
		Conns: map[string]int64{}, Streams: map[string]int64{}, ByAgent: map[string]*Counts{},
	}}
	for port, ln := range lns {
		srv := grpc.NewServer(
			grpc.ForceServerCodec(rawCodec{}),
			grpc.StatsHandler(connCounter{c, port}),
			grpc.KeepaliveParams(keepalive.ServerParameters{
				Time: o.Keepalive, Timeout: o.KeepaliveTimeout, MaxConnectionIdle: o.MaxConnectionIdle,
				MaxConnectionAge: o.MaxConnectionAge, MaxConnectionAgeGrace: o.MaxConnectionAgeGrace,
			}),
			grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: o.PermitKeepalive, PermitWithoutStream: true}),
		)
		for i := range services[port] {
			srv.RegisterService(&services[port][i], c)
		}
		c.servers = append(c.servers, srv)
		c.Ports[port] = ln.Addr().(*net.TCPAddr).Port
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			srv.Serve(ln)
		}()
	}
	return c
}

// Counts returns a copy of the collector's counts.
func (c *Collector) Counts() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	out.Conns, out.Streams = maps.Clone(c.counts.Conns), maps.Clone(c.counts.Streams)
	out.ByAgent = make(map[string]*Counts, len(c.counts.ByAgent))
	for id, n := range c.counts.ByAgent {
		cp := *n
		out.ByAgent[id] = &cp
	}
	return out
}

// Kill stops the collector as a crash does: every listener and connection
// closes at once, with no GOAWAY.
func (c *Collector) Kill() {
	for _, srv := range c.servers {
		srv.Stop()
	}
	c.wg.Wait()
}

// Stop stops the collector as Pinpoint's does on a graceful shutdown: a
// GOAWAY on every connection, up to StopGrace for calls to end, then close.
func (c *Collector) Stop() {
	var wg sync.WaitGroup
	for _, srv := range c.servers {
		wg.Go(func() {
			t := time.AfterFunc(c.opts.StopGrace, srv.Stop)
			defer t.Stop()
			srv.GracefulStop()
		})
	}
	wg.Wait()
	c.wg.Wait()
}

// add counts into the collector's totals and the agent's.
func (c *Collector) add(agent string, count func(*Counts)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	count(&c.counts)
	n := c.counts.ByAgent[agent]
	if n == nil {
		n = &Counts{}
		c.counts.ByAgent[agent] = n
	}
	count(n)
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

func portOf(ctx context.Context) string {
	port, _ := ctx.Value(portKey{}).(string)
	return port
}

// connCounter counts a port's open connections, and tags each call with
// its port.
type connCounter struct {
	c    *Collector
	port string
}

func (h connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, portKey{}, h.port)
}

func (h connCounter) HandleConn(_ context.Context, s stats.ConnStats) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	switch s.(type) {
	case *stats.ConnBegin:
		h.c.counts.Conns[h.port]++
	case *stats.ConnEnd:
		h.c.counts.Conns[h.port]--
	}
}

func (h connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (h connCounter) HandleRPC(context.Context, stats.RPCStats)                       {}
