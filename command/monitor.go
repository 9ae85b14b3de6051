package command

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/cli"
	"github.com/pinlb/pinlb/agent"
)

// MonitorCommand follows the agent's timeline of events.
type MonitorCommand struct {
	Ui cli.Ui

	// signals replaces the process's signals in tests.
	signals chan os.Signal
}

func (c *MonitorCommand) Help() string {
	return strings.TrimSpace(`
Usage: pinlb monitor [options]

  Prints the agent's events as they happen, one line each, until stopped
  (SIGINT or SIGTERM), as consul monitor does for Consul's log: endpoints
  that join, leave, are ejected by passive health, restored, go into
  maintenance or finish draining; Consul answers applied, held back or
  unchanged, Consul unreachable, back or stale; reloads applied or
  refused; rebalance rounds; listeners added and removed. Each line gives
  the time, the kind, the listener, the endpoint (with Consul's node and
  service ID) and the cause. It reads /v1/events with blocking queries; if
  the agent goes away it says so and goes on when it is back.

Options:

  -listener=<name>
     Only this listener's events, and those of no listener: Consul's
     (under the service they are about) and reloads.

  -since=<time or duration>
     First print the kept events since then: an RFC 3339 time, or a
     duration back from now (15m). Default: none; only new events.

  -last=<n>
     First print the last n kept events (of those -since selects).
     Default: 0, unless -since is given: then all of them.

  -follow=<bool>
     Go on printing new events. Default: true. -follow=false prints what
     -since and -last select, and exits.

  -format=<text|json>
     text: one line per event; json: one JSON object per line.
     Default: text.
` + apiHelp)
}

func (c *MonitorCommand) Synopsis() string { return "Follows the agent's events as they happen" }

type monitorFlags struct {
	listener, since, format string
	last                    int
	follow                  bool
}

func (c *MonitorCommand) Run(args []string) int {
	var (
		f  monitorFlags
		af apiFlags
	)
	fs := flag.NewFlagSet("monitor", flag.ContinueOnError)
	af.register(fs)
	fs.StringVar(&f.listener, "listener", "", "")
	fs.StringVar(&f.since, "since", "", "")
	fs.IntVar(&f.last, "last", 0, "")
	fs.BoolVar(&f.follow, "follow", true, "")
	fs.StringVar(&f.format, "format", "text", "")
	if !parseFlags(c.Ui, fs, args, c.Help()) {
		return exitError
	}
	if err := f.check(fs); err != nil {
		c.Ui.Error("Error: " + err.Error())
		return exitError
	}
	api, err := af.client()
	if err != nil {
		c.Ui.Error("Error: " + err.Error())
		return exitError
	}
	ctx, cancel := stopContext(c.signals)
	defer cancel()
	if err := c.monitor(ctx, api, f); err != nil && ctx.Err() == nil {
		c.Ui.Error("Error: " + err.Error())
		return exitError
	}
	return exitOK
}

func (f monitorFlags) check(fs *flag.FlagSet) error {
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q; see pinlb monitor -help", fs.Args())
	case f.format != "text" && f.format != "json":
		return fmt.Errorf("-format=%q; use text or json", f.format)
	case f.last < 0:
		return fmt.Errorf("-last=%d; give 0 or more", f.last)
	}
	return nil
}

// monitor prints the history the flags ask for, then follows.
func (c *MonitorCommand) monitor(ctx context.Context, api *apiClient, f monitorFlags) error {
	q := url.Values{}
	if f.listener != "" {
		q.Set("listener", f.listener)
	}
	history := maps.Clone(q)
	switch {
	case f.since != "":
		history.Set("since", f.since)
	case f.last == 0:
		history.Set("since", "0s") // no history: only the index to follow from
	}
	events, index, err := fetchEvents(ctx, api, history)
	if err != nil {
		return err
	}
	if f.since == "" || f.last > 0 {
		events = events[max(0, len(events)-f.last):]
	}
	c.print(events, f.format)
	for f.follow && ctx.Err() == nil {
		q.Set("index", strconv.FormatUint(index, 10))
		q.Set("wait", "20s")
		events, next, err := fetchEvents(ctx, api, q)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			c.Ui.Error(fmt.Sprintf("%s monitor: %s; trying again", time.Now().Format(time.RFC3339), err))
			sleep(ctx, time.Second)
			continue
		case next < index:
			c.Ui.Error(fmt.Sprintf("%s monitor: the agent restarted; following its new timeline", time.Now().Format(time.RFC3339)))
			index = 0
			continue
		}
		c.print(events, f.format)
		index = next
	}
	return nil
}

func fetchEvents(ctx context.Context, api *apiClient, q url.Values) ([]agent.Event, uint64, error) {
	var events []agent.Event
	h, err := api.do(ctx, http.MethodGet, "/v1/events?"+q.Encode(), &events)
	if err != nil {
		return nil, 0, err
	}
	index, err := strconv.ParseUint(h.Get("X-Pinlb-Index"), 10, 64)
	if err != nil {
		return nil, 0, errors.New("the agent's /v1/events gave no X-Pinlb-Index: is it an older pinlb?")
	}
	return events, index, nil
}

func (c *MonitorCommand) print(events []agent.Event, format string) {
	for _, e := range events {
		if format == "json" {
			b, _ := json.Marshal(e)
			c.Ui.Output(string(b))
			continue
		}
		c.Ui.Output(eventLine(e))
	}
}

// eventLine is one event as one line of text: time, kind, listener (or,
// for Consul's, the service), endpoint (node/service ID), cause.
func eventLine(e agent.Event) string {
	fields := []string{e.Time.Format("2006-01-02T15:04:05.000Z07:00"), fmt.Sprintf("%-18s", e.Kind)}
	where := e.Listener
	if where == "" {
		where = e.Service
	}
	for _, s := range []string{where, e.Endpoint} {
		if s != "" {
			fields = append(fields, s)
		}
	}
	if e.Node != "" || e.ID != "" {
		fields = append(fields, fmt.Sprintf("(%s/%s)", e.Node, e.ID))
	}
	line := strings.TrimRight(strings.Join(fields, " "), " ")
	if e.Cause != "" {
		line += ": " + strings.NewReplacer(":\n", ": ", "\n", "; ").Replace(e.Cause)
	}
	return line
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
