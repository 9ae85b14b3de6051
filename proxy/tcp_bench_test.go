//go:build linux

package proxy

import (
	"io"
	"net"
	"testing"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// echoFixture is a connection relayed by a loop to an echo backend.
func echoFixture(tb testing.TB) net.Conn {
	be := testsupport.StartTCPFunc(tb, "127.0.0.1:0", func(c *net.TCPConn) {
		buf := make([]byte, 4096)
		for { // a plain loop: io.Copy's splice would allocate its pipes
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	})
	l := startTCP(tb, tcpConfig(), be.Addr)
	conn, err := net.Dial("tcp", l.Addr().String())
	must.NoError(tb, err)
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// roundTrip sends msg and reads its echo back into it.
func roundTrip(tb testing.TB, conn net.Conn, msg []byte) {
	if _, err := conn.Write(msg); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(conn, msg); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkTCPMessage is one 128 B request and its echo through a relayed
// connection: the loop's read and write each way. It reports 0 allocs/op.
func BenchmarkTCPMessage(b *testing.B) {
	conn := echoFixture(b)
	msg := make([]byte, 128)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		roundTrip(b, conn, msg)
	}
}
