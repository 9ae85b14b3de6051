package pinpointgrpc

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pinlb/pinlb/internal/pinpoint"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Ports are the names of the collector's gRPC ports (pinpoint.Port.Name),
// in Pinpoint's order: agent, stat, span.
var Ports = func() []string {
	var names []string
	for _, p := range pinpoint.GRPCPorts() {
		names = append(names, p.Name)
	}
	return names
}()

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
		Conns: map[string]int64{}, Accepted: map[string]int64{}, Streams: map[string]int64{},
		ByAgent: map[string]*Counts{}, ByConn: map[string]*Counts{},
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
