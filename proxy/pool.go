package proxy

import "github.com/pinlb/pinlb/proxy/pool"

// The pool's types and names, as the proxy's callers know them: a
// listener's endpoints, their status and the pool's events.
type (
	// Endpoint is one backend.
	Endpoint = pool.Endpoint
	// EndpointStatus is one endpoint's state and counters, for operators.
	EndpointStatus = pool.EndpointStatus
	// Event is something the proxy decided about an endpoint.
	Event = pool.Event
)

// Endpoint states, event kinds and balance algorithms (see package pool).
const (
	StateActive   = pool.StateActive
	StateDraining = pool.StateDraining
	StateOut      = pool.StateOut

	EventEjected   = pool.EventEjected
	EventRestored  = pool.EventRestored
	EventDrained   = pool.EventDrained
	EventRebalance = pool.EventRebalance

	RoundRobin = pool.RoundRobin
	LeastConn  = pool.LeastConn
	RandomTwo  = pool.RandomTwo
	Hash       = pool.Hash
	LeastTime  = pool.LeastTime
)

// Balancers lists the balance algorithms, sorted.
func Balancers() []string { return pool.Balancers() }

//END
