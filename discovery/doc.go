// Package discovery is pinlb's one room for finding endpoints, and the only
// package that speaks Consul's API (`make check` forbids it elsewhere).
//
//   - Sources (source.go): a Source emits typed snapshots of one upstream's
//     instances. The Consul Watcher (watcher.go) follows a service with
//     blocking queries and emits only when the effective set changes; its
//     rules (index resets, backoff, pacing, the resync hold of hold.go, the
//     ACL checks) sit behind the fetcher seam of fetch.go, so that they have
//     millisecond tests. Static emits an upstream's fixed servers.
//   - Clients (client.go): ClientConfig over the CONSUL_* environment, the
//     token resolved when the client is built.
//   - Registration (registration.go, register.go): KeepRegistered keeps one
//     instance and its TTL checks in the local agent, for `pinlb register`
//     and register_self; SetMaintenance and LocalInstances for `pinlb maint`.
//
// It knows nothing of the proxy or of HCL.
package discovery
