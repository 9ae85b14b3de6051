package command

import (
	"flag"

	"github.com/pinlb/pinlb/discovery"
)

// consulFlag adds -consul-address to fs.
func consulFlag(fs *flag.FlagSet) *string {
	return fs.String("consul-address", "", "")
}

// consulHelp documents consulFlag.
const consulHelp = `
  -consul-address=<addr>
     The local Consul agent's HTTP address. Default: $CONSUL_HTTP_ADDR, then
     127.0.0.1:8500. Every CONSUL_* variable of the Consul CLI applies
     (CONSUL_HTTP_TOKEN, CONSUL_CACERT, ...).`

// newConsulClient builds a client from the CONSUL_* environment, with the
// address overridden when given.
func newConsulClient(address string) (*discovery.Client, error) {
	return discovery.NewClient(discovery.ClientConfig{Address: address})
}
