// Package fault is pinlb's fault-injection suite: the real binary, a real
// Consul, real sockets, and the faults operators meet (reload storms,
// Consul killed or wiped, tokens without rights, dead and black-holed
// collectors, hostile clients, malformed and slow PROXY headers, UDP
// floods, bad configs, fd exhaustion, churn, shutdown under load). Every
// scenario prints its figures and fails on a lost connection, a crash, a
// leak, or an empty pool with live collectors.
//
// `make test` runs it short; `make fault` runs it long and prints a table:
//
//	go test -count=1 -v -run TestFault ./fault -args -long
package fault
