// Package command is pinlb's command line: one XCommand type per
// subcommand, registered in Commands. Signals are handled in agent.go and
// nowhere else.
package command
