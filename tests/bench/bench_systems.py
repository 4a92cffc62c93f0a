# SPDX-License-Identifier: MIT
"""The processes and systems of tests/bench/bench: starting the daemon with
its services, nginx and HAProxy from generated configuration files, the
plain backends; their CPU time and memory from /proc. Only ever stops what
it started, by PID."""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

# Keep-alive timeout of every system: no idle connection expires during a run
IDLE_TIMEOUT = 600
# Seconds for a process or a port to be ready
READY_TIMEOUT = 20
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
# The TCP endpoints and the sm-bench-tcp options of the service behind them
TCP_SERVICES = (("tcp-up", []), ("tcp-down", ["--source"]), ("tcp-echo", ["--echo"]))
# The same endpoints and the -mode of the Go service behind them
# (go-echo-service: the same handler on a yamux stream and on TCP)
GO_TCP_SERVICES = (("tcp-up", "sink"), ("tcp-down", "source"), ("tcp-echo", "echo"))
# The systems in front of the Go handlers served on plain TCP (go-http-service
# -listen, the backend "go-http"; go-echo-service -listen, the backends
# "go-tcp-up", "go-tcp-down" and "go-tcp-echo"): what daemon-go is compared
# with, like for like. HTTP (keep-alive and new connections) and bulk TCP.
GO_BACKEND_SYSTEMS = ("nginx-go", "haproxy-go", "direct-go", "relay-go")
# The prefix of the Go backends' names in Bench.backends
GO_BACKEND_PREFIX = "go-"


class BenchError(Exception):
    pass


def cpu_ticks(stat):
    """utime + stime from the text of /proc/PID/stat (the name may hold spaces)."""
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


# ---- processes ----

class Process:
    def __init__(self, bench, name, argv, stdin=None):
        self.name = name
        self.log = os.path.join(bench.workdir, f"{name}-{len(bench.processes)}.log")
        with open(self.log, "wb") as log:
            self.popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=stdin if stdin is not None else subprocess.DEVNULL)
        self.pid = self.popen.pid
        bench.processes.append(self)

    def output(self):
        with open(self.log, errors="replace") as log:
            return log.read()

    def wait_for(self, pattern, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output(), re.M)
            if match:
                return match
            if self.popen.poll() is not None:
                raise BenchError(f"{self.name} exited ({self.popen.returncode}) before '{pattern}':\n"
                                 + self.output()[-2000:])
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name}: no '{pattern}' within {timeout} s")
            time.sleep(0.05)

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=5):
        """TERM, then KILL after @timeout s; only ever this process, by PID."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port, tls=False):
    """One "Connection: close" request; the whole response, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            conn = raw
            if tls:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                conn = context.wrap_socket(raw)
            conn.sendall(b"GET /bench HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return data
                data += chunk
    except (OSError, ssl.SSLError):
        return None


def wait_until(what, check, processes, timeout=READY_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not check():
        for process in processes:
            if not process.alive():
                raise BenchError(f"{process.name} exited:\n" + process.output()[-2000:])
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not ready within {timeout} s")
        time.sleep(0.1)


def answers_hello(port, tls=False):
    response = fetch(port, tls)
    return response is not None and response.startswith(b"HTTP/1.1 200 ") and b"\r\n\r\nhello" in response


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def process_tree(pid):
    """pid and its descendants (nginx's workers), from /proc."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo += [int(child) for child in children.read().split()]
        except OSError:
            pass
    return pids


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                total += cpu_ticks(stat.read())
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                total += int(re.search(r"^VmRSS:\s+(\d+)", status.read(), re.M).group(1))
        except (OSError, AttributeError):
            pass
    return total


def settled_rss_kib(pids, timeout=30):
    """RSS once two samples 0.5 s apart are within 64 KiB."""
    last = rss_kib(pids)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_kib(pids)
        if abs(now - last) <= 64:
            return now
        last = now
    return last


# ---- the systems ----

class System:
    """One system started for one measure: its public endpoints (http,
    https, tcp-up, tcp-down, tcp-echo: port numbers) and the processes whose CPU and
    memory count."""

    def __init__(self, bench, name):
        self.bench = bench
        self.name = name
        self.endpoints = {}
        self.processes = []
        self.accounted = []  # the processes that make "the daemon"
        self.missing = {}    # endpoint -> why it is not there
        self.max_idle = None  # idle connections it can hold, if fewer than asked

    def pids(self):
        pids = []
        for process in self.accounted:
            pids += process_tree(process.pid)
        return pids

    def spawn(self, name, argv):
        process = Process(self.bench, f"{self.name}-{name}", argv)
        self.processes.append(process)
        return process

    def stop(self):
        for process in reversed(self.processes):
            process.stop()

    def check(self):
        """Until every endpoint answers (nginx and HAProxy say nothing when ready)."""
        for need, port in self.endpoints.items():
            if need in ("http", "https"):
                wait_until(f"{self.name} {need}", lambda: answers_hello(port, need == "https"),
                           self.processes)
            else:
                wait_until(f"{self.name} {need}", lambda: accepts(port), self.processes)


def start_daemon_c(bench, system, needs):
    b = bench.binaries
    daemon = start_daemon_process(bench, system)
    control = f"127.0.0.1:{system.control_port}"
    if "http" in needs:
        port = system.endpoints["http"] = free_port()
        system.spawn("service", [b["http"], "--control", control, "--port", str(port)]).wait_for(
            "^sm-bench-http: serving")
    if "https" in needs:
        port = system.endpoints["https"] = free_port()
        system.spawn("tls-service", [b["http"], "--control", control, "--port", str(port),
                                     "--tls-cert", bench.cert, "--tls-key", bench.key]).wait_for(
            "^sm-bench-http: serving")
    if "tcp" in needs:
        for endpoint, extra in TCP_SERVICES:
            port = system.endpoints[endpoint] = free_port()
            system.spawn(endpoint, [b["tcp"], "serve", "--control", control, "--port", str(port)]
                         + extra).wait_for("^serve: serving port")
    system.accounted = [daemon]


def start_daemon_process(bench, system):
    system.control_port = free_port()
    daemon = system.spawn("daemon", [bench.binaries["daemon"], "--bind",
                                     f"127.0.0.1:{system.control_port}", "--no-bus",
                                     "--http-idle-timeout", str(IDLE_TIMEOUT)])
    daemon.wait_for("Listening for services on")
    return daemon


def start_daemon_go(bench, system, needs):
    go_service = bench.binaries.get("go-http")
    if go_service is None:
        raise BenchError("the Go service is not built (configure with -Dinterop_tests=enabled)")
    daemon = start_daemon_process(bench, system)
    control = f"127.0.0.1:{system.control_port}"
    if "http" in needs:
        port = system.endpoints["http"] = free_port()
        system.spawn("go-service", [go_service, "-control", control,
                                    "-port", str(port), "-prefix", "/"]).wait_for("^go-http: serving")
    if "https" in needs:
        # The Go service registers no certificate: a C service on another
        # prefix brings one, and the port then terminates TLS for both
        port = system.endpoints["https"] = free_port()
        system.spawn("tls-holder", [bench.binaries["http"], "--control", control, "--port", str(port),
                                    "--prefix", "/certificate-holder/", "--tls-cert", bench.cert,
                                    "--tls-key", bench.key]).wait_for("^sm-bench-http: serving")
        system.spawn("go-tls-service", [go_service, "-control", control, "-port", str(port),
                                        "-prefix", "/"]).wait_for("^go-http: serving")
    if "tcp" in needs:
        go_echo = bench.binaries.get("go-echo")
        if go_echo is None:
            raise BenchError("the Go echo service is not built (configure with -Dinterop_tests=enabled)")
        # One service (and session) per endpoint, as daemon-c's
        for endpoint, mode in GO_TCP_SERVICES:
            port = system.endpoints[endpoint] = free_port()
            # Its keep-alive pings as often as an unchanged service's (30 s)
            system.spawn(f"go-{endpoint}", [go_echo, "-control", control, "-port", str(port),
                                            "-mode", mode, "-keepalive", "30s"]).wait_for(
                "^go-echo: serving")
    system.accounted = [daemon]


def start_nginx(bench, system, needs, prefix=""):
    """nginx in front of the backends named prefix + endpoint in
    bench.backends (the plain ones, or with "go-" the Go ones)."""
    nginx = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if nginx is None:
        raise BenchError("nginx is not installed (apt-get install nginx-light)")
    directory = tempfile.mkdtemp(prefix="nginx-", dir=bench.workdir)
    backends = bench.backends
    connections = bench.nofile
    head, servers, stream = [], [], []
    if "http" in needs:
        system.endpoints["http"] = free_port()
        servers.append(f"server {{ listen 127.0.0.1:{system.endpoints['http']} backlog=4096; "
                       "location / { proxy_pass http://backend; proxy_http_version 1.1; "
                       "proxy_set_header Connection \"\"; } }")
    if "https" in needs:
        system.endpoints["https"] = free_port()
        servers.append(f"server {{ listen 127.0.0.1:{system.endpoints['https']} ssl backlog=4096; "
                       f"ssl_certificate {bench.cert}; ssl_certificate_key {bench.key}; "
                       "ssl_protocols TLSv1.2 TLSv1.3; "
                       "location / { proxy_pass http://backend; proxy_http_version 1.1; "
                       "proxy_set_header Connection \"\"; } }")
    if "tcp" in needs:
        if os.path.exists(NGINX_STREAM_MODULE):
            head.append(f"load_module {NGINX_STREAM_MODULE};")
            for endpoint, _ in TCP_SERVICES:
                system.endpoints[endpoint] = free_port()
                stream.append(f"server {{ listen 127.0.0.1:{system.endpoints[endpoint]}; "
                              f"proxy_pass 127.0.0.1:{backends[prefix + endpoint]}; "
                              "proxy_half_close on; }")
        else:
            system.missing["tcp"] = "nginx's stream module is not installed (libnginx-mod-stream)"
    temp_paths = "\n".join(f"  {kind}_temp_path {directory}/{kind};"
                           for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    config = "\n".join(head) + f"""
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {connections};
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections {connections}; }}
http {{
  access_log off;
  keepalive_timeout {IDLE_TIMEOUT}s;
  keepalive_requests 1000000;
  proxy_max_temp_file_size 0;
{temp_paths}
  upstream backend {{ server 127.0.0.1:{backends.get(prefix + "http", 1)}; keepalive 512; }}
  {chr(10).join(servers)}
}}
"""
    if stream:
        config += "stream {\n  " + "\n  ".join(stream) + "\n}\n"
    path = os.path.join(directory, "nginx.conf")
    with open(path, "w") as file:
        file.write(config)
    system.accounted = [system.spawn("nginx", [nginx, "-p", directory, "-c", path])]


def start_haproxy(bench, system, needs, prefix=""):
    haproxy = shutil.which("haproxy", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if haproxy is None:
        raise BenchError("HAProxy is not installed (apt-get install haproxy)")
    directory = tempfile.mkdtemp(prefix="haproxy-", dir=bench.workdir)
    backends = bench.backends
    # HAProxy refuses a maxconn above half the open files limit (two
    # descriptors per proxied connection): then it holds fewer idle ones
    maxconn = min(bench.args.idle_count + 2000, (bench.nofile - 100) // 2)
    system.max_idle = maxconn - 100
    sections = [f"""global
  nbthread 1
  maxconn {maxconn}
  ulimit-n {bench.nofile}
defaults
  timeout connect 5s
  timeout client {IDLE_TIMEOUT}s
  timeout server {IDLE_TIMEOUT}s
  timeout http-keep-alive {IDLE_TIMEOUT}s
  maxconn {maxconn}
backend web
  mode http
  http-reuse always
  server backend 127.0.0.1:{backends.get(prefix + "http", 1)}
"""]
    if "http" in needs:
        system.endpoints["http"] = free_port()
        sections.append(f"frontend http\n  mode http\n  bind 127.0.0.1:{system.endpoints['http']}\n"
                        "  default_backend web\n")
    if "https" in needs:
        pem = os.path.join(directory, "cert-key.pem")
        with open(pem, "w") as out, open(bench.cert) as cert, open(bench.key) as key:
            out.write(cert.read() + key.read())
        system.endpoints["https"] = free_port()
        sections.append(f"frontend https\n  mode http\n"
                        f"  bind 127.0.0.1:{system.endpoints['https']} ssl crt {pem}\n"
                        "  default_backend web\n")
    if "tcp" in needs:
        for endpoint, _ in TCP_SERVICES:
            system.endpoints[endpoint] = free_port()
            sections.append(f"listen {endpoint}\n  mode tcp\n"
                            f"  bind 127.0.0.1:{system.endpoints[endpoint]}\n"
                            f"  server backend 127.0.0.1:{backends[prefix + endpoint]}\n")
    path = os.path.join(directory, "haproxy.cfg")
    with open(path, "w") as file:
        file.write("".join(sections))
    system.accounted = [system.spawn("haproxy", [haproxy, "-db", "-f", path])]


def start_direct(bench, system, needs):
    for need in ["http"] + [endpoint for endpoint, _ in TCP_SERVICES]:
        if need in bench.backends:
            system.endpoints[need] = bench.backends[need]
    system.missing["https"] = "the backend speaks no TLS"
    system.missing["memory"] = "no proxy to measure"
    system.missing["cpu"] = "no proxy to measure"


def start_relay(bench, system, needs, prefix=""):
    """A bare relay in front of the backends named prefix + endpoint."""
    for endpoint, _ in TCP_SERVICES:
        port = system.endpoints[endpoint] = free_port()
        backend = bench.backends[prefix + endpoint]
        relay = system.spawn(endpoint, [bench.binaries["relay"], "--port", str(port),
                                        "--connect", f"127.0.0.1:{backend}"])
        relay.wait_for("^relay: relaying port")
        system.accounted.append(relay)


def go_backends(bench, needs):
    """Endpoint -> port of the Go handlers on plain TCP that needs asks for,
    started with the backends."""
    endpoints = []
    if "http" in needs:
        endpoints.append("http")
    if "tcp" in needs:
        endpoints += [endpoint for endpoint, _ in GO_TCP_SERVICES]
    ports = {}
    for endpoint in endpoints:
        port = bench.backends.get(GO_BACKEND_PREFIX + endpoint)
        if port is None:
            raise BenchError("the Go services are not built (configure with -Dinterop_tests=enabled)")
        ports[endpoint] = port
    return ports


def start_nginx_go(bench, system, needs):
    go_backends(bench, needs)
    start_nginx(bench, system, needs, GO_BACKEND_PREFIX)


def start_haproxy_go(bench, system, needs):
    go_backends(bench, needs)
    start_haproxy(bench, system, needs, GO_BACKEND_PREFIX)


def start_relay_go(bench, system, needs):
    go_backends(bench, needs)
    start_relay(bench, system, needs, GO_BACKEND_PREFIX)


def start_direct_go(bench, system, needs):
    system.endpoints.update(go_backends(bench, needs))
    system.missing["cpu"] = "no proxy to measure"


STARTERS = {"daemon-c": start_daemon_c, "daemon-go": start_daemon_go, "nginx": start_nginx,
            "haproxy": start_haproxy, "direct": start_direct, "relay": start_relay,
            "nginx-go": start_nginx_go, "haproxy-go": start_haproxy_go, "direct-go": start_direct_go,
            "relay-go": start_relay_go}
