package proxy

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// statusLimited ends a connection that a per-source limit refused.
const statusLimited = "limited"

// LimitsConfig bounds what one client address may take of a listener.
type LimitsConfig struct {
	MaxConnsPerSource int     // open TCP connections per client address; 0 means no limit
	ConnRatePerSource float64 // new TCP connections a second per client address (a token bucket as deep as one second); 0 means no limit
	// DatagramRatePerSource: UDP datagrams a second per client address (a
	// burst of one second's worth); those over it are dropped. 0 means no
	// limit.
	DatagramRatePerSource float64
	// MaxSources bounds the table of client addresses the TCP limits track:
	// beyond it the least recently seen address is forgotten, so a flood
	// from any number of addresses takes bounded memory.
	MaxSources int
}

func (c LimitsConfig) on() bool { return c.MaxConnsPerSource > 0 || c.ConnRatePerSource > 0 }

// source is what the limits know of one client address.
type source struct {
	addr   netip.Addr
	open   int     // connections open
	tokens float64 // of the rate's bucket
	last   int64   // unix nanoseconds of the last refill
	elem   *list.Element
}

// sources is a listener's table of client addresses: an exact count per
// address, in a map bounded by an LRU list. One lock, taken once when a
// connection opens and once when it closes: never on the data path.
type sources struct {
	mu  sync.Mutex
	m   map[netip.Addr]*source
	lru list.List // front: most recently seen
}

func newSources() *sources { return &sources{m: map[netip.Addr]*source{}} }

// admit reports whether addr may open one more connection under cfg, and
// counts it when it may; release must follow for an admitted one. A
// refusal says which limit.
func (s *sources) admit(addr netip.Addr, cfg LimitsConfig, now time.Time) (*source, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.get(addr, cfg, now)
	if cfg.ConnRatePerSource > 0 {
		elapsed := float64(now.UnixNano()-src.last) / float64(time.Second)
		src.tokens = min(cfg.ConnRatePerSource, src.tokens+elapsed*cfg.ConnRatePerSource)
		src.last = now.UnixNano()
	}
	switch {
	case cfg.MaxConnsPerSource > 0 && src.open >= cfg.MaxConnsPerSource:
		return nil, "max_conns_per_source"
	case cfg.ConnRatePerSource > 0 && src.tokens < 1:
		return nil, "conn_rate_per_source"
	}
	src.tokens--
	src.open++
	return src, ""
}

// release counts a connection of src closed. An address forgotten since
// (the table was full) is not in the table any more, and stays out.
func (s *sources) release(src *source) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src.open--
}

// get finds or makes addr's entry, most recently seen now; a new one
// starts with a full bucket, and pushes the least recently seen address
// out of a full table.
func (s *sources) get(addr netip.Addr, cfg LimitsConfig, now time.Time) *source {
	if src, ok := s.m[addr]; ok {
		s.lru.MoveToFront(src.elem)
		return src
	}
	if cfg.MaxSources > 0 && len(s.m) >= cfg.MaxSources {
		old := s.lru.Remove(s.lru.Back()).(*source)
		delete(s.m, old.addr)
	}
	src := &source{addr: addr, tokens: cfg.ConnRatePerSource, last: now.UnixNano()}
	src.elem = s.lru.PushFront(src)
	s.m[addr] = src
	return src
}

// len is how many addresses the table holds.
func (s *sources) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
