#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""http-hello.py: a socketmaster HTTP service in Python.

It asks the socketmaster daemon for a public HTTP port (optionally only
for a domain suffix and a path prefix) and answers every request with
"From Python". libsoup's SoupServer speaks HTTP over the streams the
daemon hands over; the service never opens a listening socket itself.

    socketmaster --bind 127.0.0.1:9999 &
    examples/http-hello.py --port 8080 &
    curl http://127.0.0.1:8080/

Needs PyGObject, libsoup 3 (gir1.2-soup-3.0) and libsocketmaster's
typelib (Socketmaster-1.typelib). Ctrl-C stops it gracefully: the daemon
sends nothing new and the requests in progress finish.
"""

import argparse
import signal
import sys

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
gi.require_version("Soup", "3.0")
gi.require_version("Socketmaster", "1")
from gi.repository import Gio, GLib, Socketmaster, Soup  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description="Answer HTTP requests through socketmaster")
    parser.add_argument("--port", type=int, default=8080, help="public port to ask for")
    parser.add_argument("--control", default=None,
                        help="the daemon's control address (default: $SOCKETMASTER_ADDRESS or 127.0.0.1:9999)")
    parser.add_argument("--domain", default="", help="domain suffix to route here")
    parser.add_argument("--prefix", default="", help="path prefix to route here")
    args = parser.parse_args()

    loop = GLib.MainLoop()
    server = Soup.Server(server_header="http-hello.py ")

    def on_request(server, msg, path, query):
        msg.set_status(200, None)
        msg.set_response("text/plain; charset=utf-8", Soup.MemoryUse.COPY, b"From Python\n")
        # SoupServer closes a stream it did not accept itself after one
        # response; saying so lets the daemon open a new stream for the
        # next request on the same public connection.
        msg.get_response_headers().replace("Connection", "close")

    server.add_handler(None, on_request)

    definition = Socketmaster.SocketDefinition.new(args.port)
    definition.set_http(args.domain, args.prefix)
    listener = Socketmaster.Listener.new(args.control, definition)

    # SoupServer wants the connection's addresses; the daemon keeps the
    # real ones (ask for the PROXY protocol on a TCP service to get them).
    local = Gio.InetSocketAddress.new_from_string("127.0.0.1", args.port)
    remote = Gio.InetSocketAddress.new_from_string("127.0.0.1", 0)

    def on_incoming(listener, stream):
        try:
            server.accept_iostream(stream, local, remote)
        except GLib.Error as error:
            print(f"http-hello.py: could not serve a connection: {error.message}", file=sys.stderr)
            stream.close(None)
        return True

    def on_lost(listener, error):
        print(f"http-hello.py: lost the daemon: {error.message}", file=sys.stderr)
        loop.quit()

    listener.connect("incoming", on_incoming)
    listener.connect("lost", on_lost)

    try:
        listener.start(None)
    except GLib.Error as error:
        print(f"http-hello.py: could not register: {error.message}", file=sys.stderr)
        return 1
    print(f"http-hello.py: serving port {args.port} through {listener.get_control_address()}", flush=True)

    def on_closed(listener, result):
        try:
            listener.close_finish(result)
        except GLib.Error as error:
            print(f"http-hello.py: {error.message}", file=sys.stderr)
        loop.quit()

    def on_signal():
        listener.close_async(None, on_closed)
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, on_signal)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, on_signal)
    loop.run()
    server.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
