// SPDX-License-Identifier: MIT

// go-fake-daemon plays the daemon's side of socketmaster against a real
// service: it accepts one control connection, parses the handshake by hand
// (docs/PROTOCOL.md §3), answers OK and drives the session with hashicorp/yamux
// as the yamux client. It opens streams, checks that what it sends comes
// back intact and half-closed, measures pings, and lets its short
// keep-alive run for a while. Exit status 0 and a summary line on success;
// 1 with the reason otherwise.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
	"smtest"
)

func fail(format string, args ...interface{}) {
	fmt.Printf("go-fake-daemon: FAIL "+format+"\n", args...)
	os.Exit(1)
}

// pattern gives every stream its own bytes, different at every offset of
// an 8-byte block, so shifted or mixed-up data does not compare equal.
func pattern(seed uint64, offset int, out []byte) {
	for i := range out {
		x := (uint64(offset+i)/8)*0x9E3779B97F4A7C15 ^ seed*0xBF58476D1CE4E5B9
		x ^= x >> 31
		x *= 0x94D049BB133111EB
		x ^= x >> 29
		out[i] = byte(x >> (8 * (uint64(offset+i) % 8)))
	}
}

func echoStream(session *yamux.Session, seed uint64, size int) error {
	stream, err := session.OpenStream()
	if err != nil {
		return fmt.Errorf("opening a stream: %w", err)
	}
	stream.SetDeadline(time.Now().Add(60 * time.Second))

	written := make(chan error, 1)
	go func() {
		chunk := make([]byte, 32*1024)
		for offset := 0; offset < size; offset += len(chunk) {
			if size-offset < len(chunk) {
				chunk = chunk[:size-offset]
			}
			pattern(seed, offset, chunk)
			if _, err := stream.Write(chunk); err != nil {
				written <- fmt.Errorf("stream %d: write at %d: %w", stream.StreamID(), offset, err)
				return
			}
		}
		written <- nil
	}()

	got := make([]byte, 32*1024)
	want := make([]byte, 32*1024)
	for offset := 0; offset < size; {
		limit := len(got)
		if size-offset < limit {
			limit = size - offset
		}
		n, err := stream.Read(got[:limit])
		if err != nil {
			return fmt.Errorf("stream %d: read at %d of %d: %w", stream.StreamID(), offset, size, err)
		}
		pattern(seed, offset, want[:n])
		if !bytes.Equal(got[:n], want[:n]) {
			return fmt.Errorf("stream %d: echoed data differs near offset %d", stream.StreamID(), offset)
		}
		offset += n
	}
	if err := <-written; err != nil {
		return err
	}
	// Our FIN; this yamux version cannot read after it, so the service's
	// FIN in answer shows as the stream leaving the session (see main)
	return stream.Close()
}

// waitStreamsGone waits until every stream was closed by both sides.
func waitStreamsGone(session *yamux.Session, deadline time.Time) {
	for session.NumStreams() > 0 {
		if time.Now().After(deadline) {
			fail("%d streams still open: the service did not answer our FIN with its own", session.NumStreams())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func main() {
	nStreams := flag.Int("streams", 16, "streams to open at once")
	size := flag.Int("size", 1024*1024, "bytes to echo per stream")
	nPings := flag.Int("pings", 5, "explicit pings to measure")
	keepAlive := flag.Duration("keepalive", 100*time.Millisecond, "yamux keep-alive interval")
	minKeepAlives := flag.Int64("keepalives", 10, "keep-alive answers to wait for")
	expectPort := flag.Uint64("expect-port", 0, "port the service must ask for (0: any)")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen: %v", err)
	}
	fmt.Printf("go-fake-daemon: listening on %s\n", listener.Addr())
	deadline := time.Now().Add(*timeout)
	listener.(*net.TCPListener).SetDeadline(deadline)
	conn, err := listener.Accept()
	if err != nil {
		fail("no service connected: %v", err)
	}
	listener.Close()

	conn.SetDeadline(time.Now().Add(10 * time.Second))
	def, err := smtest.ReadDefinition(conn)
	if err != nil {
		fail("handshake: %v", err)
	}
	fmt.Printf("go-fake-daemon: handshake address=%q port=%d flags=%d\n", def.Address, def.Port, def.Flags)
	if *expectPort != 0 && def.Port != *expectPort {
		fail("the service asked for port %d, expected %d", def.Port, *expectPort)
	}
	if _, err := conn.Write(smtest.EncodeStatus("OK")); err != nil {
		fail("sending the status: %v", err)
	}
	conn.SetDeadline(time.Time{})

	var pongs, peerPings int64
	tapped := &smtest.TappedConn{Conn: conn, In: &smtest.FrameTap{OnPing: func(flags uint16) {
		if flags&smtest.FlagACK != 0 {
			atomic.AddInt64(&pongs, 1)
		} else if flags&smtest.FlagSYN != 0 {
			atomic.AddInt64(&peerPings, 1)
		}
	}}}
	config := yamux.DefaultConfig()
	config.KeepAliveInterval = *keepAlive
	config.ConnectionWriteTimeout = 5 * time.Second
	session, err := yamux.Client(tapped, config)
	if err != nil {
		fail("yamux: %v", err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, *nStreams)
	for i := 0; i < *nStreams; i++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			if err := echoStream(session, seed, *size); err != nil {
				errs <- err
			}
		}(uint64(i + 1))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fail("%v", err)
	}
	waitStreamsGone(session, deadline)

	var maxRTT time.Duration
	for i := 0; i < *nPings; i++ {
		rtt, err := session.Ping()
		if err != nil {
			fail("ping %d: %v", i, err)
		}
		if rtt > maxRTT {
			maxRTT = rtt
		}
	}

	// Keep-alives go on in the background; the session must survive them
	for atomic.LoadInt64(&pongs) < int64(*nPings)+*minKeepAlives {
		if session.IsClosed() {
			fail("the session closed after %d answered pings", atomic.LoadInt64(&pongs))
		}
		if time.Now().After(deadline) {
			fail("only %d pings answered before the deadline", atomic.LoadInt64(&pongs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if session.IsClosed() {
		fail("the session closed")
	}
	if err := echoStream(session, 1000, 64*1024); err != nil {
		fail("after the keep-alives: %v", err)
	}
	waitStreamsGone(session, deadline)

	fmt.Printf("go-fake-daemon: OK streams=%d bytes=%d pings=%d max-rtt=%s pongs=%d pings-from-service=%d\n",
		*nStreams, *nStreams**size, *nPings, maxRTT, atomic.LoadInt64(&pongs), atomic.LoadInt64(&peerPings))
	session.Close()
}
