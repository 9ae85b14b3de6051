package pinpointgrpc

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// stream is one of an agent's long-lived streams: opened at its first
// message, opened again at the next message after it ended (an error, the
// collector's end, or streamDeadline), as Pinpoint's agents do. A message
// sent on a stream that broke is lost, as theirs are.
type stream struct {
	ctx    context.Context
	failed *atomic.Int64 // calls that ended in an error, and messages lost with them
	cc     *grpc.ClientConn
	method string
	desc   grpc.StreamDesc

	mu  sync.Mutex
	cur *openStream
}

type openStream struct {
	s      grpc.ClientStream
	opened time.Time
	ended  atomic.Bool // its responses ended: the stream is over
}

func newStream(ctx context.Context, cc *grpc.ClientConn, method string, bidi bool, failed *atomic.Int64) *stream {
	return &stream{ctx: ctx, cc: cc, method: method, desc: grpc.StreamDesc{ClientStreams: true, ServerStreams: bidi}, failed: failed}
}

// send sends msg, opening the stream first if it is not open.
func (st *stream) send(msg []byte) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if c := st.cur; c != nil && (c.ended.Load() || time.Since(c.opened) > streamDeadline) {
		c.s.CloseSend()
		st.cur = nil
	}
	if st.cur == nil && !st.open() {
		st.failed.Add(1)
		return
	}
	if st.cur.s.SendMsg(&msg) != nil {
		st.failed.Add(1)
		st.cur = nil // its reader sees why, and ends it
	}
}

// open opens the stream, with a reader that takes the collector's answers
// until the stream ends, then releases it.
func (st *stream) open() bool {
	ctx, cancel := context.WithCancel(st.ctx)
	s, err := st.cc.NewStream(ctx, &st.desc, st.method)
	if err != nil {
		cancel()
		return false
	}
	c := &openStream{s: s, opened: time.Now()}
	go func() {
		defer cancel()
		var answer []byte
		err := s.RecvMsg(&answer)
		for err == nil {
			err = s.RecvMsg(&answer)
		}
		if err != io.EOF && status.Code(err) != codes.OK && st.ctx.Err() == nil {
			st.failed.Add(1)
		}
		c.ended.Store(true)
	}()
	st.cur = c
	return true
}
