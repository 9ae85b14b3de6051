//go:build linux

package proxy

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/testsupport"
)

// FuzzUDPDatagram sends arbitrary datagrams through a packet-mode
// listener: each arrives whole at the backend, and an echo (the Pinpoint
// probe's "OK", or the test backend's "echo:" payloads) comes back to the
// client byte for byte.
func FuzzUDPDatagram(f *testing.F) {
	backend := testsupport.StartUDP(f)
	l, err := Listen(udpConfig(PacketMode), hclog.NewNullLogger())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Shutdown(context.Background()) })
	l.SetEndpoints([]Endpoint{{Addr: backend.Addr, Weight: 1}})
	c, err := net.DialUDP("udp", nil, l.Addr().(*net.UDPAddr))
	if err != nil {
		f.Fatal(err)
	}
	reply := make([]byte, maxDatagram)

	f.Add(testsupport.Probe)
	f.Add([]byte("echo:span"))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xEF}, 9000))
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) > 65507 {
			return // over the IPv4 maximum: cannot be sent
		}
		before, bytesBefore := backend.Datagrams.Load(), backend.Bytes.Load()
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		// The backend counts the datagram, then its bytes.
		arrived := func() bool {
			return backend.Datagrams.Load() > before && backend.Bytes.Load()-bytesBefore >= int64(len(p))
		}
		for deadline := time.Now().Add(5 * time.Second); !arrived(); {
			if time.Now().After(deadline) {
				t.Fatalf("datagram of %d bytes lost: %+v", len(p), l.Stats())
			}
		}
		if got := backend.Bytes.Load() - bytesBefore; got != int64(len(p)) {
			t.Fatalf("%d bytes sent, %d arrived", len(p), got)
		}
		want := p
		switch {
		case bytes.Equal(p, testsupport.Probe):
			want = testsupport.ProbeReply
		case !bytes.HasPrefix(p, []byte("echo:")):
			return
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(reply)
		if err != nil || !bytes.Equal(reply[:n], want) {
			t.Fatalf("reply %q, %v; want %q", reply[:n], err, want)
		}
	})
}
