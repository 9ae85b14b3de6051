package fault

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
)

// apiAbuse: a thousand long-polls held on the events of one listener,
// slowloris clients dribbling headers, and 1 MiB queries, all at once.
// pinlb's memory grows by 32 MB at most, the API answers meanwhile, and
// a reload (an event of every listener) answers every poll.
func apiAbuse(t *testing.T) {
	a := testsupport.StartTCP(t)
	p := startPinlb(t, staticListener("grpc", testsupport.FreePort(t), "", addrs(a)...), 0)
	time.Sleep(2 * time.Second) // the first metrics intervals: the baseline, not a condition
	base, index := p.rssKB(), eventIndex(t, p)
	polls := scale(200, 1000)
	var answered atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}, Timeout: time.Minute}
	for range polls {
		wg.Go(func() {
			resp, err := client.Get("http://" + p.api + "/v1/events?listener=grpc&wait=50s&index=" + index)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				answered.Add(1)
			}
		})
	}
	slow := slowloris(t, p.api, scale(50, 200))
	refused := hugeQueries(p.api, 20)
	time.Sleep(2 * time.Second) // every poll held: sampling, not waiting for a condition
	grown := p.rssKB() - base
	start := time.Now()
	_, err := p.status()
	figure(t, "polls, slowloris clients, 1 MiB queries (431)", fmt.Sprintf("%d, %d, %d", polls, len(slow), refused), refused == 20)
	figure(t, "pinlb's memory growth (at most 32 MB)", fmt.Sprintf("%d KiB", grown), grown <= 32<<10)
	figure(t, "the API answers meanwhile, in", time.Since(start).Round(time.Millisecond), err == nil && time.Since(start) < time.Second)
	held := answered.Load()
	p.reload()
	testsupport.WaitFor(t, "every poll answered", func() bool { return answered.Load() == int64(polls) })
	figure(t, "polls answered before, after a reload", fmt.Sprintf("%d, %d", held, answered.Load()), held == 0)
	for _, c := range slow {
		c.Close()
	}
	wg.Wait()
}

// slowloris opens n connections to addr that send a request line and then
// a header byte a second, never ending the headers.
func slowloris(t *testing.T, addr string, n int) []net.Conn {
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
		conns = append(conns, c)
		go func() {
			for range 30 {
				time.Sleep(time.Second)
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		}()
	}
	return conns
}

// hugeQueries sends n requests with a 1 MiB query, and counts the 431s.
func hugeQueries(addr string, n int) (refused int) {
	query := strings.Repeat("x", 1<<20)
	for range n {
		resp, err := apiClient.Get("http://" + addr + "/v1/events?listener=" + query)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge {
			refused++
		}
	}
	return refused
}

// eventIndex is the newest event's index, to long-poll after.
func eventIndex(t *testing.T, p *proc) string {
	resp, err := apiClient.Get("http://" + p.api + "/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get("X-Pinlb-Index")
}
