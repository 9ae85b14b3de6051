//go:build tools

// Package consul pins the Consul server built by `make consul`.
package consul

import _ "github.com/hashicorp/consul"
