package agent

import (
	"bytes"
	"io"
)

// lineWriter buffers whole lines for a log file and writes them out on
// flush. A failed write (a full disk, a file gone) drops the lines it did
// not take whole, says how many, and leaves the writer ready: the next
// flush tries again, so the log recovers by itself once the disk has
// room. bufio.Writer would refuse every write after its first error.
type lineWriter struct {
	out    io.Writer
	buf    []byte
	broken bool // a failed write left a partial line in the file: end it first
}

// lineBuffer is how much a lineWriter holds before it writes.
const lineBuffer = 64 << 10

func newLineWriter(out io.Writer) *lineWriter {
	return &lineWriter{out: out, buf: make([]byte, 0, lineBuffer)}
}

// full reports whether the buffer should be written out.
func (w *lineWriter) full() bool { return len(w.buf) >= lineBuffer }

// line adds one line, ending in '\n'.
func (w *lineWriter) line(b []byte) { w.buf = append(w.buf, b...) }

// flush writes what the buffer holds; on error, dropped is how many of
// its lines the file did not take whole.
func (w *lineWriter) flush() (dropped int, err error) {
	if len(w.buf) == 0 {
		return 0, nil
	}
	if w.broken {
		if _, err := w.out.Write([]byte{'\n'}); err != nil {
			dropped = bytes.Count(w.buf, []byte{'\n'})
			w.buf = w.buf[:0]
			return dropped, err
		}
		w.broken = false
	}
	n, err := w.out.Write(w.buf)
	if err != nil {
		dropped = bytes.Count(w.buf[n:], []byte{'\n'})
		w.broken = n > 0 && w.buf[n-1] != '\n'
	}
	w.buf = w.buf[:0]
	return dropped, err
}
