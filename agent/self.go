package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"

	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/discovery"
	"github.com/pinlb/pinlb/version"
)

// selfReg is a running register_self: pinlb's own instance in Consul.
type selfReg struct {
	cfg    config.RegisterSelf
	consul config.Consul
	cancel context.CancelFunc
	done   chan struct{}
}

// setSelf starts, restarts or stops the self-registration to match cfg.
// a.mu is held.
func (a *Agent) setSelf(cfg *config.Config) error {
	prev := a.self
	if prev != nil && reflect.DeepEqual(prev.cfg, cfg.RegisterSelf) && prev.consul == cfg.Consul {
		return nil
	}
	if !cfg.RegisterSelf.Enabled {
		a.self = nil
		if prev != nil {
			go prev.stop() // not under a.mu: its loop reads the listeners
		}
		return nil
	}
	client, err := discovery.NewClient(clientConfig(cfg.Consul))
	if err != nil {
		return fmt.Errorf("register_self: consul: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &selfReg{cfg: cfg.RegisterSelf, consul: cfg.Consul, cancel: cancel, done: make(chan struct{})}
	a.self = s
	id := s.cfg.ID
	if id == "" {
		host, _ := os.Hostname()
		id = s.cfg.Service + "-" + host
	}
	logger := a.logger.Named("register_self")
	go func() {
		defer close(s.done)
		if prev != nil {
			prev.stop() // deregisters first: the new instance may have the same ID
		}
		err := discovery.KeepRegistered(ctx, discovery.RegisterInput{
			Client:       client,
			Registration: func() discovery.Registration { return selfRegistration(a, s.cfg, id) },
			Interval:     s.cfg.TTL / 3,
			Logger:       logger,
		})
		if err != nil {
			logger.Error("leaving consul failed", "error", err)
		}
	}()
	return nil
}

// stop deregisters the instance and waits until it is done.
func (s *selfReg) stop() {
	s.cancel()
	<-s.done
}

// selfRegistration is pinlb's instance: its listeners' ports in meta, and a
// TTL check per listener that is critical while it has no active endpoint.
func selfRegistration(v view, cfg config.RegisterSelf, id string) discovery.Registration {
	ls := v.Listeners()
	reg := discovery.Registration{
		ID: id, Service: cfg.Service, Address: cfg.Address, Tags: cfg.Tags,
		Meta: map[string]string{"version": version.Version},
	}
	for _, l := range ls {
		_, port, _ := net.SplitHostPort(l.Address)
		reg.Meta["port_"+strings.ReplaceAll(l.Name, ".", "_")] = port
		reg.Checks = append(reg.Checks, discovery.Check{
			ID: "pinlb:" + id + ":" + l.Name, Name: "pinlb listener " + l.Name, TTL: cfg.TTL,
			Notes: fmt.Sprintf("critical while %s %s has no active endpoint", l.Protocol, l.Address),
			Run:   listenerCheck(v, l.Name),
		})
	}
	return reg
}

// listenerCheck passes while the listener has an active endpoint.
func listenerCheck(v view, name string) func() error {
	return func() error {
		cur, ok := v.Listener(name)
		switch {
		case !ok:
			return errors.New("listener removed")
		case cur.Pool.Active > 0:
			return nil
		}
		var why []string
		for _, e := range cur.Endpoints {
			why = append(why, e.Address+": "+strings.Join(e.Reasons, ", "))
		}
		return fmt.Errorf("no active endpoint (%d draining, %d out) %s", cur.Pool.Draining, cur.Pool.Out, strings.Join(why, "; "))
	}
}
