// SPDX-License-Identifier: MIT

// go-http-service is an HTTP service written like a user of the original Go
// socketmaster client: it sends the handshake by hand with the HTTP flag
// (docs/PROTOCOL.md §3: DomainSuffix and PathPrefix), reads the status, runs
// hashicorp/yamux as the yamux server on the control connection and serves
// the session with net/http as a net.Listener.
//
// With -listen ADDR:PORT it registers nowhere and serves the same handler
// on a plain TCP listener instead, so that benchmarks can put nginx or
// HAProxy in front of exactly the handler the daemon fronts.
//
// Every request is answered with the configured text and headers that tell
// the test what arrived: the Host, the path, the forwarding headers the
// daemon added and the size of the request body.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/hashicorp/yamux"
	"smtest"
)

var requests, streams int64

// countingListener counts the streams the daemon opens (one per public
// connection routed here, reused for its following requests), or with
// -listen the TCP connections accepted.
type countingListener struct {
	net.Listener
}

func (l countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err == nil {
		atomic.AddInt64(&streams, 1)
	}
	return conn, err
}

// newHandler answers every request with text and the headers that tell
// what arrived.
func newHandler(text string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		atomic.AddInt64(&requests, 1)
		bodyBytes, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Service", text)
		h.Set("X-Seen-Host", r.Host)
		h.Set("X-Seen-Path", r.URL.Path)
		h.Set("X-Seen-Forwarded-For", strings.Join(r.Header.Values("X-Forwarded-For"), ", "))
		h.Set("X-Seen-Forwarded-Proto", r.Header.Get("X-Forwarded-Proto"))
		h.Set("X-Seen-Body-Bytes", strconv.FormatInt(bodyBytes, 10))
		io.WriteString(w, text+"\n")
	})
}

// register does the handshake with the daemon and returns the yamux
// session, on which the daemon opens a stream per public connection.
func register(control string, definition *smtest.Definition) (net.Listener, error) {
	conn, err := smtest.Register(control, definition)
	if err != nil {
		return nil, err
	}
	return yamux.Server(conn, yamux.DefaultConfig())
}

func main() {
	control := flag.String("control", "127.0.0.1:9999", "daemon control address")
	address := flag.String("address", "127.0.0.1", "public address to ask for")
	port := flag.Uint("port", 0, "public port to ask for")
	domain := flag.String("domain", "", "DomainSuffix to register")
	prefix := flag.String("prefix", "", "PathPrefix to register")
	text := flag.String("text", "hello", "text to answer every request with")
	listen := flag.String("listen", "",
		"serve plain TCP on ADDR:PORT (port 0: any) instead of registering with a daemon")
	flag.Parse()

	listener, what, err := smtest.ListenOrRegister(*listen, func() (net.Listener, error) {
		return register(*control, &smtest.Definition{
			Address:      *address,
			Port:         uint64(*port),
			Flags:        smtest.FlagHTTP,
			DomainSuffix: *domain,
			PathPrefix:   *prefix,
		})
	})
	if err != nil {
		fmt.Printf("go-http: %v\n", err)
		os.Exit(1)
	}

	ended := make(chan error, 1)
	go func() {
		ended <- http.Serve(countingListener{listener}, newHandler(*text))
	}()
	if *listen != "" {
		// The address says which port "0" became
		fmt.Printf("go-http: listening on %s\n", listener.Addr())
	} else {
		fmt.Printf("go-http: serving %s%s on port %d\n", *domain, *prefix, *port)
	}

	terminate := make(chan os.Signal, 1)
	signal.Notify(terminate, syscall.SIGTERM, syscall.SIGINT)
	stats := func() string {
		return fmt.Sprintf("requests=%d streams=%d",
			atomic.LoadInt64(&requests), atomic.LoadInt64(&streams))
	}
	select {
	case <-terminate:
		fmt.Printf("go-http: stats %s\n", stats())
		listener.Close()
	case err := <-ended:
		fmt.Printf("go-http: %s ended: %v (%s)\n", what, err, stats())
		os.Exit(3)
	}
}
