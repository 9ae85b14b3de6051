package proxy

// The two listeners are the package's Listener, on Linux where they run.
var (
	_ Listener = (*tcpListener)(nil)
	_ Listener = (*udpListener)(nil)
)
