package command

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/pinlb/pinlb/agent"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/version"
)

// AgentCommand runs the pinlb agent. It owns the process's signals.
type AgentCommand struct {
	Ui cli.Ui

	// signals replaces the process's signals in tests.
	signals chan os.Signal
	// started, if set, receives the agent once it serves (tests).
	started chan<- *agent.Agent
}

func (c *AgentCommand) Help() string {
	return strings.TrimSpace(`
Usage: pinlb agent [options]

  Starts the pinlb agent: binds every listener in the configuration and
  forwards its TCP connections or UDP datagrams to its upstream servers.

  Signals:
    SIGHUP           Reload the configuration. If it is invalid, the errors
                     are logged and the running configuration stays.
    SIGINT, SIGTERM  Leave Consul (register_self) and serve on for its
                     leave_wait; then stop accepting, let open connections
                     finish for up to shutdown_timeout (UDP serves until TCP
                     has drained), close them and exit 0. A second signal
                     closes them at once and exits 2.
    SIGUSR1          Print the last interval of every metric, as JSON, to
                     standard error.
    SIGUSR2          Reopen the access log file (after logrotate moved it).

  Started by systemd with Type=notify ($NOTIFY_SOCKET set), it reports
  READY=1 once every listener is bound, RELOADING=1 then READY=1 around a
  reload, and STOPPING=1 when it starts draining.

  The HTTP API (api { address }, default 127.0.0.1:9700) serves /v1/status,
  /v1/listeners, /v1/metrics, /v1/events, POST /v1/reload and the dashboard
  at /ui/; pinlb status, pinlb listeners, pinlb monitor and pinlb reload
  read it.

Options:

  -config-file=<path>
     A configuration file: HCL, or HCL's JSON syntax when the name ends in
     .json. Repeatable; files merge in the order given, later ones
     overriding earlier attributes.

  -config-dir=<path>
     A directory whose *.hcl and *.json files merge in lexical order.
     Repeatable, and ordered with -config-file as given.

  -log-level=<level>
     One of trace, debug, info, warn, error. Overrides log_level in the
     configuration, also across reloads. Default: log_level, else info.

  -log-json
     Log as JSON lines, whatever log_json says, also across reloads.
     Without it, log_json decides, and a reload that changes it applies.

  -dev
     Run the built-in Pinpoint configuration: listeners for the collector
     ports 9991-9996 on 127.0.0.1, forwarding to the Consul service
     "pinpoint-collector" with ports from its meta (port_grpc_agent,
     port_grpc_stat, port_grpc_span, port_thrift_agent, port_thrift_stat,
     port_thrift_span). Consul is $CONSUL_HTTP_ADDR or 127.0.0.1:8500; the
     agent starts without it and fills its pools once it answers.
     Configuration files given as well merge over it.
`)
}

func (c *AgentCommand) Synopsis() string { return "Runs the pinlb agent" }

// agentFlags are the agent command's flags.
type agentFlags struct {
	paths    []string
	logLevel string
	logJSON  bool
	dev      bool
}

func (c *AgentCommand) Run(args []string) int {
	var f agentFlags
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.Var(pathList{&f.paths}, "config-file", "")
	fs.Var(pathList{&f.paths}, "config-dir", "")
	fs.StringVar(&f.logLevel, "log-level", "", "")
	fs.BoolVar(&f.logJSON, "log-json", false, "")
	fs.BoolVar(&f.dev, "dev", false, "")
	if !parseFlags(c.Ui, fs, args, c.Help()) {
		return exitError
	}
	if fs.NArg() > 0 {
		c.Ui.Error(fmt.Sprintf("Error: unexpected arguments %q; configuration goes in -config-file or -config-dir", fs.Args()))
		return exitError
	}
	if f.logLevel != "" && hclog.LevelFromString(f.logLevel) == hclog.NoLevel {
		c.Ui.Error(fmt.Sprintf("Error: -log-level=%q is not one of trace, debug, info, warn, error", f.logLevel))
		return exitError
	}
	cfg, diags := f.load()
	if len(diags) > 0 {
		c.Ui.Error(strings.TrimRight(config.FormatDiagnostics(diags), "\n"))
	}
	if diags.HasErrors() {
		c.Ui.Error("Error: configuration is invalid; nothing was started")
		return exitError
	}
	logger, logs := newLogger(&cli.UiWriter{Ui: c.Ui}, hclog.LevelFromString(cfg.LogLevel), cfg.LogJSON)
	// Subscribe before starting, so no signal is missed in between.
	sigs, stop := c.subscribe()
	defer stop()

	a := agent.New(cfg, agent.Options{
		Logger: logger.Named("agent"),
		Load:   f.load,
		SetLogging: func(level string, json bool) {
			logs.set(hclog.LevelFromString(level), json)
		},
	})
	if err := a.Start(context.Background()); err != nil {
		c.Ui.Error(fmt.Sprintf("Error starting agent: %s", err))
		a.Shutdown(context.Background())
		return exitError
	}
	logger.Info("agent started", "version", version.String(), "config", strings.Join(cfg.Files, ","))
	notify(logger, daemon.SdNotifyReady, "STATUS=serving")
	if c.started != nil {
		c.started <- a
	}
	return c.serve(a, logger, sigs)
}

// load reads the configuration the flags name; -log-level and -log-json
// override what it says.
func (f *agentFlags) load() (*config.Config, hcl.Diagnostics) {
	var (
		cfg   *config.Config
		diags hcl.Diagnostics
	)
	if f.dev {
		cfg, diags = config.LoadOver([]config.Source{config.Dev()}, f.paths)
	} else {
		cfg, diags = config.Load(f.paths)
	}
	if cfg != nil {
		if f.logLevel != "" {
			cfg.LogLevel = f.logLevel
		}
		cfg.LogJSON = cfg.LogJSON || f.logJSON
	}
	return cfg, diags
}

// serve answers signals until one stops the agent.
func (c *AgentCommand) serve(a *agent.Agent, logger hclog.Logger, sigs <-chan os.Signal) int {
	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			logger.Info("reloading configuration", "signal", sig)
			notify(logger, daemon.SdNotifyReloading)
			a.ReloadConfig() // logs its own outcome
			notify(logger, daemon.SdNotifyReady)
		case sigDumpMetrics:
			if err := a.DumpMetrics(uiErrorWriter{c.Ui}); err != nil {
				logger.Error("cannot dump metrics", "error", err)
			}
		case sigReopenLog:
			if err := a.ReopenAccessLog(); err != nil {
				logger.Error("cannot reopen the access log; still writing to the old file", "error", err)
			} else {
				logger.Info("access log reopened")
			}
		default:
			return c.shutdown(a, a.Config(), logger, sigs)
		}
	}
	return exitOK
}

// uiErrorWriter writes to the Ui's error stream (standard error).
type uiErrorWriter struct{ ui cli.Ui }

func (w uiErrorWriter) Write(p []byte) (int, error) {
	w.ui.Error(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// shutdown drains the agent until shutdown_timeout, after register_self's
// leave_wait; a second signal forces it.
func (c *AgentCommand) shutdown(a *agent.Agent, cfg *config.Config, logger hclog.Logger, sigs <-chan os.Signal) int {
	timeout := cfg.ShutdownTimeout
	if cfg.RegisterSelf.Enabled {
		timeout += cfg.RegisterSelf.LeaveWait
	}
	logger.Info("shutting down: leaving consul, then no new connections; waiting for open ones", "timeout", timeout)
	notify(logger, daemon.SdNotifyStopping, "STATUS=draining open connections")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Shutdown(ctx) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				logger.Warn("open connections were closed at the shutdown timeout", "timeout", timeout)
			}
			logger.Info("agent stopped")
			return exitOK
		case sig := <-sigs:
			if sig != syscall.SIGINT && sig != syscall.SIGTERM {
				continue
			}
			logger.Warn("second signal: closing open connections now", "signal", sig)
			cancel()
			<-done
			return exitForced
		}
	}
}
