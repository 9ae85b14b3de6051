package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/pinlb/pinlb/internal/pinpoint"
)

// Collector is a simulated Pinpoint collector listening on every port in
// pinpoint.Ports plus the cluster port, each on a free loopback port.
type Collector struct {
	Name  string
	Host  string
	Ports map[string]int // by pinpoint.Port.Name, plus "cluster"

	tcp   map[string]net.Listener
	udp   map[string]*net.UDPConn
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup

	silent atomic.Bool // answers no ping and no probe
	stats  CollectorStats
}

// CollectorStats are a collector's counters.
type CollectorStats struct {
	ActiveConns atomic.Int64
	Conns       atomic.Int64 // accepted in all
	Messages    atomic.Int64 // complete, intact frames
	Bytes       atomic.Int64
	Cut         atomic.Int64 // frames cut mid-way by a closing connection
	Corrupt     atomic.Int64 // frames with a bad checksum
	Pings       atomic.Int64
	Datagrams   atomic.Int64
	Probes      atomic.Int64
	// Streams are the open TCP connections by port name (made before the
	// collector listens, read concurrently).
	Streams map[string]*atomic.Int64
}

// StartCollector starts a collector on host (an IP) with every port free.
func StartCollector(name, host string) (*Collector, error) {
	return StartCollectorOn(name, host, append(pinpoint.Ports, pinpoint.Cluster))
}

// StartCollectorOn starts a collector that serves only ports, each on a
// free port: the Thrift ones beside a gRPC stand-in, say.
func StartCollectorOn(name, host string, ports []pinpoint.Port) (*Collector, error) {
	c := &Collector{
		Name: name, Host: host, Ports: map[string]int{},
		tcp: map[string]net.Listener{}, udp: map[string]*net.UDPConn{}, conns: map[net.Conn]struct{}{},
	}
	c.stats.Streams = map[string]*atomic.Int64{}
	for _, p := range ports {
		if err := c.listen(p); err != nil {
			c.Kill()
			return nil, fmt.Errorf("collector %s: %s: %w", name, p.Name, err)
		}
	}
	return c, nil
}

func (c *Collector) listen(p pinpoint.Port) error {
	addr := net.JoinHostPort(c.Host, "0")
	if p.Protocol == "udp" {
		ua, _ := net.ResolveUDPAddr("udp", addr)
		conn, err := net.ListenUDP("udp", ua)
		if err != nil {
			return err
		}
		c.udp[p.Name] = conn
		c.Ports[p.Name] = conn.LocalAddr().(*net.UDPAddr).Port
		c.wg.Add(1)
		go c.receive(conn)
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	c.tcp[p.Name] = ln
	c.Ports[p.Name] = ln.Addr().(*net.TCPAddr).Port
	streams := new(atomic.Int64)
	c.stats.Streams[p.Name] = streams
	c.wg.Add(1)
	go c.accept(ln, streams)
	return nil
}

// Stats returns the collector's counters.
func (c *Collector) Stats() *CollectorStats { return &c.stats }

// SetSilent makes the collector stop (or resume) answering pings and
// probes while its ports stay open: unhealthy, but not dead.
func (c *Collector) SetSilent(silent bool) { c.silent.Store(silent) }

// KillTCP closes the TCP listeners and connections, as a crashed TCP
// receiver would.
func (c *Collector) KillTCP() {
	for _, ln := range c.tcp {
		ln.Close()
	}
	c.mu.Lock()
	for conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
}

// KillUDP closes the UDP receivers.
func (c *Collector) KillUDP() {
	for _, conn := range c.udp {
		conn.Close()
	}
}

// Kill stops everything, as a crash would, and waits for it.
func (c *Collector) Kill() {
	c.KillTCP()
	c.KillUDP()
	c.wg.Wait()
}

func (c *Collector) accept(ln net.Listener, streams *atomic.Int64) {
	defer c.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		c.mu.Lock()
		c.conns[conn] = struct{}{}
		c.mu.Unlock()
		c.stats.Conns.Add(1)
		c.stats.ActiveConns.Add(1)
		streams.Add(1)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.serve(conn)
			conn.Close()
			c.mu.Lock()
			delete(c.conns, conn)
			c.mu.Unlock()
			c.stats.ActiveConns.Add(-1)
			streams.Add(-1)
		}()
	}
}

// serve reads pings and data frames until the connection ends.
func (c *Collector) serve(conn net.Conn) {
	for {
		var typ [2]byte
		if _, err := io.ReadFull(conn, typ[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				c.stats.Cut.Add(1)
			}
			return
		}
		switch {
		case bytes.Equal(typ[:], pinpoint.Ping), bytes.Equal(typ[:], pinpoint.LegacyPing):
			c.stats.Pings.Add(1)
			if !c.silent.Load() {
				conn.Write(pinpoint.Pong)
			}
		case binary.BigEndian.Uint16(typ[:]) == frameData:
			n, err := readBody(conn)
			switch {
			case errors.Is(err, io.ErrUnexpectedEOF):
				c.stats.Cut.Add(1)
				return
			case errors.Is(err, errCorrupt):
				c.stats.Corrupt.Add(1)
				return
			case err != nil:
				return
			}
			c.stats.Messages.Add(1)
			c.stats.Bytes.Add(int64(n))
		default:
			c.stats.Corrupt.Add(1)
			return
		}
	}
}

func (c *Collector) receive(conn *net.UDPConn) {
	defer c.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if bytes.Equal(buf[:n], pinpoint.Probe) {
			c.stats.Probes.Add(1)
			if !c.silent.Load() {
				conn.WriteToUDPAddrPort(pinpoint.ProbeReply, from)
			}
			continue
		}
		c.stats.Datagrams.Add(1)
		c.stats.Bytes.Add(int64(n))
	}
}
