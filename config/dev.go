package config

import _ "embed"

//go:embed dev.hcl
var devHCL []byte

// DevSourceName is how diagnostics name the built-in -dev configuration.
const DevSourceName = "(dev)"

// Dev is the built-in configuration of `pinlb agent -dev`: the Pinpoint
// collector ports on loopback, forwarding to the Consul service
// "pinpoint-collector" with each port read from the service's meta.
func Dev() Source {
	return Source{Name: DevSourceName, Data: devHCL}
}
