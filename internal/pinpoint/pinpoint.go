// Package pinpoint holds the facts about Pinpoint collectors that pinlb's
// commands share: the collector's ports, the Consul meta keys that carry
// them, and the two probes a collector answers.
package pinpoint

import "strings"

// Service is the Consul service name collectors register under by default.
const Service = "pinpoint-collector"

// Port is one collector port: its role, Pinpoint's default number, its
// protocol and the Consul meta key that carries it.
type Port struct {
	Name     string // flag and listener name, e.g. "grpc-agent"
	Default  int
	Protocol string // "tcp" or "udp"
	MetaKey  string // e.g. "port_grpc_agent"
}

// Ports are the balanced collector ports. 9997, the pinpoint-web cluster
// port, is not among them: pinpoint-web must reach every collector.
var Ports = []Port{
	{"grpc-agent", 9991, "tcp", "port_grpc_agent"},
	{"grpc-stat", 9992, "tcp", "port_grpc_stat"},
	{"grpc-span", 9993, "tcp", "port_grpc_span"},
	{"thrift-agent", 9994, "tcp", "port_thrift_agent"},
	{"thrift-stat", 9995, "udp", "port_thrift_stat"},
	{"thrift-span", 9996, "udp", "port_thrift_span"},
}

// GRPC reports whether p is one of the gRPC ports (2.x and later).
func (p Port) GRPC() bool { return strings.HasPrefix(p.Name, "grpc-") }

// GRPCPorts are the balanced ports of Pinpoint's gRPC transport (2.x and
// later).
func GRPCPorts() []Port { return portsWhere(Port.GRPC) }

// ThriftPorts are the balanced ports of Pinpoint's Thrift transport (1.x,
// 2.x): every one but the gRPC ports.
func ThriftPorts() []Port { return portsWhere(func(p Port) bool { return !p.GRPC() }) }

func portsWhere(keep func(Port) bool) []Port {
	var out []Port
	for _, p := range Ports {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// Defaults maps each of ports, by name, to Pinpoint's default number: what
// an agent sends to when pinlb listens on Pinpoint's ports.
func Defaults(ports []Port) map[string]int {
	out := make(map[string]int, len(ports))
	for _, p := range ports {
		out[p.Name] = p.Default
	}
	return out
}

// Cluster is the collector's cluster port, which pinpoint-web connects to
// directly (cluster.connect.address). Never balance it.
var Cluster = Port{"cluster", 9997, "tcp", "port_cluster"}

// Thrift agent channel control packets: a ping is answered with a pong
// before any handshake.
var (
	Ping       = []byte{0x00, 0xD2} // CONTROL_PING_SIMPLE
	LegacyPing = []byte{0x00, 0xC8} // CONTROL_PING
	Pong       = []byte{0x00, 0xC9} // CONTROL_PONG
)

// The UDP network-check probe of the stat and span receivers, and its reply.
var (
	Probe      = []byte{0xEF, 0x10, 0x00, 0x0A}
	ProbeReply = []byte("OK")
)
