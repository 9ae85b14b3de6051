package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pinlb/pinlb/internal/pinpoint"
)

// AgentConfig describes a simulated agent.
type AgentConfig struct {
	Name string
	Host string // where the agent sends: pinlb's address
	// Ports by pinpoint.Port.Name; a port not listed is not used.
	Ports map[string]int
	// MessageEvery paces the framed messages on each TCP stream.
	MessageEvery time.Duration
	// Every paces one stream's messages instead, by port name: Pinpoint's
	// stat stream sends in batches, with quiet between.
	Every map[string]time.Duration
	// PingEvery paces pings on the Thrift agent stream (Pinpoint: 5m).
	PingEvery time.Duration
	// Reconnect is the pause before redialling a stream that ended
	// (Pinpoint: 3s).
	Reconnect time.Duration
	// DatagramEvery paces UDP stats and spans; 0 sends none.
	DatagramEvery time.Duration
	// DatagramSize is the size of a span datagram.
	DatagramSize int
	// Dial opens the TCP streams; nil is a net.Dialer's. Host is then
	// whatever Dial makes of it (a DNS name, say).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Agent is a running simulated agent.
type Agent struct {
	cfg    AgentConfig
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stats  AgentStats
}

// AgentStats are an agent's counters.
type AgentStats struct {
	Connected  atomic.Int64 // TCP streams up now
	Messages   atomic.Int64
	Pongs      atomic.Int64
	Reconnects atomic.Int64 // streams that ended and were dialled again
	DialErrors atomic.Int64
	Datagrams  atomic.Int64
	Replies    atomic.Int64 // probe replies
}

// StartAgent starts the agent's streams; Stop ends them.
func StartAgent(cfg AgentConfig) *Agent {
	if cfg.MessageEvery == 0 {
		cfg.MessageEvery = 200 * time.Millisecond
	}
	if cfg.PingEvery == 0 {
		cfg.PingEvery = 5 * time.Second
	}
	if cfg.Reconnect == 0 {
		cfg.Reconnect = 3 * time.Second
	}
	if cfg.DatagramSize == 0 {
		cfg.DatagramSize = 512
	}
	if cfg.Dial == nil {
		cfg.Dial = new(net.Dialer).DialContext
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Agent{cfg: cfg, cancel: cancel}
	for _, p := range pinpoint.Ports {
		port, ok := cfg.Ports[p.Name]
		if !ok {
			continue
		}
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(port))
		a.wg.Add(1)
		if p.Protocol == "tcp" {
			every := a.cfg.MessageEvery
			if e, ok := a.cfg.Every[p.Name]; ok {
				every = e
			}
			go a.stream(ctx, addr, p.Name == "thrift-agent", every)
		} else if cfg.DatagramEvery > 0 {
			go a.datagrams(ctx, addr)
		} else {
			a.wg.Done()
		}
	}
	return a
}

// Stats returns the agent's counters.
func (a *Agent) Stats() *AgentStats { return &a.stats }

// Stop ends every stream and waits for them.
func (a *Agent) Stop() {
	a.cancel()
	a.wg.Wait()
}

func (a *Agent) stream(ctx context.Context, addr string, ping bool, every time.Duration) {
	defer a.wg.Done()
	for seq := 0; ctx.Err() == nil; {
		conn, err := a.cfg.Dial(ctx, "tcp", addr)
		if err == nil {
			a.stats.Connected.Add(1)
			seq = a.talk(ctx, conn, ping, every, seq)
			a.stats.Connected.Add(-1)
			conn.Close()
			if ctx.Err() != nil {
				return
			}
			a.stats.Reconnects.Add(1)
		} else if ctx.Err() == nil {
			a.stats.DialErrors.Add(1)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.cfg.Reconnect):
		}
	}
}

// talk sends framed messages, one every every (and pings), until the
// connection ends, and returns the next sequence number.
func (a *Agent) talk(ctx context.Context, conn net.Conn, ping bool, every time.Duration, seq int) int {
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		var buf [2]byte
		for {
			if _, err := io.ReadFull(conn, buf[:]); err != nil {
				return
			}
			if bytes.Equal(buf[:], pinpoint.Pong) {
				a.stats.Pongs.Add(1)
			}
		}
	}()
	msgs := time.NewTicker(every)
	defer msgs.Stop()
	pings := time.NewTicker(a.cfg.PingEvery)
	defer pings.Stop()
	if !ping {
		pings.Stop()
	}
	payload := make([]byte, 0, 128)
	for {
		select {
		case <-ctx.Done():
			conn.Close()
			<-ended
			return seq
		case <-ended:
			return seq
		case <-pings.C:
			if _, err := conn.Write(pinpoint.Ping); err != nil {
				conn.Close()
				<-ended
				return seq
			}
		case <-msgs.C:
			payload = fmt.Appendf(payload[:0], "%s seq=%d %s", a.cfg.Name, seq, filler)
			if err := writeFrame(conn, payload); err != nil {
				conn.Close()
				<-ended
				return seq
			}
			seq++
			a.stats.Messages.Add(1)
		}
	}
}

const filler = "span-data-span-data-span-data-span-data-span-data-span-data-span-data"

// datagrams sends UDP datagrams from one fixed source port, as an agent
// does, with a probe first.
func (a *Agent) datagrams(ctx context.Context, addr string) {
	defer a.wg.Done()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		a.stats.DialErrors.Add(1)
		return
	}
	defer conn.Close()
	go func() {
		buf := make([]byte, 16)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if bytes.Equal(buf[:n], pinpoint.ProbeReply) {
				a.stats.Replies.Add(1)
			}
		}
	}()
	conn.Write(pinpoint.Probe)
	span := bytes.Repeat([]byte{'s'}, a.cfg.DatagramSize)
	t := time.NewTicker(a.cfg.DatagramEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := conn.Write(span); err == nil {
				a.stats.Datagrams.Add(1)
			}
		}
	}
}

// Streams are long-lived TCP client connections, each sending a framed
// message every interval and dialling again, after a pause, whenever its
// connection ends: the shape of a Pinpoint agent's gRPC streams.
type Streams struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// Reconnects counts, per stream, how often its connection ended.
	Reconnects []atomic.Int64
	DialErrors atomic.Int64
	Connected  atomic.Int64
}

// StartStreams opens n streams to addr.
func StartStreams(addr string, n int, every, reconnect time.Duration) *Streams {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Streams{cancel: cancel, Reconnects: make([]atomic.Int64, n)}
	a := &Agent{cfg: AgentConfig{Name: "stream", MessageEvery: every, PingEvery: time.Hour, Reconnect: reconnect}}
	for i := range n {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			var d net.Dialer
			for seq := 0; ctx.Err() == nil; {
				conn, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					if ctx.Err() == nil {
						s.DialErrors.Add(1)
					}
				} else {
					s.Connected.Add(1)
					seq = a.talk(ctx, conn, false, every, seq)
					s.Connected.Add(-1)
					conn.Close()
					if ctx.Err() != nil {
						return
					}
					s.Reconnects[i].Add(1)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(reconnect):
				}
			}
		}()
	}
	return s
}

// Stop ends every stream.
func (s *Streams) Stop() {
	s.cancel()
	s.wg.Wait()
}
