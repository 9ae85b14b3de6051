package pinpointgrpc

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// Pinpoint's agents' pace, as NAVER's agents keep it.
const (
	agentInfoRetry = 3 * time.Second  // agent info until the collector takes it
	pingEvery      = time.Minute      // a ping on the agent channel's PingSession
	statEvery      = 5 * time.Second  // a stat message on the stat stream
	streamDeadline = 10 * time.Minute // a span or stat stream is ended, and the next opened, after this
	batchSize      = 20               // spans per SendSpanBatch call (3.1)
	batchFlush     = time.Second      // a partial batch is sent after this
	batchInFlight  = 10               // SendSpanBatch calls in flight at most
	spanSize       = 300              // bytes of a span
)

// AgentConfig is one agent shaped like Pinpoint's Java agent: for the
// scale that the real Node.js agent's processes cannot reach (hundreds in
// one process). The Node.js agent is the reference, and a fault scenario
// holds the two side by side.
type AgentConfig struct {
	ID          string
	Application string
	Host        string         // where it sends: pinlb's address or name
	Ports       map[string]int // the gRPC ports by pinpoint.Port.Name
	Rate        int            // traced requests a second, one span each
	// Batch sends spans as Pinpoint 3.1's Java agent does by default: in
	// unary SendSpanBatch calls of up to 20, flushed every second, a failed
	// one dropped. Otherwise they go on one SendSpan client stream.
	Batch bool
	// Dial opens the connections; nil dials Host directly.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

// Agent is a running agent. Like Pinpoint's, it holds one HTTP/2
// connection per channel (agent and metadata calls share the agent port's),
// which gRPC reconnects with its connection backoff (1 s, times 1.6 up to
// 120 s, jittered: grpc-java's and grpc-go's alike); a stream that ended is
// opened again at its next message, as the Node.js agent does.
type Agent struct {
	cfg     AgentConfig
	ctx     context.Context // carries the headers every call sends
	cancel  context.CancelFunc
	conns   map[string]*grpc.ClientConn
	spans   *stream
	stats   *stream
	pings   *stream
	batches chan struct{} // a token per SendSpanBatch call in flight

	served  atomic.Int64
	failed  atomic.Int64
	halt    chan struct{} // closed by StopTraffic or Close
	halted  sync.Once
	traffic sync.WaitGroup
	loops   sync.WaitGroup
	once    sync.Once
}

// StartAgent connects an agent's channels and starts its traffic.
func StartAgent(cfg AgentConfig) (*Agent, error) {
	md := metadata.Pairs("agentid", cfg.ID, "applicationname", cfg.Application,
		"starttime", strconv.FormatInt(time.Now().UnixMilli(), 10))
	ctx, cancel := context.WithCancel(metadata.NewOutgoingContext(context.Background(), md))
	a := &Agent{cfg: cfg, ctx: ctx, cancel: cancel, conns: map[string]*grpc.ClientConn{},
		batches: make(chan struct{}, batchInFlight), halt: make(chan struct{})}
	for _, port := range Ports {
		cc, err := a.dial(port)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("agent %s: %s: %w", cfg.ID, port, err)
		}
		a.conns[port] = cc
	}
	a.spans = newStream(ctx, a.conns["grpc-span"], "/v1.Span/SendSpan", false, &a.failed)
	a.stats = newStream(ctx, a.conns["grpc-stat"], "/v1.Stat/SendAgentStat", false, &a.failed)
	a.pings = newStream(ctx, a.conns["grpc-agent"], "/v1.Agent/PingSession", true, &a.failed)
	a.loops.Go(a.sendAgentInfo)
	a.loops.Go(func() { a.every(pingEvery, func() { a.pings.send(nil) }) })
	a.loops.Go(func() { a.every(statEvery, func() { a.stats.send(statMessage) }) })
	a.traffic.Go(a.sendSpans)
	return a, nil
}

func (a *Agent) dial(port string) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})),
	}
	if a.cfg.Dial != nil {
		opts = append(opts, grpc.WithContextDialer(a.cfg.Dial))
	}
	cc, err := grpc.NewClient("passthrough:///"+net.JoinHostPort(a.cfg.Host, strconv.Itoa(a.cfg.Ports[port])), opts...)
	if err == nil {
		cc.Connect() // Pinpoint's agents connect at start, not at the first call
	}
	return cc, err
}

// sendAgentInfo sends the agent info until a collector takes it.
func (a *Agent) sendAgentInfo() {
	for {
		ctx, cancel := context.WithTimeout(a.ctx, agentInfoRetry)
		var result []byte
		err := a.conns["grpc-agent"].Invoke(ctx, "/v1.Agent/RequestAgentInfo", &[]byte{}, &result)
		cancel()
		if err == nil || !a.sleep(agentInfoRetry) {
			return
		}
	}
}

// every runs f now and then every d until the agent closes.
func (a *Agent) every(d time.Duration, f func()) {
	for {
		f()
		if !a.sleep(d) {
			return
		}
	}
}

// sleep waits d, or returns false when the agent closes first.
func (a *Agent) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.ctx.Done():
		return false
	}
}

// sendSpans sends a span per traced request, Rate a second, until
// StopTraffic.
func (a *Agent) sendSpans() {
	tick := time.NewTicker(time.Second / time.Duration(max(a.cfg.Rate, 1)))
	defer tick.Stop()
	flush := time.NewTicker(batchFlush)
	defer flush.Stop()
	var batch [][]byte
	for {
		select {
		case <-a.halt:
			a.sendBatch(batch)
			return
		case <-flush.C:
			a.sendBatch(batch)
			batch = nil
		case <-tick.C:
			a.served.Add(1)
			msg := spanMessage(spanSize)
			if !a.cfg.Batch {
				a.spans.send(msg)
				continue
			}
			if batch = append(batch, msg); len(batch) == batchSize {
				a.sendBatch(batch)
				batch = nil
			}
		}
	}
}

// sendBatch sends spans in one SendSpanBatch call, in the background, as
// 3.1's agent does: a failed call is dropped, and with batchInFlight calls
// in flight the next waits.
func (a *Agent) sendBatch(spans [][]byte) {
	if len(spans) == 0 {
		return
	}
	a.batches <- struct{}{}
	a.traffic.Go(func() {
		defer func() { <-a.batches }()
		msg, result := spanBatch(spans), []byte(nil)
		ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
		defer cancel()
		if a.conns["grpc-span"].Invoke(ctx, "/v1.Span/SendSpanBatch", &msg, &result) != nil {
			a.failed.Add(1)
		}
	})
}

// Errors is how many calls ended in an error (and messages were lost with
// them) so far, as an agent would log each.
func (a *Agent) Errors() int64 { return a.failed.Load() }

// Served is how many traced requests the agent has answered so far.
func (a *Agent) Served() int64 { return a.served.Load() }

// StopTraffic stops the agent's requests, waits for its last batches, and
// returns how many it served in all; the agent stays connected.
func (a *Agent) StopTraffic() (int64, error) {
	a.halted.Do(func() { close(a.halt) })
	a.traffic.Wait()
	return a.served.Load(), nil
}

// Close ends the agent's traffic, streams and connections.
func (a *Agent) Close() {
	a.once.Do(func() {
		a.cancel()
		a.StopTraffic()
		a.loops.Wait()
		for _, cc := range a.conns {
			cc.Close()
		}
	})
}
