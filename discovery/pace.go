package discovery

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

const (
	// A token bucket in front of every call: 10 a second, so that a
	// service whose check output churns drives at most that, with bursts
	// of 20, so that several collectors scaling out at once reach the
	// pools without waiting (with 2, ten back-to-back registrations took
	// 82 ms p50 and 97 ms p99 each).
	callInterval = 100 * time.Millisecond
	callBurst    = 20

	// A second bucket bounds the instances a watch reads a second. Consul
	// answers every change with every instance of the service: with 2,000
	// collectors an answer is 3 MB of JSON, and a catalog changing 50
	// times a second kept pinlb decoding at 10 answers a second (the
	// calls' bucket bounds calls, not their size). 4,000 instances a
	// second is 2 such answers; the burst lets the first changes after a
	// quiet spell through at once, so a lone change is seen as fast as
	// ever, and a fleet of a few hundred never waits on this bucket.
	instanceRate  = 4000
	instanceBurst = 10000
)

// pacer spaces a watch's calls by both buckets.
type pacer struct {
	calls     *rate.Limiter
	instances *rate.Limiter
	owed      time.Duration // what the last answer's size costs the next call
}

func newPacer() pacer {
	return pacer{
		calls:     rate.NewLimiter(rate.Every(callInterval), callBurst),
		instances: rate.NewLimiter(instanceRate, instanceBurst),
	}
}

// wait returns when the next call may go, or with ctx's error.
func (p *pacer) wait(ctx context.Context) error {
	if d := p.owed; d > 0 {
		p.owed = 0
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return p.calls.Wait(ctx)
}

// answered charges an answer of n instances to the instance bucket.
func (p *pacer) answered(n int) {
	p.owed = p.instances.ReserveN(time.Now(), min(n, instanceBurst)).Delay()
}
