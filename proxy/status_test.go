//go:build linux

package proxy

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// records is a Recorder that keeps what it hears.
type records struct {
	mu  sync.Mutex
	all []Record
}

func (r *records) Record(rec *Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, *rec)
}

func (r *records) wait(t *testing.T, n int) []Record {
	t.Helper()
	testsupport.WaitFor(t, "records", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.all) >= n
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.all...)
}

func byAddr(l Listener) map[string]EndpointStatus {
	out := map[string]EndpointStatus{}
	_, eps := l.Status()
	for _, st := range eps {
		out[st.Addr.String()] = st
	}
	return out
}

func TestTCP_EndpointStatusAndRecords(t *testing.T) {
	live, dead := testsupport.StartTCP(t), deadAddr(t)
	rec := &records{}
	cfg := tcpConfig()
	cfg.MaxFails, cfg.FailTimeout, cfg.MaxConns = 1, time.Hour, 1
	cfg.Recorder = rec
	l := startTCP(t, cfg, live.Addr, dead)

	// Round robin starts anywhere: connect until the dead one was tried.
	var c *net.TCPConn
	for l.Stats().ConnectFailures == 0 {
		if c != nil { // max_conns 1: let it end before the next
			c.Close()
			testsupport.WaitFor(t, "the connection to end", func() bool { return l.Stats().Active == 0 })
		}
		c = dial(t, l)
		_, err := c.Write([]byte("hello"))
		must.NoError(t, err)
		_, err = io.ReadFull(c, make([]byte, 5))
		must.NoError(t, err)
	}
	st := byAddr(l)
	must.Eq(t, StateOut, st[dead.String()].State)
	must.Eq(t, []string{"passive:1 failures"}, st[dead.String()].Reasons)
	must.Eq(t, 1, st[dead.String()].ConnectFailures)
	must.Eq(t, time.Hour, st[dead.String()].Until.Sub(st[dead.String()].Since))

	up := st[live.Addr.String()]
	must.Eq(t, StateActive, up.State)
	must.Eq(t, []string{"max_conns 1"}, up.Reasons) // the open one fills it
	must.Eq(t, 1, up.Active)
	must.GreaterEq(t, 5, up.BytesIn) // counted while the connection is open
	must.GreaterEq(t, 5, l.Stats().BytesIn)

	c.Close()
	testsupport.WaitFor(t, "the connection to end", func() bool { return l.Stats().Active == 0 })
	all := rec.wait(t, int(up.Connections))
	last := all[len(all)-1]
	must.Eq(t, "ok", last.Status)
	must.Eq(t, live.Addr, last.Upstream)
	must.Eq(t, 5, last.BytesIn)
	must.Eq(t, 5, last.BytesOut)
	must.Eq(t, l.Addr().String(), last.Local.String())

	// When every try fails, the record says so.
	l.SetEndpoints([]Endpoint{{Addr: dead, Weight: 1}, {Addr: deadAddr(t), Weight: 1}})
	closedByProxy(t, dial(t, l))
	all = rec.wait(t, len(all)+1)
	must.Eq(t, "connect_failed", all[len(all)-1].Status)
}

func closedByProxy(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	must.ErrorIs(t, err, io.EOF)
}

func TestUDP_EndpointCountersAndSessionRecord(t *testing.T) {
	a := testsupport.StartUDP(t)
	rec := &records{}
	cfg := udpConfig(SessionMode)
	cfg.UDP.Responses = 1
	cfg.Recorder = rec
	l := startUDP(t, cfg, a)
	c := client(t, l)
	send(t, c, 1, []byte("span"))
	send(t, c, 1, testsupport.Probe)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 16))
	must.NoError(t, err)

	r := rec.wait(t, 1)[0]
	must.Eq(t, "responses", r.Status)
	must.Eq(t, a.Addr, r.Upstream)
	must.Eq(t, 2, r.DatagramsIn)
	must.Eq(t, 1, r.DatagramsOut)
	must.Eq(t, uint64(4+len(testsupport.Probe)), r.BytesIn)
	st := byAddr(l)[a.Addr.String()]
	must.Eq(t, 2, st.DatagramsIn)
	must.Eq(t, 1, st.DatagramsOut)
	must.Eq(t, uint64(len(testsupport.ProbeReply)), st.BytesOut)
}
