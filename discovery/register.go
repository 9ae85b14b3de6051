package discovery

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"
)

// RegisterInput configures KeepRegistered.
type RegisterInput struct {
	Client *Client
	// Registration returns the instance; it is called every Interval, and
	// a registration that changed is sent again.
	Registration func() Registration
	Interval     time.Duration
	Logger       hclog.Logger
}

// KeepRegistered keeps one instance registered in the local Consul agent
// until ctx is done, then deregisters it: it feeds the TTL checks every
// Interval, sends a changed registration again, and registers again when
// the agent lost it (restarted in -dev mode, or the instance removed
// behind pinlb's back). `pinlb register` and register_self use it.
func KeepRegistered(ctx context.Context, in RegisterInput) error {
	agent := in.Client.api.Agent()
	var registered *api.AgentServiceRegistration
	failing := map[string]string{} // check ID → last failure, so only changes are logged
	t := time.NewTicker(in.Interval)
	defer t.Stop()
	for {
		r := in.Registration()
		reg := r.api()
		if registered != nil && registered.ID != reg.ID {
			agent.ServiceDeregister(registered.ID)
			registered = nil
		}
		if registered == nil || !reflect.DeepEqual(registered, reg) {
			registered = sendRegistration(agent, reg, in.Logger)
		}
		if registered != nil && !feedChecks(agent, r.Checks, failing, in.Logger) {
			registered = nil
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

// sendRegistration sends reg and returns it, or nil when the agent refused it.
func sendRegistration(agent *api.Agent, reg *api.AgentServiceRegistration, logger hclog.Logger) *api.AgentServiceRegistration {
	if err := agent.ServiceRegister(reg); err != nil {
		logger.Error("registration failed; retrying", "id", reg.ID, "error", err)
		return nil
	}
	logger.Info("registered", "service", reg.Name, "id", reg.ID, "address", reg.Address, "checks", len(reg.Checks))
	return reg
}

// feedChecks runs and reports every TTL check, logging only changes, and
// reports false when the agent has lost the registration.
func feedChecks(agent *api.Agent, checks []Check, failing map[string]string, logger hclog.Logger) bool {
	for _, c := range checks {
		if c.Run == nil {
			continue
		}
		status, output := api.HealthPassing, "ok"
		if err := c.Run(); err != nil {
			status, output = api.HealthCritical, err.Error()
		}
		if prev, was := failing[c.ID]; status == api.HealthCritical && prev != output {
			logger.Warn("check failing", "check", c.ID, "error", output)
			failing[c.ID] = output
		} else if status == api.HealthPassing && was {
			logger.Info("check passing again", "check", c.ID)
			delete(failing, c.ID)
		}
		if err := agent.UpdateTTL(c.ID, output, status); err != nil {
			logger.Warn("consul agent lost the registration; registering again", "error", err)
			return false
		}
	}
	return true
}

// LocalInstances lists the IDs of service's instances registered in the
// local agent.
func (c *Client) LocalInstances(service string) ([]string, error) {
	services, err := c.api.Agent().ServicesWithFilter(fmt.Sprintf("Service == %q", service))
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(services))
	for id := range services {
		ids = append(ids, id)
	}
	return ids, nil
}

// SetMaintenance puts the local instance id in maintenance (on) with
// reason, or takes it out.
func (c *Client) SetMaintenance(id string, on bool, reason string) error {
	if on {
		return c.api.Agent().EnableServiceMaintenance(id, reason)
	}
	return c.api.Agent().DisableServiceMaintenance(id)
}
