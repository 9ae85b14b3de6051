package agent

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/pinlb/pinlb/config"
)

// ReloadConfig loads the configuration again and applies it, as SIGHUP and
// POST /v1/reload do, logs and counts the outcome. On error the running
// configuration stays.
func (a *Agent) ReloadConfig() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	err := a.reloadOnce()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reloads++
	a.lastReload = &ReloadEvent{At: time.Now()}
	if err != nil {
		a.reloadErrors++
		a.lastReload.Error = err.Error()
		a.events.add(Event{Kind: EventRefused, Cause: err.Error()})
		return err
	}
	a.events.add(Event{Kind: EventReloaded, Cause: fmt.Sprintf("%d listeners", len(a.cfg.Listeners))})
	return nil
}

func (a *Agent) reloadOnce() error {
	if a.opts.Load == nil {
		return errors.New("this agent has no configuration to reload")
	}
	cfg, diags := a.opts.Load()
	for _, line := range strings.Split(strings.TrimRight(config.FormatDiagnostics(diags), "\n"), "\n") {
		if line != "" {
			a.logger.Error("configuration problem", "diagnostic", line)
		}
	}
	if diags.HasErrors() {
		a.logger.Error("reload failed: configuration is invalid; the running configuration stays")
		return fmt.Errorf("configuration is invalid; the running configuration stays:\n%s", strings.TrimSpace(config.FormatDiagnostics(diags)))
	}
	if err := a.Reload(cfg); err != nil {
		a.logger.Error("reload failed; the running configuration stays", "error", err)
		return err
	}
	return nil
}

// Reload moves the agent to cfg. A listener whose protocol and address are
// unchanged keeps its socket and open connections and takes the new settings
// and backends for new connections; a new listener is bound; a listener no
// longer in cfg stops accepting and drains in the background. If a new
// listener cannot bind, nothing changes and the error says why.
func (a *Agent) Reload(cfg *config.Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.started || a.stopped {
		return errors.New("agent is not running")
	}
	if err := a.alog.configure(cfg.AccessLog); err != nil {
		return err
	}
	removed, err := a.apply(cfg)
	if err != nil {
		a.alog.configure(a.cfg.AccessLog)
		return err
	}
	if !reflect.DeepEqual(cfg.Telemetry, a.cfg.Telemetry) {
		a.logger.Warn("telemetry changes take effect when pinlb restarts; the running sinks stay")
	}
	// The listeners are committed: what follows cannot undo them, so the
	// removed ones drain whatever else fails, where Shutdown finds them.
	a.cfg = cfg
	if a.opts.SetLogging != nil {
		a.opts.SetLogging(cfg.LogLevel, cfg.LogJSON)
	}
	for _, l := range removed {
		a.events.add(Event{Kind: EventRemoved, Listener: l.cfg.Name, Cause: "not in the configuration any more; its open connections drain"})
		a.drain(l, cfg.ShutdownTimeout)
	}
	if err := a.setSelf(cfg); err != nil {
		a.logger.Error("register_self not updated", "error", err)
	}
	if err := a.setAPI(cfg.API); err != nil {
		err = fmt.Errorf("listeners reloaded, but the API could not move: %w", err)
		a.logger.Error("reload incomplete", "error", err)
		return err
	}
	a.logger.Info("configuration reloaded", "listeners", len(cfg.Listeners), "removed", len(removed))
	return nil
}

// drain stops a removed listener in the background: it accepts no more,
// and its open connections may finish for their drain_timeout, else for
// shutdown_timeout, and are closed then. a.mu is held.
func (a *Agent) drain(l *listener, shutdownTimeout time.Duration) {
	deadline := shutdownTimeout
	if l.cfg.DrainTimeout > 0 {
		deadline = l.cfg.DrainTimeout
	}
	l.logger.Info("listener removed; draining", "protocol", l.cfg.Protocol, "address", l.cfg.Address, "deadline", deadline)
	a.draining[l.pl] = struct{}{}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if l.pl.Shutdown(ctx) != nil {
			l.logger.Warn("removed listener: connections still open at the deadline were closed", "deadline", deadline)
		}
		a.mu.Lock()
		delete(a.draining, l.pl)
		a.mu.Unlock()
		l.logger.Info("listener drained")
	}()
}
