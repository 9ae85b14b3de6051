//go:build linux

package fleet

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/consulbin"
	"github.com/pinlb/pinlb/internal/testsupport"
)

// pinlbBin is the binary under test, built once by TestMain.
var pinlbBin string

func TestMain(m *testing.M) { testsupport.PinlbMain(m, "fleet", &pinlbBin, printFigures) }

// startBed starts a bed of o's size for t, or skips t (fails it under
// make test) without root or Consul.
func startBed(t *testing.T, o Options) *Bed {
	t.Helper()
	if os.Geteuid() != 0 {
		testsupport.Missing(t, "root, for network namespaces")
	}
	bin, err := consulbin.Path()
	if err != nil {
		testsupport.Missing(t, err.Error())
	}
	o.Prefix, o.Dir, o.ConsulBin, o.Pinlb.Bin = fmt.Sprintf("plb%d", os.Getpid()), t.TempDir(), bin, pinlbBin
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range b.Pinlbs {
				t.Logf("%s:\n%s\nits Consul agent:\n%s", p.Host.Name, p.Pinlb.Log(), p.Consul.Log())
			}
		}
		b.Close()
	})
	return b
}

func TestBed_Smoke(t *testing.T) {
	b := startBed(t, Options{Servers: 3, Pinlbs: 2, Collectors: 2, AgentHosts: 1})
	a := b.Agents[0].StartAgent("a1", 50*time.Millisecond, time.Second)
	defer a.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Until(ctx, 100*time.Millisecond, func() error {
		var got int64
		for _, c := range b.Collectors {
			got += c.Collector.Stats().Messages.Load()
		}
		if got < 100 {
			return fmt.Errorf("%d messages received, %d dial errors", got, a.Stats().DialErrors.Load())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
