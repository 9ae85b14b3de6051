// Package command is pinlb's command line: one XCommand type per
// subcommand, registered in Commands, each parsing its flags with
// parseFlags. Signals are subscribed in signals.go and nowhere else.
package command
