// Package sim simulates Pinpoint collectors and agents, for tests and for
// `make demo`. It speaks just enough of Pinpoint to exercise pinlb: the
// Thrift ping/pong on the agent port, the UDP network-check probe, and
// framed messages whose integrity the collector checks, so that a message
// cut mid-way by the balancer is seen and counted.
package sim
