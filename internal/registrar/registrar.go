// Package registrar keeps one service instance registered in the local
// Consul agent, feeds its TTL checks, registers it again when the agent
// loses it, and deregisters it at the end. `pinlb register` (a collector)
// and the agent's register_self use it.
package registrar

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"
)

// Check is a TTL check of the instance and what decides it: Run returning
// nil reports passing, an error reports critical with its message.
type Check struct {
	ID  string
	Run func() error
}

// Input configures Run.
type Input struct {
	Client *api.Client
	// Registration returns the instance and its TTL checks; it is called
	// every Interval, and a registration that changed is sent again.
	Registration func() (*api.AgentServiceRegistration, []Check)
	Interval     time.Duration
	Logger       hclog.Logger
}

// Run keeps the instance registered and its checks fed until ctx is done,
// then deregisters it.
func Run(ctx context.Context, in Input) error {
	agent := in.Client.Agent()
	var registered *api.AgentServiceRegistration
	failing := map[string]string{} // check ID → last failure, so only changes are logged
	t := time.NewTicker(in.Interval)
	defer t.Stop()
	for {
		reg, checks := in.Registration()
		if registered != nil && registered.ID != reg.ID {
			agent.ServiceDeregister(registered.ID)
			registered = nil
		}
		if registered == nil || !reflect.DeepEqual(registered, reg) {
			if err := agent.ServiceRegister(reg); err != nil {
				in.Logger.Error("registration failed; retrying", "id", reg.ID, "error", err)
				registered = nil
			} else {
				registered = reg
				in.Logger.Info("registered", "service", reg.Name, "id", reg.ID, "address", reg.Address, "checks", len(reg.Checks))
			}
		}
		if registered != nil {
			for _, c := range checks {
				status, output := api.HealthPassing, "ok"
				if err := c.Run(); err != nil {
					status, output = api.HealthCritical, err.Error()
				}
				if prev, was := failing[c.ID]; status == api.HealthCritical && prev != output {
					in.Logger.Warn("check failing", "check", c.ID, "error", output)
					failing[c.ID] = output
				} else if status == api.HealthPassing && was {
					in.Logger.Info("check passing again", "check", c.ID)
					delete(failing, c.ID)
				}
				if err := agent.UpdateTTL(c.ID, output, status); err != nil {
					// The agent lost the check: restarted in -dev mode,
					// or the instance was removed behind our back.
					in.Logger.Warn("consul agent lost the registration; registering again", "error", err)
					registered = nil
					break
				}
			}
		}
		select {
		case <-ctx.Done():
			if registered == nil {
				return nil
			}
			if err := agent.ServiceDeregister(registered.ID); err != nil {
				return fmt.Errorf("deregister %s: %w", registered.ID, err)
			}
			in.Logger.Info("deregistered", "id", registered.ID)
			return nil
		case <-t.C:
		}
	}
}
