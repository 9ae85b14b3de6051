package pinpoint

import (
	"fmt"
	"strings"
)

// thriftKeys are each Thrift port's key in 1.x and in 2.x and later, and
// its flag in 2.x and later ("" for the agent port, which has none).
var thriftKeys = map[string]struct{ v1, v2, flag string }{
	"thrift-agent": {"collector.tcpListenPort", "collector.receiver.base.port", ""},
	"thrift-stat":  {"collector.udpStatListenPort", "collector.receiver.stat.udp.port", "collector.receiver.stat.udp"},
	"thrift-span":  {"collector.udpSpanListenPort", "collector.receiver.span.udp.port", "collector.receiver.span.udp"},
}

// Ports derives the ports the collector listens on, by Port.Name and
// "cluster"; 0 for one it does not open.
func (c *CollectorConfig) Ports() (map[string]int, error) {
	out := map[string]int{}
	v1 := c.Generation() == 1
	for _, p := range Ports {
		var n int
		var err error
		if keys, thrift := thriftKeys[p.Name]; thrift {
			n, err = c.thriftPort(p, keys.v1, keys.v2, keys.flag, v1)
		} else if !v1 {
			n, err = c.grpcPort(p)
		}
		if err != nil {
			return nil, err
		}
		out[p.Name] = n
	}
	n, err := c.port(0, "cluster.listen.port") // absent, empty or -1: pinpoint-web is not served
	if err != nil {
		return nil, err
	}
	if on, err := c.enabled("cluster.enable"); err != nil || !on {
		n = 0
	}
	out[Cluster.Name] = n
	return out, nil
}

// grpcPort reads collector.receiver.grpc.ROLE: bindaddress.port since
// 2.3.1, port before, and its enable flag.
func (c *CollectorConfig) grpcPort(p Port) (int, error) {
	base := "collector.receiver.grpc." + p.Name[len("grpc-"):] + "."
	on, err := c.enabled(base + "enable")
	if err != nil || !on {
		return 0, err
	}
	return c.port(p.Default, base+"bindaddress.port", base+"port")
}

func (c *CollectorConfig) thriftPort(p Port, v1Key, v2Key, flag string, v1 bool) (int, error) {
	if v1 {
		return c.port(p.Default, v1Key)
	}
	// 3.x has no Thrift receivers (Pinpoint #9932): a 2.x or later
	// configuration that names none of a Thrift port's keys says nothing of
	// it (0); the collector's version decides (see Generation).
	if _, flagged := c.keys[flag]; !flagged && !c.has(strings.TrimSuffix(v2Key, "port")) {
		return 0, nil
	}
	if flag != "" {
		on, err := c.enabled(flag)
		if err != nil || !on {
			return 0, err
		}
	}
	return c.port(p.Default, v2Key)
}

// Describe says which ports were found, for the log.
func Describe(ports map[string]int) string {
	s := ""
	for _, p := range append(Ports, Cluster) {
		if n := ports[p.Name]; n != 0 {
			s += fmt.Sprintf(" %s=%d", p.Name, n)
		}
	}
	if s == "" {
		return "none"
	}
	return s[1:]
}

// Generation is the collector's major line as its configuration shows it:
// 1 with 1.x's keys (no gRPC, the old Thrift names), 2 when it names a
// Thrift receiver with 2.x's keys (3.x has none), 0 when it cannot tell: a
// 2.x file that names only gRPC leaves Thrift on, and a 3.x one has none,
// which only the collector's version tells apart.
func (c *CollectorConfig) Generation() int {
	switch {
	case !c.has("collector.receiver.") && c.hasV1Keys():
		return 1
	case c.NamesThrift():
		return 2
	}
	return 0
}

// NamesThrift reports whether a 2.x or later configuration says anything
// of a Thrift receiver.
func (c *CollectorConfig) NamesThrift() bool {
	for _, k := range thriftKeys {
		if _, flagged := c.keys[k.flag]; flagged || c.has(strings.TrimSuffix(k.v2, "port")) {
			return true
		}
	}
	return false
}

// hasV1Keys reports whether one of the 1.x Thrift keys is set.
func (c *CollectorConfig) hasV1Keys() bool {
	for _, k := range thriftKeys {
		if _, ok := c.keys[k.v1]; ok {
			return true
		}
	}
	return false
}
