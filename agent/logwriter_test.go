package agent

import (
	"errors"
	"testing"

	"github.com/shoenig/test/must"
)

// diskOf takes room bytes, then fails as a full disk does.
type diskOf struct {
	room  int
	wrote []byte
}

var errFull = errors.New("no space left on device")

func (d *diskOf) Write(p []byte) (int, error) {
	n := min(len(p), d.room)
	d.room -= n
	d.wrote = append(d.wrote, p[:n]...)
	if n < len(p) {
		return n, errFull
	}
	return n, nil
}

// Lines the disk took whole are not counted as dropped; a line cut short
// is, and is ended before the next line, however many writes fail
// between.
func TestLineWriter_FullDisk(t *testing.T) {
	disk := &diskOf{room: 8}
	w := newLineWriter(disk)
	w.line([]byte("one\n"))
	w.line([]byte("two two\n"))
	w.line([]byte("three\n"))
	dropped, err := w.flush()
	must.ErrorIs(t, err, errFull)
	must.Eq(t, 2, dropped, must.Sprint("one went whole; two was cut, three never went"))
	w.line([]byte("four\n"))
	dropped, err = w.flush() // still full: nothing goes
	must.ErrorIs(t, err, errFull)
	must.Eq(t, 1, dropped)
	disk.room = 100 // room again
	w.line([]byte("five\n"))
	dropped, err = w.flush()
	must.NoError(t, err)
	must.Zero(t, dropped)
	must.Eq(t, "one\ntwo \nfive\n", string(disk.wrote))
}
