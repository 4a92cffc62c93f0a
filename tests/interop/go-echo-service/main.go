// SPDX-License-Identifier: MIT

// go-echo-service is a socketmaster service written like the original Go
// client: it sends the handshake by hand (docs/PROTOCOL.md §3), reads the status
// and then serves the control connection with hashicorp/yamux as the yamux
// server, echoing every stream. Its keep-alive interval is short, so a
// daemon that does not answer pings loses the session within a second or
// two; the pings are counted on the wire and reported.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"
	"smtest"
)

var pingsSent, pongsReceived, pingsReceived, pongsSent, streams int64

func main() {
	control := flag.String("control", "127.0.0.1:9999", "daemon control address")
	address := flag.String("address", "127.0.0.1", "public address to ask for")
	port := flag.Uint("port", 0, "public port to ask for")
	keepAlive := flag.Duration("keepalive", 100*time.Millisecond, "yamux keep-alive interval")
	pingTimeout := flag.Duration("ping-timeout", 2*time.Second, "how long an answer to a ping may take")
	flag.Parse()

	// no HTTP, no TLS
	conn, err := smtest.Register(*control, &smtest.Definition{Address: *address, Port: uint64(*port)})
	if err != nil {
		fmt.Printf("go-echo: %v\n", err)
		os.Exit(1)
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
