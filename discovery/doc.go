// Package discovery finds endpoints: it watches Consul with blocking queries
// and emits sorted, typed snapshots when the effective set of healthy
// instances changes. It knows nothing of the proxy or of HCL.
package discovery
