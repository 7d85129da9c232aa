"""Load and timing: wrk runs bounded in time, one request timed to its first
byte on a fresh connection, a keep-alive poller, and percentiles."""

import http.client
import re
import socket
import subprocess
import time
from pathlib import Path

LUA = Path(__file__).resolve().parent.parent / "lua"


def wrk(url, connections, duration, host=None, script=None, env=None, threads=None, headers=()):
    """Runs wrk for `duration` seconds and returns req/s, p50 and p99 (ms) and the errors.
    `headers` are more `Name: value` lines sent with every request."""
    threads = threads or (1 if connections == 1 else 2)
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "--latency"]
    if host:
        args += ["-H", f"Host: {host}"]
    for line in headers:
        args += ["-H", line]
    if script:
        args += ["-s", str(LUA / script)]
    args.append(url)
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=env,
                         timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def latency(pct):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)\b", out)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": latency(50),
        "p99": latency(99),
        "non2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1).strip() if socket_errors else "",
        "command": " ".join(args),
    }


def wrk_command(connections, duration, url="http://127.0.0.1:PORT/", host=None, script=None):
    """How a wrk run is written in BENCHMARKS.md."""
    threads = 1 if connections == 1 else 2
    parts = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if host:
        parts += ["-H", f"'Host: {host}'"]
    if script:
        parts += ["-s", f"benches/lua/{script}"]
    return " ".join(parts + [url])


def first_byte(port, host, path="/", timeout=30.0):
    """Connects, sends one GET and times until the first byte of the response arrives.

    Returns (milliseconds from before connect to the first byte, status, body)."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        first = s.recv(65536)
        elapsed = (time.perf_counter() - start) * 1000
        rest = [first]
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest.append(chunk)
    response = b"".join(rest).decode(errors="replace")
    status = int(response.split(" ", 2)[1]) if response.startswith("HTTP/") else 0
    return elapsed, status, response.partition("\r\n\r\n")[2]


class Poller:
    """GETs one host again and again on a keep-alive connection (reconnecting when
    the server closes it), to see when a change starts being served."""

    def __init__(self, port, host):
        self.port, self.host = port, host
        self.conn = None

    def get(self, path="/"):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request("GET", path, headers={"Host": self.host})
                response = self.conn.getresponse()
                return response.status, response.read().decode(errors="replace")
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    return 0, ""
        return 0, ""

    def wait_for(self, marker, since, timeout=60.0):
        """Polls until a 200 whose body contains `marker`; returns seconds from `since` to it."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            status, body = self.get()
            if status == 200 and marker in body:
                return time.perf_counter() - since
            time.sleep(0.001)  # leave the 2 cores to the server and the CLI; 1 ms is fine resolution here
        return None

    def close(self):
        if self.conn:
            self.conn.close()


def percentile(values, pct):
    """The nearest-rank percentile of `values` (pct in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]
