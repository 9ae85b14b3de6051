package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
)

// backends are the servers every target forwards to, shared by all.
type backends struct {
	echo  string
	iperf string
	udp   [2]string
	tls   *tlsFiles // what the targets' TLS listeners serve

	echoLn   net.Listener
	iperfCmd *exec.Cmd
	sinks    [2]*sink
}

func startBackends(dir string) (*backends, error) {
	b := &backends{}
	var err error
	if b.tls, err = writeTLSFiles(dir); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b.echoLn, b.echo = ln, ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go echo(c)
		}
	}()
	if b.iperf, err = freePort("tcp"); err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(b.iperf)
	log, err := os.Create(filepath.Join(dir, "iperf3-server.log"))
	if err != nil {
		return nil, err
	}
	b.iperfCmd = exec.Command("iperf3", "-s", "-B", "127.0.0.1", "-p", port)
	b.iperfCmd.Stdout, b.iperfCmd.Stderr = log, log
	b.iperfCmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.iperfCmd.Start(); err != nil {
		return nil, fmt.Errorf("iperf3: %w", err)
	}
	for i := range b.sinks {
		if b.sinks[i], err = startSink(); err != nil {
			return nil, err
		}
		b.udp[i] = b.sinks[i].addr
	}
	return b, waitTCP(b.iperf)
}

// echo writes back what it reads. Not io.Copy: between two TCP sockets it
// splices, and Go's splice holds a pipe (two more file descriptors) per
// connection for as long as it lives, which would make this process, not
// the proxy, run out of descriptors in the idle-connection case.
func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (b *backends) stop() {
	b.echoLn.Close()
	if b.iperfCmd != nil && b.iperfCmd.Process != nil {
		b.iperfCmd.Process.Kill()
		b.iperfCmd.Wait()
	}
	for _, s := range b.sinks {
		if s != nil {
			s.conn.Close()
		}
	}
}

func (b *backends) received() uint64 { return b.sinks[0].n.Load() + b.sinks[1].n.Load() }

func waitTCP(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sink counts the datagrams it receives, reading them in batches so that
// it is not what limits a run.
type sink struct {
	addr string
	conn *net.UDPConn
	n    atomic.Uint64
}

func startSink() (*sink, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	c.SetReadBuffer(32 << 20)
	s := &sink{addr: c.LocalAddr().String(), conn: c}
	go func() {
		pc := ipv4.NewPacketConn(c)
		msgs := make([]ipv4.Message, 64)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{make([]byte, 65536)}
		}
		for {
			n, err := pc.ReadBatch(msgs, 0)
			if err != nil {
				return
			}
			s.n.Add(uint64(n))
		}
	}()
	return s, nil
}
