// Package sim simulates Pinpoint collectors and agents where their bytes
// are pinlb's own test fixtures: the Thrift ping/pong on the agent port,
// the UDP network-check probe and datagrams, and framed messages whose
// integrity the collector checks, so that a message cut mid-way by the
// balancer is seen and counted.
//
// Its framed "gRPC" streams are not gRPC, and go quiet on a schedule the
// test chooses: tests of pinlb's own mechanisms (rebalancing quiet
// connections, the fleet's scale-out) use them. Claims about Pinpoint's
// gRPC traffic are measured with the real agent (internal/nodeagent) and
// the gRPC stand-ins (internal/pinpointgrpc) instead.
package sim
