#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs an example service of another language through the daemon, on the
uninstalled typelib, and checks what it answers.

test-gi-examples.py python|gjs EXAMPLE TYPELIB_DIR [PRELOAD]

python: examples/http-hello.py must answer "From Python" over HTTP;
gjs: examples/tcp-echo.js must echo. Exits 77 (skipped, with the reason
on stdout) only when the interpreter or its GObject bindings are missing.
"""

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

TIMEOUT = 30  # seconds for any one step; the meson timeout bounds the rest


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(77)


class Process:
    """A child whose stdout and stderr lines are collected and echoed."""

    def __init__(self, name, argv, env):
        self.name = name
        self.lines = queue.Queue()
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, errors="replace")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            print(f"{self.name}: {line}", end="", flush=True)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_line(self, text):
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                sys.exit(f"{self.name}: no line with {text!r} within {TIMEOUT} s")
            if line is None:
                sys.exit(f"{self.name} exited ({self.proc.wait()}) before printing {text!r}")
            if text in line:
                return line

    def stop(self):
        """SIGTERM; the process must exit with status 0"""
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(timeout=TIMEOUT)
        if status != 0:
            sys.exit(f"{self.name} exited with {status} after SIGTERM")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def python_with_gi():
    """A python3 with PyGObject and Soup 3 (the one running this may lack them)"""
    probe = "import gi; gi.require_version('Soup', '3.0'); from gi.repository import Soup"
    candidates = [shutil.which("python3"), "/usr/bin/python3"]
    for python in dict.fromkeys(c for c in candidates if c):
        if subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
            return python
    skip("no python3 with PyGObject and libsoup 3 (python3-gi, gir1.2-soup-3.0)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exchange(port, request):
    """Sends @request, half-closes, reads until EOF"""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def main():
    kind, example, typelib_dir = sys.argv[1:4]
    if kind == "python":
        argv = [python_with_gi(), example]
    else:
        gjs = shutil.which("gjs")
        if gjs is None:
            skip("gjs is not installed")
        argv = [gjs, "-m", example]

    env = dict(os.environ)
    env["GI_TYPELIB_PATH"] = os.pathsep.join(filter(None, [typelib_dir, env.get("GI_TYPELIB_PATH")]))
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [typelib_dir, env.get("LD_LIBRARY_PATH")]))
    # A sanitized libsocketmaster needs its runtimes loaded first; the
    # interpreter's own allocations are not ours to check for leaks.
    preload = sys.argv[4] if len(sys.argv) > 4 else ""
    if preload:
        env["LD_PRELOAD"] = " ".join(filter(None, [preload, env.get("LD_PRELOAD")]))
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"

    daemon = Process("daemon", [os.environ["SM_DAEMON"], "--bind", "127.0.0.1:0", "--no-bus"],
                     dict(os.environ))
    service = None
    try:
        prefix = "Listening for services on "
        line = daemon.wait_for_line(prefix)
        env["SOCKETMASTER_ADDRESS"] = line.split(prefix, 1)[1].strip()

        port = free_port()
        service = Process(os.path.basename(example), argv + ["--port", str(port)], env)
        service.wait_for_line(f"serving port {port}")

        if kind == "python":
            answer = exchange(port, b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            if not answer.startswith(b"HTTP/1.1 200") or not answer.endswith(b"From Python\n"):
                sys.exit(f"unexpected answer: {answer!r}")
        else:
            data = bytes(range(256)) * 1024
            answer = exchange(port, data)
            if answer != data:
                sys.exit(f"echo differs: sent {len(data)} bytes, got {len(answer)}")
        print(f"{os.path.basename(example)} answered through the daemon", flush=True)

        service.stop()
        service = None
        daemon.stop()
        daemon = None
    finally:
        for process in (service, daemon):
            if process is not None:
                process.kill()


if __name__ == "__main__":
    main()
