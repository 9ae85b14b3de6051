// Package agent wires pinlb together: it turns a config.Config into running
// proxy listeners and the feeds that fill their pools, and owns their
// lifecycle: New, Start, Reload and Shutdown.
//
// A reload, whoever asks for it (SIGHUP or POST /v1/reload), goes through
// the one reloader the command hands in and Agent.Reload. apply binds what
// is new, builds the Consul client a changed consul {} block needs, then
// commits: every listener gets its settings (proxyConfig, the one copy from
// config to proxy) and a feed (feed.go): one per discovery.Source, shared
// by the listeners of the same service or servers. The API, telemetry and
// register_self read the agent through the views of views.go.
//
// It never handles signals and never exits the process; the command
// package does both.
package agent
