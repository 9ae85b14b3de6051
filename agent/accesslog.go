package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/proxy"
)

// accessLogQueue is how many lines may wait for the writer. When it is
// full, lines are dropped and counted: the data path never waits on a disk.
const accessLogQueue = 8192

// accessLog writes one line per finished connection or session, from a
// goroutine of its own. It lives as long as the agent; its file and format
// change on reload, and Reopen (SIGUSR2) opens the file again for logrotate.
type accessLog struct {
	logger  hclog.Logger
	queue   chan proxy.Record
	dropped atomic.Uint64
	dropLog rateLimit

	mu       sync.Mutex // guards what follows, and the writes
	cfg      config.AccessLog
	template []logPiece // cfg.Template compiled; nil for text and json
	file     *os.File   // nil for standard output
	w        *lineWriter
	writeLog rateLimit
	closed   bool

	done chan struct{}
}

func newAccessLog(logger hclog.Logger) *accessLog {
	l := &accessLog{logger: logger, queue: make(chan proxy.Record, accessLogQueue), done: make(chan struct{})}
	go l.run()
	return l
}

// Record queues a line; it never blocks.
func (l *accessLog) Record(r *proxy.Record) {
	select {
	case l.queue <- *r:
	default:
		n := l.dropped.Add(1)
		if l.dropLog.allow() {
			l.logger.Warn("access log lines dropped: the writer cannot keep up", "dropped_total", n)
		}
	}
}

// configure points the log at cfg's file and format, opening the file
// first (again, at a reload that keeps it: SIGHUP reopens the file as
// SIGUSR2 does): on error nothing changes.
func (l *accessLog) configure(cfg config.AccessLog) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cfg.Path == "" && l.cfg.Path == "" && l.w == nil {
		return nil // off, and staying off
	}
	f, err := openLogFile(cfg.Path)
	if err != nil {
		return err
	}
	l.swap(f)
	if cfg.Path == "" {
		l.w = nil // off
	}
	l.cfg, l.template = cfg, compileTemplate(cfg.Template)
	return nil
}

// Reopen opens the file again under its name, after logrotate moved it.
func (l *accessLog) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg.Path == "" {
		return nil
	}
	f, err := openLogFile(l.cfg.Path)
	if err != nil {
		return err
	}
	l.swap(f)
	return nil
}

// swap flushes and closes the current file and writes to f from now on.
// l.mu is held.
func (l *accessLog) swap(f *os.File) {
	if l.w != nil {
		l.flush()
	}
	if l.file != nil {
		l.file.Close()
	}
	l.file = f
	var out io.Writer = os.Stdout
	if f != nil {
		out = f
	}
	l.w = newLineWriter(out)
}

// flush writes the buffered lines. Lines a write failed to take are
// dropped, counted and said once a second; the next flush tries again.
// l.mu is held.
func (l *accessLog) flush() {
	n, err := l.w.flush()
	if err == nil {
		return
	}
	total := l.dropped.Add(uint64(n))
	if l.writeLog.allow() {
		l.logger.Error("access log lines dropped: the file cannot be written; writing resumes once it can",
			"path", l.cfg.Path, "error", err, "dropped_total", total)
	}
}

// openLogFile opens the access log without ever blocking: a named pipe
// with no reader would hold the open, and the reload behind it under the
// agent's lock, for ever. Non-blocking, such a pipe is refused at once
// (ENXIO), and a pipe whose reader lags has lines dropped and counted
// rather than a writer that waits.
func openLogFile(path string) (*os.File, error) {
	if path == "" || path == "-" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NONBLOCK, 0o640)
	if errors.Is(err, syscall.ENXIO) {
		err = fmt.Errorf("%s is a named pipe that no process reads", path)
	}
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

func (l *accessLog) run() {
	defer close(l.done)
	for r := range l.queue {
		l.mu.Lock()
		if l.w != nil {
			l.write(&r)
			if len(l.queue) == 0 || l.w.full() {
				l.flush()
			}
		}
		l.mu.Unlock()
	}
}

// close writes what is queued and closes the file. Record must not be
// called afterwards.
func (l *accessLog) close() {
	close(l.queue)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.swap(nil)
	l.w = nil
}

// write formats one record: key=value pairs, or a JSON object.
func (l *accessLog) write(r *proxy.Record) {
	upstream := "-"
	if r.Upstream.IsValid() {
		upstream = r.Upstream.String()
	}
	end := r.Start.Add(r.Duration).UTC()
	if l.template != nil {
		l.w.line(writeTemplate(make([]byte, 0, 256), l.template, r, end))
		return
	}
	if l.cfg.Format == "json" {
		line := accessLine{
			Time: end.Format(time.RFC3339Nano), Listener: r.Listener, Protocol: r.Protocol,
			Client: r.Client.String(), Local: r.Local.String(), Upstream: upstream, Status: r.Status, Move: r.Move,
			BytesIn: r.BytesIn, BytesOut: r.BytesOut, DatagramsIn: r.DatagramsIn, DatagramsOut: r.DatagramsOut,
			Duration: r.Duration.Seconds(),
		}
		if r.ProxyClient.IsValid() {
			line.ProxyClient, line.ProxyServer = r.ProxyClient.String(), r.ProxyServer.String()
		}
		line.SSLProtocol, line.SSLCipher, line.SSLClient = sslProtocol(r.TLS), sslCipher(r.TLS), sslClientSubject(r.TLS)
		b, _ := json.Marshal(line)
		l.w.line(append(b, '\n'))
		return
	}
	b := make([]byte, 0, 256)
	b = end.AppendFormat(b, time.RFC3339Nano)
	b = append(b, " listener="...)
	b = strconv.AppendQuote(b, r.Listener)
	b = append(b, " protocol="+r.Protocol+" client="...)
	b = r.Client.AppendTo(b)
	b = append(b, " local="...)
	b = r.Local.AppendTo(b)
	if r.ProxyClient.IsValid() {
		b = append(b, " proxy_protocol_addr="...)
		b = r.ProxyClient.AppendTo(b)
		b = append(b, " proxy_protocol_server_addr="...)
		b = r.ProxyServer.AppendTo(b)
	}
	if r.TLS != nil {
		b = append(b, " ssl_protocol="+sslProtocol(r.TLS)+" ssl_cipher="+sslCipher(r.TLS)...)
	}
	b = append(b, " upstream="+upstream+" status="+r.Status...)
	if r.Move != "" {
		b = append(b, " move="+r.Move...)
	}
	b = append(b, " bytes_in="...)
	b = strconv.AppendUint(b, r.BytesIn, 10)
	b = append(b, " bytes_out="...)
	b = strconv.AppendUint(b, r.BytesOut, 10)
	if r.Protocol == proxy.UDP {
		b = append(b, " datagrams_in="...)
		b = strconv.AppendUint(b, r.DatagramsIn, 10)
		b = append(b, " datagrams_out="...)
		b = strconv.AppendUint(b, r.DatagramsOut, 10)
	}
	b = append(b, " duration="...)
	b = strconv.AppendFloat(b, r.Duration.Seconds(), 'f', 6, 64)
	l.w.line(append(b, '\n'))
}

// accessLine is the JSON form of a line.
type accessLine struct {
	Time         string  `json:"time"`
	Listener     string  `json:"listener"`
	Protocol     string  `json:"protocol"`
	Client       string  `json:"client"`
	Local        string  `json:"local"`
	ProxyClient  string  `json:"proxy_protocol_addr,omitempty"`
	ProxyServer  string  `json:"proxy_protocol_server_addr,omitempty"`
	SSLProtocol  string  `json:"ssl_protocol,omitempty"`
	SSLCipher    string  `json:"ssl_cipher,omitempty"`
	SSLClient    string  `json:"ssl_client_s_dn,omitempty"`
	Upstream     string  `json:"upstream"`
	Status       string  `json:"status"`
	Move         string  `json:"move,omitempty"`
	BytesIn      uint64  `json:"bytes_in"`
	BytesOut     uint64  `json:"bytes_out"`
	DatagramsIn  uint64  `json:"datagrams_in,omitempty"`
	DatagramsOut uint64  `json:"datagrams_out,omitempty"`
	Duration     float64 `json:"duration"`
}

// rateLimit lets an event through at most once a second.
type rateLimit struct{ last atomic.Int64 }

func (r *rateLimit) allow() bool {
	now := time.Now().UnixNano()
	last := r.last.Load()
	return now-last >= int64(time.Second) && r.last.CompareAndSwap(last, now)
}
