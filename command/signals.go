package command

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// This file is the only one that subscribes to the process's signals.

// subscribe returns the signals the agent answers: the test's channel
// when it has one. stop unsubscribes.
func (c *AgentCommand) subscribe() (sigs chan os.Signal, stop func()) {
	if c.signals != nil {
		return c.signals, func() {}
	}
	sigs = make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, sigDumpMetrics, sigReopenLog)
	signal.Ignore(syscall.SIGPIPE)
	return sigs, func() { signal.Stop(sigs) }
}

// stopContext is cancelled by SIGINT or SIGTERM, or, in tests, by a signal
// sent to sigs.
func stopContext(sigs chan os.Signal) (context.Context, context.CancelFunc) {
	if sigs == nil {
		return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
