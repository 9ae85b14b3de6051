package agent

import "io"

// lineWriter buffers whole lines for a log file and writes them out on
// flush. A failed write (a full disk, a file gone) drops the lines it
// held, says how many, and leaves the writer ready: the next flush tries
// again, so the log recovers by itself once the disk has room.
// bufio.Writer would refuse every write after its first error.
type lineWriter struct {
	out    io.Writer
	buf    []byte
	lines  int  // whole lines in buf
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
func (w *lineWriter) line(b []byte) {
	w.buf = append(w.buf, b...)
	w.lines++
}

// flush writes what the buffer holds; on error the lines are dropped and
// counted in dropped.
func (w *lineWriter) flush() (dropped int, err error) {
	if len(w.buf) == 0 {
		return 0, nil
	}
	if w.broken {
		w.buf = append([]byte{'\n'}, w.buf...)
	}
	n, err := w.out.Write(w.buf)
	w.broken = err != nil && n > 0 && w.buf[n-1] != '\n'
	if err != nil {
		dropped = w.lines
	}
	w.buf, w.lines = w.buf[:0], 0
	return dropped, err
}
