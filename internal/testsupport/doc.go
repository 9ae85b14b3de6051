// Package testsupport is what the tests share: a real Consul server on free
// ports (consul.go), real loopback backends (backend.go), a throwaway
// certificate authority (ca.go), the one bounded wait and the one free-port
// helper (wait.go), and the rule for tests whose part is missing
// (need.go).
package testsupport
