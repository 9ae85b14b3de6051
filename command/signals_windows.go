package command

// Windows has no SIGUSR1 or SIGUSR2. The agent does not serve there (its
// proxy runs on Linux only); these signals never arrive.
var (
	sigDumpMetrics = noSignal("SIGUSR1")
	sigReopenLog   = noSignal("SIGUSR2")
)

type noSignal string

func (s noSignal) String() string { return string(s) }
func (noSignal) Signal()          {}
