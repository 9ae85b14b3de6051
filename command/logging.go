package command

import (
	"io"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// logOutput is where every logger of the agent writes: a reload that
// changes log_level or log_json swaps what it formats with, and every
// logger derived from the root, wherever it was handed, follows at once.
// (An hclog logger fixes its format when it is made.)
type logOutput struct {
	out io.Writer
	cur atomic.Pointer[hclog.SinkAdapter]
}

// newLogger returns the root logger, named "pinlb", and its output.
func newLogger(out io.Writer, level hclog.Level, json bool) (hclog.Logger, *logOutput) {
	// The root itself writes nothing (level Off); its sink does, with
	// the configured level and format.
	root := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "pinlb", Level: hclog.Off, Output: io.Discard})
	o := &logOutput{out: out}
	o.set(level, json)
	root.RegisterSink(o)
	return root, o
}

// set makes the level and the format those of the lines from now on.
func (o *logOutput) set(level hclog.Level, json bool) {
	s := hclog.NewSinkAdapter(&hclog.LoggerOptions{Level: level, JSONFormat: json, Output: o.out})
	o.cur.Store(&s)
}

// Accept writes one line with the current level and format.
func (o *logOutput) Accept(name string, level hclog.Level, msg string, args ...any) {
	(*o.cur.Load()).Accept(name, level, msg, args...)
}
