package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/discovery"
	"github.com/pinlb/pinlb/proxy"
)

// Agent runs the listeners of a configuration and the Consul watches that
// feed their pools.
type Agent struct {
	logger hclog.Logger

	mu        sync.Mutex
	cfg       *config.Config
	running   map[string]*listener // by socketKey
	draining  map[proxy.Listener]struct{}
	consul    consulConn
	feeds     map[sourceKey]*feed
	started   bool
	stopped   bool
	startedAt time.Time

	tel     *telemetry
	stopTel context.CancelFunc
	alog    *accessLog
	events  *eventLog // the timeline of /v1/events
	api     *apiServer
	apiCfg  atomic.Pointer[config.API] // read by every API request
	self    *selfReg                   // nil unless register_self
	endOps  sync.Once

	opts Options
	// reloadMu keeps two reloads from overlapping.
	reloadMu     sync.Mutex
	reloads      uint64
	reloadErrors uint64
	lastReload   *ReloadEvent
}

// Options are what an agent is built with besides its first configuration.
type Options struct {
	Logger hclog.Logger
	// Load reads the configuration again for ReloadConfig, the one reload
	// path of SIGHUP and POST /v1/reload. Without it there is nothing to
	// reload.
	Load func() (*config.Config, hcl.Diagnostics)
	// SetLogging, if set, applies the log_level and log_json of every
	// configuration a reload applies.
	SetLogging func(level string, json bool)
}

// New returns an agent for cfg. It does no I/O; Start binds the listeners
// and starts watching Consul.
func New(cfg *config.Config, opts Options) *Agent {
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Agent{
		opts:     opts,
		logger:   logger,
		cfg:      cfg,
		running:  map[string]*listener{},
		draining: map[proxy.Listener]struct{}{},
		feeds:    map[sourceKey]*feed{},
		alog:     newAccessLog(logger.Named("access_log")),
		events:   newEventLog(),
	}
}

// Start sets up telemetry, the access log and the API, binds every listener
// and starts the Consul watches, and returns once all listeners serve. It
// does not wait for Consul: a listener of a service has no endpoints until
// Consul first answers. If anything cannot start, what did is stopped and
// the error says why.
func (a *Agent) Start(context.Context) error {
	a.mu.Lock()
	if a.started {
		a.mu.Unlock()
		return errors.New("agent already started")
	}
	a.started, a.startedAt = true, time.Now()
	err := a.start()
	a.mu.Unlock()
	if err != nil {
		a.stopOps()
	}
	return err
}

func (a *Agent) start() error {
	tel, err := newTelemetry(a.cfg.Telemetry)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.tel, a.stopTel = tel, cancel
	go tel.run(ctx, a)
	if err := a.alog.configure(a.cfg.AccessLog); err != nil {
		return err
	}
	if err := a.setAPI(a.cfg.API); err != nil {
		return err
	}
	if _, err := a.apply(a.cfg); err != nil {
		return err
	}
	return a.setSelf(a.cfg)
}

// stopOps stops the API, telemetry and the access log, once the listeners
// are gone.
func (a *Agent) stopOps() {
	a.endOps.Do(func() {
		a.mu.Lock()
		api, stopTel, tel := a.api, a.stopTel, a.tel
		a.api = nil
		a.mu.Unlock()
		if api != nil {
			api.stop()
		}
		if stopTel != nil {
			stopTel()
			tel.stop()
		}
		a.alog.close()
	})
}

// accessLogDropped counts the access log lines dropped because the
// writer could not keep up.
func (a *Agent) accessLogDropped() uint64 { return a.alog.dropped.Load() }

// ReopenAccessLog opens the access log file again under its name, after
// logrotate moved it (SIGUSR2).
func (a *Agent) ReopenAccessLog() error { return a.alog.Reopen() }

// apply binds what cfg adds, updates what it keeps, points every listener at
// its backends, and returns the running listeners cfg no longer has. On
// error nothing has changed.
func (a *Agent) apply(cfg *config.Config) ([]*listener, error) {
	next, bound, err := a.bind(cfg)
	if err != nil {
		return nil, err
	}
	conn, err := a.consulFor(cfg)
	if err != nil {
		for _, l := range bound {
			l.pl.Shutdown(context.Background())
		}
		return nil, err
	}
	// Every socket and client is in hand: commit.
	if err := a.commit(cfg, next, bound, conn); err != nil {
		return nil, err
	}
	var removed []*listener
	for key, l := range a.running {
		if _, ok := next[key]; !ok {
			removed = append(removed, l)
		}
	}
	a.running = next
	return removed, nil
}

// bind returns cfg's listeners by socket: the running ones it keeps, and
// those it adds, bound now and also returned apart. On error nothing new
// stays bound.
func (a *Agent) bind(cfg *config.Config) (next map[string]*listener, bound []*listener, err error) {
	next = make(map[string]*listener, len(cfg.Listeners))
	for _, lc := range cfg.Listeners {
		key := socketKey(lc)
		if cur, ok := a.running[key]; ok {
			next[key] = cur
			continue
		}
		pl, err := proxy.Listen(a.proxyConfig(lc, cfg), a.logger.Named("proxy"))
		if err != nil { // it names the listener
			for _, l := range bound {
				l.pl.Shutdown(context.Background())
			}
			return nil, nil, err
		}
		l := &listener{cfg: lc, pl: pl, events: a.events}
		next[key] = l
		bound = append(bound, l)
	}
	return next, bound, nil
}

// consulFor is the Consul connection cfg needs: the current one when
// neither the consul {} block nor the token changed.
func (a *Agent) consulFor(cfg *config.Config) (consulConn, error) {
	conn := consulConn{cfg: cfg.Consul}
	if usesConsul(cfg) {
		client, err := discovery.NewClient(clientConfig(cfg.Consul))
		if err != nil {
			return consulConn{}, fmt.Errorf("consul: %w", err)
		}
		conn.client = client
	}
	if conn.client.Same(a.consul.client) && conn.cfg == a.consul.cfg {
		return a.consul, nil
	}
	return conn, nil
}

// commit gives every kept listener of cfg its new settings (those just
// bound have them) and points every one at its backends: the feed of its
// service (a new Consul connection replaces them all) or of its servers.
func (a *Agent) commit(cfg *config.Config, next map[string]*listener, bound []*listener, conn consulConn) error {
	subs := map[sourceKey][]*listener{}
	for _, lc := range cfg.Listeners {
		l := next[socketKey(lc)]
		if !slices.Contains(bound, l) {
			if err := l.pl.Update(a.proxyConfig(lc, cfg)); err != nil {
				// config validates every value proxy checks, so this is a
				// bug; the error names the listener.
				return err
			}
		}
		l.mu.Lock()
		l.cfg = lc
		l.logger = a.logger.Named("proxy").With("listener", lc.Name)
		l.mu.Unlock()
		key := sourceOf(lc.Upstream)
		subs[key] = append(subs[key], l)
		if slices.Contains(bound, l) { // before its first endpoints, on the timeline
			a.events.add(Event{Kind: EventAdded, Listener: lc.Name, Service: lc.Upstream.Service,
				Cause: fmt.Sprintf("%s %s to %s", lc.Protocol, l.pl.Addr(), upstreamString(lc.Upstream))})
		}
	}
	a.setFeeds(conn, subs)
	for _, lc := range cfg.Listeners {
		l := next[socketKey(lc)]
		l.logger.Info("listener ready", "protocol", lc.Protocol, "address", l.pl.Addr(),
			"balance", lc.Balance, "upstream", upstreamString(lc.Upstream))
	}
	return nil
}

// setFeeds makes subs the feeds and their listeners. A new Consul
// connection replaces every watch; each new one starts from the last answer
// of the one it replaces, and resynchronises with it.
func (a *Agent) setFeeds(conn consulConn, subs map[sourceKey][]*listener) {
	seeds := map[sourceKey]*discovery.Snapshot{}
	if conn != a.consul {
		for k, f := range a.feeds {
			if k.consul() {
				seeds[k] = f.stop()
				delete(a.feeds, k)
			}
		}
		if conn.client != nil {
			a.logger.Info("consul client ready", "address", conn.client.Address(), "token", !conn.client.Anonymous())
		}
		a.consul = conn
	}
	for k, f := range a.feeds {
		if _, ok := subs[k]; !ok {
			f.stop()
			delete(a.feeds, k)
		}
	}
	for k, ls := range subs {
		f, ok := a.feeds[k]
		if !ok {
			f = startSource(k, a.consul, seeds[k], a.logger.Named("discovery"), a.tel, a.events)
			a.feeds[k] = f
		}
		f.setSubs(ls)
	}
}

// Shutdown leaves Consul (register_self) and serves on for its leave_wait,
// then stops the Consul watches and every listener: TCP ones stop
// accepting, their open connections may finish until ctx is done and are
// closed then; UDP ones serve until the TCP ones are done. ctx should
// allow leave_wait on top of shutdown_timeout. It is idempotent.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	self, leaveWait := a.self, a.cfg.RegisterSelf.LeaveWait
	a.self = nil
	a.mu.Unlock()
	if self != nil {
		self.stop() // leave Consul first, so no new client is sent here
		a.logger.Info("left consul; serving on while DNS forgets this host", "leave_wait", leaveWait)
		select { // clients that resolved this host a moment ago still come
		case <-time.After(leaveWait):
		case <-ctx.Done():
		}
	}
	a.mu.Lock()
	a.stopped = true
	var all []proxy.Listener
	for _, l := range a.running {
		all = append(all, l.pl)
	}
	for pl := range a.draining {
		all = append(all, pl)
	}
	feeds := a.feeds
	a.feeds = map[sourceKey]*feed{}
	a.mu.Unlock()

	for _, f := range feeds {
		f.stop()
		<-f.done
	}
	// UDP serves until TCP has drained: an agent's spans and stats go on
	// over UDP while its TCP channels finish.
	tcp, udp := byProtocol(all)
	err := errors.Join(shutdownAll(ctx, tcp), shutdownAll(ctx, udp))
	a.stopOps()
	if err != nil {
		return fmt.Errorf("shutdown: open connections were closed at the deadline: %w", context.Cause(ctx))
	}
	return nil
}

// byProtocol splits listeners into TCP and UDP ones.
func byProtocol(all []proxy.Listener) (tcp, udp []proxy.Listener) {
	for _, pl := range all {
		if pl.Addr().Network() == "udp" {
			udp = append(udp, pl)
		} else {
			tcp = append(tcp, pl)
		}
	}
	return tcp, udp
}

// shutdownAll shuts listeners down together and joins their errors.
func shutdownAll(ctx context.Context, listeners []proxy.Listener) error {
	errs := make(chan error, len(listeners))
	for _, pl := range listeners {
		go func() { errs <- pl.Shutdown(ctx) }()
	}
	var err error
	for range listeners {
		err = errors.Join(err, <-errs)
	}
	return err
}
