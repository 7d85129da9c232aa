"""Part 16: log drains. One server, one Rust hello app under wrk c=16: first with
no drains, then with three attached to it, two syslog receivers that read and
discard (benches/syslog-sink, native) and one whose endpoint is down (nothing
listens on its port, so it keeps reconnecting and its queue overflows). Each
request writes one router line, which every drain is offered. Runs without and
with the drains alternate, round after round (the drains are added and removed
through the CLI between runs); the figures are medians."""

import statistics
import subprocess
import time

from . import report
from .cpu import cpu_seconds
from .load import wrk, wrk_command
from .servers import Kumo, free_port
from .throughput import deploy_hello

TITLE = "16. Log drains: router throughput with three drains, one of them down"
GOAL = 0.95
CONNECTIONS = 16
APP = "drained"


class SyslogSink:
    """A syslog receiver on loopback (benches/syslog-sink, native: large reads, nothing kept) that counts the
    bytes it gets, so that what the part measures is the server's drains, not the receiver."""

    def __init__(self, program):
        self.port = free_port()
        self.child = subprocess.Popen([str(program), str(self.port)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, start_new_session=True)
        ready = self.child.stdout.readline()
        if not ready.startswith("listening"):
            self.child.kill()
            raise SystemExit(f"syslog-sink did not start on port {self.port}: {ready!r}")

    def stop(self):
        """Stops the receiver; returns the bytes it got."""
        try:
            out, _ = self.child.communicate(input="", timeout=10)
            return int(out.strip() or 0)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
            return 0


def run(ctx):
    kumo = Kumo(ctx.bins, ctx.servers, ctx.tmp / "drains")
    deploy_hello(kumo, APP, ctx.bins.hello)
    host = f"{APP}.localhost"
    sinks = [SyslogSink(ctx.bins.syslog_sink), SyslogSink(ctx.bins.syslog_sink)]
    down = free_port()
    urls = [f"syslog://127.0.0.1:{s.port}" for s in sinks] + [f"syslog://127.0.0.1:{down}"]
    rounds = 1 if ctx.quick else 5
    samples = {"none": [], "drains": []}

    def measure(kind):
        """One wrk run, with the server's CPU (user + system, all threads) per request over it: a figure
        that, unlike req/s, other work on the machine hardly moves."""
        before = cpu_seconds(kumo.pid)
        r = wrk(kumo.router_url(), CONNECTIONS, ctx.duration, host)
        r["cpu_us"] = 1e6 * (cpu_seconds(kumo.pid) - before) / (r["rps"] * ctx.duration)
        samples[kind].append(r)
        print(f"drains {kind:7} {r['rps']:>8.0f} req/s p50 {r['p50']:.3f} p99 {r['p99']:.3f} ms "
              f"server CPU {r['cpu_us']:.1f} µs/request non-2xx {r['non2xx']}", flush=True)

    for _ in range(rounds):
        measure("none")
        for url in urls:
            kumo.cli("drains:add", url, "-a", APP)
        time.sleep(1.0)
        measure("drains")
        for url in urls:
            kumo.cli("drains:remove", url, "-a", APP)
        time.sleep(1.0)
    kumo.stop()
    received = [sink.stop() for sink in sinks]

    def med(kind, key):
        return statistics.median(r[key] for r in samples[kind])

    ratio = med("drains", "rps") / med("none", "rps")
    # Each round's two runs are next to each other in time, so their ratio is little moved by load that
    # comes and goes on the machine over the part's minute.
    paired = [d["rps"] / n["rps"] for n, d in zip(samples["none"], samples["drains"])]
    rows = [[label, len(samples[kind]), f"{med(kind, 'rps'):.0f}", report.ms(med(kind, "p50")),
             report.ms(med(kind, "p99")), f"{med(kind, 'cpu_us'):.1f}", sum(r["non2xx"] for r in samples[kind])]
            for kind, label in (("none", "no drains"), ("drains", "3 drains (2 receiving, 1 down)"))]
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("drains"), f"; {rounds} round(s) of {ctx.duration} s per run, runs without "
                     "and with the drains alternating, medians"),
        "",
        f"Server: `{kumo.command}`. App: `kumo deploy --wasm rust-hello.wasm` as `{APP}`, one standard-1X web "
        "dyno. Drains: `kumo drains:add` of two `syslog://127.0.0.1:PORT` receivers (benches/syslog-sink: native, "
        "reading and discarding) and one `syslog://127.0.0.1:PORT` where nothing listens.",
        f"Load: `{wrk_command(CONNECTIONS, ctx.duration, host=host)}`; each request's router line is offered "
        "to every drain's queue.",
        "",
        report.table(["drains", "runs", "req/s", "p50 ms", "p99 ms", "server CPU µs/request", "non-2xx"], rows),
        "",
        "Server CPU: user plus system time of the server's process (every thread) over a run, from /proc, "
        f"divided by the requests it answered; with drains it is {med('drains', 'cpu_us') / med('none', 'cpu_us'):.2f}× "
        "that without. The kernel's work for the drains' loopback connections is partly counted in the "
        "receivers' processes, not here.",
        "",
        f"Each round's req/s with drains ÷ without: {', '.join(f'{p:.2f}' for p in paired)} (median "
        f"{statistics.median(paired):.2f}).",
        "",
        f"Bytes the two receivers got over all runs: {received[0]:,} and {received[1]:,}.",
        "",
        report.goal(f"throughput with 3 drains (one down) at least {GOAL:.0%} of none (c={CONNECTIONS})",
                    f"{med('drains', 'rps'):.0f} vs {med('none', 'rps'):.0f} req/s", ratio >= GOAL,
                    f"{ratio:.2f}×"),
    ]
    return "\n".join(lines)
