#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""HTTP/2 clients for test-h2: well-behaved and hostile ones, written with
the h2 package (and hyperframe for frames h2 will not make). Each mode
prints what it saw and exits 0 when the daemon behaved as expected, 1
otherwise; test-h2 checks both."""

import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
from hyperframe.frame import ContinuationFrame, Frame, GoAwayFrame, HeadersFrame

ENHANCE_YOUR_CALM = 0xB


def connect(port, settings=None):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    if settings:
        conn.update_settings(settings)
    sock.sendall(conn.data_to_send())
    return sock, conn


def request_headers(port, method, path, extra=()):
    return [(":method", method), (":scheme", "http"),
            (":authority", "127.0.0.1:%d" % port), (":path", path)] + list(extra)


def events_until(sock, conn, done, timeout):
    """Reads and handles events until done(event) is true; returns the
    events, or None if the connection closed first"""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            return None
        if not data:
            return None
        for event in conn.receive_data(data):
            seen.append(event)
            if isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if done(event):
                sock.sendall(conn.data_to_send())
                return seen
        sock.sendall(conn.data_to_send())
    return seen


def wait_closed(sock, timeout):
    """Seconds until the peer closed (reading and dropping), or None"""
    start = time.monotonic()
    sock.settimeout(1)
    while time.monotonic() - start < timeout:
        try:
            if not sock.recv(65536):
                return time.monotonic() - start
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start
    return None


def mode_trailers(port):
    """A body of unknown length and trailers go to /echo; the echo comes
    back with the same body and trailers"""
    sock, conn = connect(port)
    body = b"".join(b"piece %d;" % i for i in range(2000))
    conn.send_headers(1, request_headers(port, "POST", "/a/echo"))
    for i in range(0, len(body), 1000):
        conn.send_data(1, body[i:i + 1000])
    conn.send_headers(1, [("x-checksum", "abc123")], end_stream=True)
    sock.sendall(conn.data_to_send())
    events = events_until(sock, conn, lambda e: isinstance(e, h2.events.StreamEnded), 30)
    if events is None:
        print("closed")
        return 1
    received = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
    trailers = [e.headers for e in events if isinstance(e, h2.events.TrailersReceived)]
    status = [dict(e.headers).get(b":status") for e in events
              if isinstance(e, h2.events.ResponseReceived)]
    print("status", status, "body", len(received), "trailers", trailers)
    ok = (status == [b"200"] and received == body and
          trailers and (b"x-checksum", b"abc123") in trailers[0])
    return 0 if ok else 1


def mode_rapid_reset(port, count):
    """HEADERS then RST_STREAM, @count times, as fast as possible: GOAWAY
    ENHANCE_YOUR_CALM, then the connection closes"""
    sock, conn = connect(port)
    sent = 0
    try:
        for i in range(count):
            stream_id = 1 + 2 * i
            conn.send_headers(stream_id, request_headers(port, "GET", "/a/reset"), end_stream=True)
            conn.reset_stream(stream_id)
            sent += 1
            if sent % 50 == 0:
                sock.sendall(conn.data_to_send())
        sock.sendall(conn.data_to_send())
    except (BrokenPipeError, ConnectionResetError, h2.exceptions.ProtocolError):
        pass
    goaway = []
    try:
        events = events_until(sock, conn,
                              lambda e: isinstance(e, h2.events.ConnectionTerminated), 20)
        goaway = [e.error_code for e in events or [] if isinstance(e, h2.events.ConnectionTerminated)]
    except h2.exceptions.ProtocolError:
        pass
    closed = wait_closed(sock, 20)
    print("sent", sent, "goaway", goaway, "closed", closed is not None)
    return 0 if ENHANCE_YOUR_CALM in goaway and closed is not None else 1


def mode_continuation(port, count):
    """A HEADERS frame without END_HEADERS and endless CONTINUATION
    frames: the daemon must give up long before @count"""
    sock, conn = connect(port)
    block = conn.encoder.encode(request_headers(port, "GET", "/a/cont"))
    frame = HeadersFrame(1)
    frame.flags.add("END_STREAM")
    frame.data = block
    sock.sendall(frame.serialize())
    filler = conn.encoder.encode([("x-filler", "x" * 1000)])
    sent = 0
    sock.settimeout(10)
    try:
        for _ in range(count):
            cont = ContinuationFrame(1)
            cont.data = filler
            sock.sendall(cont.serialize())
            sent += 1
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    closed = wait_closed(sock, 20)
    print("continuation frames sent", sent, "closed", closed is not None)
    return 0 if closed is not None and sent < count else 1


def mode_zero_window(port, timeout):
    """Never opens its window to a large response: closed by the idle
    timeout"""
    sock, conn = connect(port, {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    conn.send_headers(1, request_headers(port, "GET", "/a/big?bytes=4000000"), end_stream=True)
    sock.sendall(conn.data_to_send())
    closed = wait_closed(sock, timeout)
    print("closed after", closed)
    return 0 if closed is not None else 1


def mode_flood(port, kind, count):
    """PING or SETTINGS frames without reading the acks"""
    sock, conn = connect(port)
    sock.settimeout(5)
    sent = 0
    try:
        for i in range(count):
            if kind == "ping":
                conn.ping(b"%08d" % (i % 10 ** 8))
            else:
                conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 10})
            sent += 1
            if sent % 100 == 0:
                sock.sendall(conn.data_to_send())
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    closed = wait_closed(sock, 60)
    print(kind, "frames sent", sent, "closed", closed is not None)
    return 0 if closed is not None else 1


def mode_big_head(port):
    """Header fields over SETTINGS_MAX_HEADER_LIST_SIZE (a client that does
    not care for it): 431, and the connection goes on"""
    sock, conn = connect(port)
    big = [("x-big-%d" % i, "x" * 8192) for i in range(9)]
    conn.send_headers(1, request_headers(port, "GET", "/a/big-head", big), end_stream=True)
    conn.send_headers(3, request_headers(port, "GET", "/a/after"), end_stream=True)
    sock.sendall(conn.data_to_send())
    ended = set()
    events = events_until(sock, conn, lambda e: isinstance(e, h2.events.StreamEnded)
                          and ended.add(e.stream_id) is None and len(ended) == 2, 30)
    status = {e.stream_id: dict(e.headers).get(b":status") for e in events or []
              if isinstance(e, h2.events.ResponseReceived)}
    print("status", status)
    return 0 if status == {1: b"431", 3: b"200"} else 1


def mode_slow_reader(port, size, pause):
    """Asks for @size bytes, reads nothing for @pause seconds (the daemon
    must not buffer the response meanwhile), then all of it"""
    sock, conn = connect(port)
    conn.send_headers(1, request_headers(port, "GET", "/a/big?bytes=%d" % size), end_stream=True)
    sock.sendall(conn.data_to_send())
    print("requested", flush=True)
    time.sleep(pause)
    events = events_until(sock, conn, lambda e: isinstance(e, h2.events.StreamEnded), 300)
    got = sum(len(e.data) for e in events or [] if isinstance(e, h2.events.DataReceived))
    print("got", got, flush=True)
    return 0 if got == size else 1


def mode_multiplex(port):
    """A slow request and a fast one on the same connection: the fast one
    is answered first"""
    sock, conn = connect(port)
    conn.send_headers(1, request_headers(port, "GET", "/a/slow?ms=3000"), end_stream=True)
    conn.send_headers(3, request_headers(port, "GET", "/b/fast"), end_stream=True)
    sock.sendall(conn.data_to_send())
    order = []
    events_until(sock, conn, lambda e: isinstance(e, h2.events.StreamEnded)
                 and order.append(e.stream_id) is None and len(order) == 2, 30)
    print("ended in order", order)
    return 0 if order == [3, 1] else 1


def read_frames(sock, until, timeout):
    """Frames as they come, parsed here: h2 stops at a GOAWAY, while
    streams it spared go on. Returns them once until(frame), or on close."""
    frames, buffer = [], b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while len(buffer) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(buffer[:9]))
            if len(buffer) < 9 + length:
                break
            frame.parse_body(memoryview(buffer[9:9 + length]))
            buffer = buffer[9 + length:]
            frames.append(frame)
            if until(frame):
                return frames
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            data = b""
        if not data:
            break
        buffer += data
    return frames


def mode_drain(port):
    """A slow request is in flight when the daemon drains: GOAWAY, and
    the response still comes"""
    sock, conn = connect(port)
    conn.send_headers(1, request_headers(port, "GET", "/a/slow?ms=2000"), end_stream=True)
    sock.sendall(conn.data_to_send())
    print("sent", flush=True)
    frames = read_frames(sock, lambda f: f.stream_id == 1 and "END_STREAM" in f.flags, 30)
    goaway = [f.error_code for f in frames if isinstance(f, GoAwayFrame)]
    status = [dict(conn.decoder.decode(f.data)).get(":status") for f in frames
              if isinstance(f, HeadersFrame) and f.stream_id == 1]
    closed = wait_closed(sock, 10)
    print("status", status, "goaway", goaway, "closed", closed is not None)
    return 0 if status == ["200"] and goaway and goaway[0] == 0 and closed is not None else 1


def mode_load(port, total, depth):
    """@total GETs of /r/N, @depth at a time on one connection; prints
    progress and which service answered; any failure is fatal"""
    sock, conn = connect(port)
    next_id, started, done, failed = 1, 0, 0, 0
    bodies, by_service = {}, {}

    def start():
        nonlocal next_id, started
        conn.send_headers(next_id, request_headers(port, "GET", "/r/%d" % started), end_stream=True)
        bodies[next_id] = [None, b""]
        next_id += 2
        started += 1

    while started < min(depth, total):
        start()
    sock.sendall(conn.data_to_send())
    sock.settimeout(60)
    while done < total:
        data = sock.recv(65536)
        if not data:
            print("closed after", done)
            return 1
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                bodies[event.stream_id][0] = dict(event.headers).get(b":status")
            elif isinstance(event, h2.events.DataReceived):
                bodies[event.stream_id][1] += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                status, body = bodies.pop(event.stream_id)
                done += 1
                if status != b"200" or isinstance(event, h2.events.StreamReset):
                    failed += 1
                    print("failed:", status, body[:80], flush=True)
                service = body.split(b" ")[0].decode(errors="replace")
                by_service[service] = by_service.get(service, 0) + 1
                if done % 100 == 0:
                    print("done", done, flush=True)
                if started < total:
                    start()
        sock.sendall(conn.data_to_send())
    print("total", done, "failed", failed, "by service", sorted(by_service.items()), flush=True)
    return 0 if failed == 0 else 1


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    if mode == "trailers":
        return mode_trailers(port)
    if mode == "rapid-reset":
        return mode_rapid_reset(port, int(args[0]))
    if mode == "continuation":
        return mode_continuation(port, int(args[0]))
    if mode == "zero-window":
        return mode_zero_window(port, float(args[0]))
    if mode == "flood":
        return mode_flood(port, args[0], int(args[1]))
    if mode == "slow-reader":
        return mode_slow_reader(port, int(args[0]), float(args[1]))
    if mode == "multiplex":
        return mode_multiplex(port)
    if mode == "big-head":
        return mode_big_head(port)
    if mode == "load":
        return mode_load(port, int(args[0]), int(args[1]))
    if mode == "drain":
        return mode_drain(port)
    print("unknown mode", mode)
    return 2


if __name__ == "__main__":
    sys.exit(main())
