// SPDX-License-Identifier: MIT

// go-echo-service is a socketmaster service written like the original Go
// client: it sends the handshake by hand (PROTOCOL.md §3), reads the status
// and then serves the control connection with hashicorp/yamux as the yamux
// server, echoing every stream. Its keep-alive interval is short, so a
// daemon that does not answer pings loses the session within a second or
// two; the pings are counted on the wire and reported.
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"
)

const maxStatus = 64 * 1024

func appendInt(b *bytes.Buffer, v uint64) {
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], v)
	b.Write(raw[:])
}

func appendString(b *bytes.Buffer, s string) {
	appendInt(b, uint64(len(s)))
	b.WriteString(s)
}

func readStatus(r io.Reader) (string, error) {
	var raw [8]byte
	if _, err := io.ReadFull(r, raw[:]); err != nil {
		return "", fmt.Errorf("reading the status length: %w", err)
	}
	length := binary.BigEndian.Uint64(raw[:])
	if length > maxStatus {
		return "", fmt.Errorf("status length %d is over %d", length, maxStatus)
	}
	status := make([]byte, length)
	if _, err := io.ReadFull(r, status); err != nil {
		return "", fmt.Errorf("reading the status: %w", err)
	}
	return string(status), nil
}

// frameTap follows the yamux frames going one way through the connection
// and reports every ping frame it sees.
type frameTap struct {
	header [12]byte
	have   int
	skip   uint32
	onPing func(flags uint16)
}

func (t *frameTap) feed(p []byte) {
	for len(p) > 0 {
		if t.skip > 0 {
			n := uint32(len(p))
			if n > t.skip {
				n = t.skip
			}
			p = p[n:]
			t.skip -= n
			continue
		}
		n := copy(t.header[t.have:], p)
		t.have += n
		p = p[n:]
		if t.have < len(t.header) {
			return
		}
		t.have = 0
		flags := binary.BigEndian.Uint16(t.header[2:4])
		length := binary.BigEndian.Uint32(t.header[8:12])
		switch t.header[1] {
		case 0: // data: the payload follows
			t.skip = length
		case 2:
			t.onPing(flags)
		}
	}
}

type tappedConn struct {
	net.Conn
	in, out *frameTap
}

func (c *tappedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.feed(p[:n])
	return n, err
}

func (c *tappedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.feed(p[:n])
	return n, err
}

const (
	flagSYN = 1
	flagACK = 2
)

var pingsSent, pongsReceived, pingsReceived, pongsSent, streams int64

func main() {
	control := flag.String("control", "127.0.0.1:9999", "daemon control address")
	address := flag.String("address", "127.0.0.1", "public address to ask for")
	port := flag.Uint("port", 0, "public port to ask for")
	keepAlive := flag.Duration("keepalive", 100*time.Millisecond, "yamux keep-alive interval")
	pingTimeout := flag.Duration("ping-timeout", 2*time.Second, "how long an answer to a ping may take")
	flag.Parse()

	conn, err := net.Dial("tcp", *control)
	if err != nil {
		fmt.Printf("go-echo: cannot connect: %v\n", err)
		os.Exit(1)
	}
	var request bytes.Buffer
	appendString(&request, *address)
	appendInt(&request, uint64(*port))
	request.WriteByte(0) // no HTTP, no TLS
	if _, err := conn.Write(request.Bytes()); err != nil {
		fmt.Printf("go-echo: cannot send the handshake: %v\n", err)
		os.Exit(1)
	}
	status, err := readStatus(conn)
	if err != nil {
		fmt.Printf("go-echo: %v\n", err)
		os.Exit(1)
	}
	if status != "OK" {
		fmt.Printf("go-echo: rejected: %s\n", status)
		os.Exit(1)
	}

	tapped := &tappedConn{
		Conn: conn,
		in: &frameTap{onPing: func(flags uint16) {
			if flags&flagACK != 0 {
				n := atomic.AddInt64(&pongsReceived, 1)
				if n%10 == 0 {
					fmt.Printf("go-echo: keep-alive answered %d\n", n)
				}
			} else if flags&flagSYN != 0 {
				atomic.AddInt64(&pingsReceived, 1)
			}
		}},
		out: &frameTap{onPing: func(flags uint16) {
			if flags&flagACK != 0 {
				atomic.AddInt64(&pongsSent, 1)
			} else if flags&flagSYN != 0 {
				atomic.AddInt64(&pingsSent, 1)
			}
		}},
	}
	config := yamux.DefaultConfig()
	config.KeepAliveInterval = *keepAlive
	// A keep-alive ping fails (and ends the session) when its answer takes
	// longer than this
	config.ConnectionWriteTimeout = *pingTimeout
	session, err := yamux.Server(tapped, config)
	if err != nil {
		fmt.Printf("go-echo: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("go-echo: serving port %d\n", *port)

	terminate := make(chan os.Signal, 1)
	signal.Notify(terminate, syscall.SIGTERM, syscall.SIGINT)
	ended := make(chan error, 1)
	go func() {
		for {
			stream, err := session.Accept()
			if err != nil {
				ended <- err
				return
			}
			atomic.AddInt64(&streams, 1)
			go func() {
				io.Copy(stream, stream)
				stream.Close()
			}()
		}
	}()

	stats := func() string {
		return fmt.Sprintf("pings-sent=%d pongs-received=%d pings-received=%d pongs-sent=%d streams=%d",
			atomic.LoadInt64(&pingsSent), atomic.LoadInt64(&pongsReceived),
			atomic.LoadInt64(&pingsReceived), atomic.LoadInt64(&pongsSent),
			atomic.LoadInt64(&streams))
	}
	select {
	case <-terminate:
		fmt.Printf("go-echo: stats %s\n", stats())
		session.Close()
	case err := <-ended:
		fmt.Printf("go-echo: session ended: %v (%s)\n", err, stats())
		os.Exit(3)
	}
}
