// SPDX-License-Identifier: MIT

// go-echo-service is a socketmaster service written like the original Go
// client: it sends the handshake by hand (docs/PROTOCOL.md §3), reads the status
// and then serves the control connection with hashicorp/yamux as the yamux
// server, echoing every stream. Its keep-alive interval is short, so a
// daemon that does not answer pings loses the session within a second or
// two; the pings are counted on the wire and reported.
//
// With -mode sink it drains every stream instead (io.Copy to io.Discard,
// then closes), with -mode source it writes an endless stream of bytes to
// it (one 256 KiB buffer, written again and again, as sm-bench-tcp
// --source does) until a write fails: the services of the bench's bulk TCP
// runs for the Go backend.
//
// With -listen ADDR:PORT it registers nowhere and serves the same handler
// on a plain TCP listener instead, so that benchmarks can put nginx or
// HAProxy in front of exactly the handler the daemon fronts.
package main

import (
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
	"smtest"
)

var pingsSent, pongsReceived, pingsReceived, pongsSent, streams int64

// sourceChunk is the size of the buffer -mode source writes each time,
// CHUNK_SIZE of sm-bench-tcp
const sourceChunk = 256 * 1024

// serve is the handler, the same for a yamux stream and a TCP connection,
// written as a plain Go service would write it.
func serve(c io.ReadWriteCloser, mode string) {
	defer c.Close()
	switch mode {
	case "sink":
		io.Copy(io.Discard, c)
	case "source":
		// Not all zeros, in case anything on the path compresses (the
		// pattern of sm-bench-tcp)
		buffer := make([]byte, sourceChunk)
		for i := range buffer {
			buffer[i] = byte(i*7 + i>>9)
		}
		for {
			if _, err := c.Write(buffer); err != nil {
				return
			}
		}
	default:
		io.Copy(c, c)
	}
}

// register does the handshake with the daemon and returns its yamux
// session, whose pings are counted
func register(control, address string, port uint, keepAlive, pingTimeout time.Duration) (*yamux.Session, error) {
	// no HTTP, no TLS
	conn, err := smtest.Register(control, &smtest.Definition{Address: address, Port: uint64(port)})
	if err != nil {
		return nil, err
	}

	tapped := &smtest.TappedConn{
		Conn: conn,
		In: &smtest.FrameTap{OnPing: func(flags uint16) {
			if flags&smtest.FlagACK != 0 {
				n := atomic.AddInt64(&pongsReceived, 1)
				if n%10 == 0 {
					fmt.Printf("go-echo: keep-alive answered %d\n", n)
				}
			} else if flags&smtest.FlagSYN != 0 {
				atomic.AddInt64(&pingsReceived, 1)
			}
		}},
		Out: &smtest.FrameTap{OnPing: func(flags uint16) {
			if flags&smtest.FlagACK != 0 {
				atomic.AddInt64(&pongsSent, 1)
			} else if flags&smtest.FlagSYN != 0 {
				atomic.AddInt64(&pingsSent, 1)
			}
		}},
	}
	config := yamux.DefaultConfig()
	config.KeepAliveInterval = keepAlive
	// A keep-alive ping fails (and ends the session) when its answer takes
	// longer than this
	config.ConnectionWriteTimeout = pingTimeout
	return yamux.Server(tapped, config)
}

func main() {
	control := flag.String("control", "127.0.0.1:9999", "daemon control address")
	address := flag.String("address", "127.0.0.1", "public address to ask for")
	port := flag.Uint("port", 0, "public port to ask for")
	keepAlive := flag.Duration("keepalive", 100*time.Millisecond, "yamux keep-alive interval")
	pingTimeout := flag.Duration("ping-timeout", 2*time.Second, "how long an answer to a ping may take")
	mode := flag.String("mode", "echo", "what to do with every stream: echo, sink or source")
	listen := flag.String("listen", "",
		"serve plain TCP on ADDR:PORT (port 0: any) instead of registering with a daemon")
	flag.Parse()
	if *mode != "echo" && *mode != "sink" && *mode != "source" {
		fmt.Printf("go-echo: unknown -mode %s (echo, sink or source)\n", *mode)
		os.Exit(2)
	}

	listener, what, err := smtest.ListenOrRegister(*listen, func() (net.Listener, error) {
		return register(*control, *address, *port, *keepAlive, *pingTimeout)
	})
	if err != nil {
		fmt.Printf("go-echo: %v\n", err)
		os.Exit(1)
	}
	if *listen != "" {
		// The address says which port "0" became
		fmt.Printf("go-echo: listening on %s\n", listener.Addr())
	} else {
		fmt.Printf("go-echo: serving port %d\n", *port)
	}

	terminate := make(chan os.Signal, 1)
	signal.Notify(terminate, syscall.SIGTERM, syscall.SIGINT)
	ended := make(chan error, 1)
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				ended <- err
				return
			}
			atomic.AddInt64(&streams, 1)
			go serve(conn, *mode)
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
		listener.Close()
	case err := <-ended:
		fmt.Printf("go-echo: %s ended: %v (%s)\n", what, err, stats())
		os.Exit(3)
	}
}
