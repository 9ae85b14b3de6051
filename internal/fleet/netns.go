//go:build linux

package fleet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Net is a private network: a bridge in a namespace of its own (the
// switch) and hosts, each a network namespace with one veth leg on it.
// Nothing is added to the namespace the caller runs in, so no address of
// the machine's is reachable from a host, nor a host from outside.
type Net struct {
	prefix string // of every namespace's name, unique per Net
	hosts  []*Host
}

// subnet is the hosts' network; the bridge has no address of its own.
var subnet = netip.MustParsePrefix("10.213.0.0/24")

// NewNet creates the switch. Namespace names start with prefix, which
// must be unique on the machine (a process ID does).
func NewNet(prefix string) (*Net, error) {
	n := &Net{prefix: prefix}
	sw := n.switchNS()
	for _, args := range [][]string{
		{"netns", "add", sw},
		{"-n", sw, "link", "add", "br0", "type", "bridge"},
		{"-n", sw, "link", "set", "br0", "up"},
	} {
		if err := ip(args...); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

func (n *Net) switchNS() string { return n.prefix + "-switch" }

// AddHost creates a host on the switch, with the next address.
func (n *Net) AddHost(name string) (*Host, error) {
	addr := subnet.Addr()
	for range len(n.hosts) + 1 {
		addr = addr.Next()
	}
	h := &Host{Name: name, NS: n.prefix + "-" + name, IP: addr}
	leg := fmt.Sprintf("h%d", len(n.hosts)+1)
	sw := n.switchNS()
	for _, args := range [][]string{
		{"netns", "add", h.NS},
		{"-n", sw, "link", "add", leg, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"-n", sw, "link", "set", leg, "master", "br0", "up"},
		{"-n", h.NS, "addr", "add", fmt.Sprintf("%s/%d", addr, subnet.Bits()), "dev", "eth0"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
		{"-n", h.NS, "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			return nil, err
		}
	}
	n.hosts = append(n.hosts, h)
	return h, nil
}

// Close deletes every namespace, which ends what still runs in them of
// their sockets.
func (n *Net) Close() {
	for _, h := range n.hosts {
		ip("netns", "del", h.NS)
	}
	ip("netns", "del", n.switchNS())
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Host is one network namespace on the Net.
type Host struct {
	Name string
	NS   string // the namespace's name
	IP   netip.Addr
}

// Do runs fn on a thread that has entered h's namespace, so that the
// sockets fn opens belong to h; they stay there, whichever thread uses
// them after. The thread is never handed back to the Go scheduler.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // and never unlocked: the thread exits with the goroutine
		ns, err := os.Open("/run/netns/" + h.NS)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter %s: %w", h.NS, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Dial connects from h.
func (h *Host) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := h.Do(func() (err error) {
		var d net.Dialer
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// Command is a command run in h's namespace.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Cut drops what h sends to each of peers, as a partition between them
// would: no reply reaches a peer either, so neither side gets through.
func (h *Host) Cut(peers ...*Host) error {
	for _, p := range peers {
		if err := ip("-n", h.NS, "route", "add", "blackhole", p.IP.String()+"/32"); err != nil {
			return err
		}
	}
	return nil
}

// Heal undoes Cut.
func (h *Host) Heal(peers ...*Host) error {
	for _, p := range peers {
		if err := ip("-n", h.NS, "route", "del", "blackhole", p.IP.String()+"/32"); err != nil {
			return err
		}
	}
	return nil
}
