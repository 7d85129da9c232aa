"""Part 13: slow clients. One server; one app (the streaming test guest
`stream.wasm` of tests/components, WEB_CONCURRENCY=2) under wrk c=16 on `/`,
first alone, then while 50 other clients of the same app read their responses
at 1 byte a second: small responses (`/`, 6 bytes), then 4 MiB ones
(`/big?mb=4`), whose guests fill their spool and wait for their client. Baseline
and loaded runs alternate, round after round; the figures are medians."""

import os
import socket
import statistics
import threading
import time

from . import report
from .load import wrk, wrk_command
from .servers import Kumo, wait_http

TITLE = "13. Slow clients: a neighbour's latency while 50 clients read at 1 byte/s"
GOAL = 2.0
CONNECTIONS = 16
SLOW_CLIENTS = 50
APP = "slowread"
CASES = [
    ("small", "/", "small responses (`GET /`, 6 bytes of body)"),
    ("big", "/big?mb=4", "4 MiB responses (`GET /big?mb=4`): each guest fills its 1 MB spool and waits"),
]


class SlowReaders:
    """SLOW_CLIENTS connections that each send one GET of `path`, then read one byte a
    second until `stop`, bounded in time by the caller. Their receive buffers are as
    small as the kernel allows, so the router soon has to wait for them."""

    def __init__(self, port, path):
        self.port, self.path = port, path
        self.socks, self.read, self.closed = [], 0, 0
        self.stopping = threading.Event()
        self.thread = None

    def start(self):
        for _ in range(SLOW_CLIENTS):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", self.port))
            s.sendall(f"GET {self.path} HTTP/1.1\r\nHost: {APP}.localhost\r\n\r\n".encode())
            s.setblocking(False)
            self.socks.append(s)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        time.sleep(1.0)  # let the guests write what the buffers on the way hold

    def _loop(self):
        for _ in range(3600):  # one pass a second, an hour at most
            if self.stopping.wait(1.0):
                return
            for s in self.socks:
                try:
                    if s.recv(1):
                        self.read += 1
                    else:
                        self.closed += 1
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed += 1

    def stop(self):
        self.stopping.set()
        self.thread.join(10)
        for s in self.socks:
            s.close()


def run(ctx):
    bins = ctx.bins
    stream = bins.guests["stream"]
    if not stream.exists():
        raise SystemExit(f"slowclients: {stream} missing: run `scripts/bench slowclients` without --no-build")
    kumo = Kumo(bins, ctx.servers, ctx.tmp / "slowclients")
    kumo.cli("apps:create", APP)
    kumo.cli("config:set", "-a", APP, "WEB_CONCURRENCY=2")
    kumo.cli("deploy", "-a", APP, "--wasm", stream)
    wait_http(kumo.router_url(), host=f"{APP}.localhost")
    rounds = 1 if ctx.quick else 3
    url, host = kumo.router_url(), f"{APP}.localhost"
    samples = {kind: [] for kind in ["baseline", *(c[0] for c in CASES)]}
    read = {c[0]: 0 for c in CASES}

    def show(kind, r):
        print(f"slowclients {kind:8} {r['rps']:>8.0f} req/s p50 {r['p50']:.3f} p99 {r['p99']:.3f} ms "
              f"non-2xx {r['non2xx']}", flush=True)

    for _ in range(rounds):
        for kind, path, _ in CASES:
            r = wrk(url, CONNECTIONS, ctx.duration, host)
            samples["baseline"].append(r)
            show("baseline", r)
            slow = SlowReaders(kumo.router_port, path)
            slow.start()
            r = wrk(url, CONNECTIONS, ctx.duration, host)
            slow.stop()
            read[kind] += slow.read
            samples[kind].append(r)
            show(kind, r)
            time.sleep(1.0)
    rss, hwm = kumo.memory()
    kumo.stop()

    def med(kind, key):
        return statistics.median(r[key] for r in samples[kind])

    base_p99 = med("baseline", "p99")
    ratios = {c[0]: med(c[0], "p99") / base_p99 for c in CASES}
    rows = [["none (baseline)", len(samples["baseline"]), f"{med('baseline', 'rps'):.0f}",
             report.ms(med("baseline", "p50")), report.ms(base_p99),
             sum(r["non2xx"] for r in samples["baseline"]), "1.00×"]]
    rows += [[f"{SLOW_CLIENTS} slow readers of {label}", len(samples[kind]), f"{med(kind, 'rps'):.0f}",
              report.ms(med(kind, "p50")), report.ms(med(kind, "p99")),
              sum(r["non2xx"] for r in samples[kind]), f"{ratios[kind]:.2f}×"]
             for kind, _, label in CASES]
    worst_kind = max(ratios, key=ratios.get)
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("slowclients"), f"; {rounds} round(s) of {ctx.duration} s per run, baseline "
                     "and loaded runs alternating, medians"),
        "",
        f"Server: `{kumo.command}`. App: `kumo apps:create {APP}`, `kumo config:set WEB_CONCURRENCY=2`, "
        "`kumo deploy --wasm stream.wasm` (the streaming test guest of `tests/components`, package `http-guests`, "
        "release build for wasm32-wasip2), one standard-1X web dyno.",
        f"Load: `{wrk_command(CONNECTIONS, ctx.duration, host=host)}` on `/`, first alone (baseline), then while "
        f"{SLOW_CLIENTS} other connections to the same app, each with a 4 KiB receive buffer, have sent one GET "
        "and read one byte of the answer a second (one Python thread; started a second before wrk, closed after "
        f"it). Before each loaded run comes a baseline run. Everything shares the machine's {os.cpu_count()} "
        "cores; the machine is shared with other work, so the figures are noisy.",
        "",
        report.table(["load beside wrk", "runs", "req/s", "p50 ms", "p99 ms", "non-2xx", "p99 ÷ baseline p99"],
                     rows),
        "",
        "Bytes the slow readers took over all rounds: "
        + ", ".join(f"{kind} {read[kind]}" for kind, _, _ in CASES)
        + f". Server memory at the end: VmRSS {rss:.0f} MiB, VmHWM {hwm:.0f} MiB.",
        "",
        report.goal(f"neighbour p99 within {GOAL:.0f}× while {SLOW_CLIENTS} clients read at 1 byte/s (c={CONNECTIONS})",
                    f"worst ({worst_kind}) {report.ms(med(worst_kind, 'p99'))} ms vs {report.ms(base_p99)} ms",
                    ratios[worst_kind] <= GOAL, f"{ratios[worst_kind]:.2f}×"),
    ]
    return "\n".join(lines)
