// Package agent wires pinlb together: it turns a config.Config into running
// proxy listeners and their endpoint pools, and owns their lifecycle: New,
// Start, Reload and Shutdown. It never handles signals and never exits the
// process; the command package does both.
package agent
