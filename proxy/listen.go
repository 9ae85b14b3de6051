package proxy

import (
	"fmt"

	"github.com/hashicorp/go-hclog"
)

// Listen binds cfg.Address and starts serving. The listener has no endpoints
// until SetEndpoints is called; until then it closes connections and drops
// datagrams, counting them. Its errors name the listener.
func Listen(cfg Config, logger hclog.Logger) (Listener, error) {
	if err := check(cfg); err != nil {
		return nil, err
	}
	logger = logger.With("listener", cfg.Name)
	var (
		l   Listener
		err error
	)
	switch cfg.Protocol {
	case TCP:
		l, err = listenTCP(cfg, logger)
	case UDP:
		l, err = listenUDP(cfg, logger)
	default:
		err = fmt.Errorf("unknown protocol %q", cfg.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", cfg.Name, err)
	}
	return l, nil
}
