"""Part 2: the router hop. One server, one Rust hello app; wrk through the router
port and through the hidden `--direct-listen` port (the same in-process dispatch
to the same web dyno, without the router's checks, forwarding headers, H-codes
and router log line), alternating rounds; the hop is the difference."""

import statistics

from . import report
from .load import wrk, wrk_command
from .servers import Kumo, wait_http
from .throughput import deploy_hello

TITLE = "2. Router hop: router port vs direct dyno listener, same server, same dyno"
GOAL_US = 50


def run(ctx):
    kumo = Kumo(ctx.bins, ctx.servers, ctx.tmp / "hop", direct=True)
    deploy_hello(kumo, "hop", ctx.bins.hello)
    host = "hop.localhost"
    direct = f"http://127.0.0.1:{kumo.direct_port}/"
    wait_http(direct, host=host)
    rounds = 1 if ctx.quick else 5
    concurrency = [1, 16]
    samples = {(port, c): [] for port in ("router", "direct") for c in concurrency}
    for _ in range(rounds):
        for c in concurrency:
            for port, url in (("router", kumo.router_url()), ("direct", direct)):
                r = wrk(url, c, ctx.duration, host)
                samples[(port, c)].append(r)
                print(f"hop {port:6} c={c:<3} {r['rps']:>9.0f} req/s p50 {r['p50']:.3f} p99 {r['p99']:.3f} ms",
                      flush=True)
    kumo.stop()

    def med(port, c, key):
        return statistics.median(r[key] for r in samples[(port, c)])

    rows = []
    for c in concurrency:
        for port in ("router", "direct"):
            rows.append([port, c, f"{med(port, c, 'rps'):.0f}", report.ms(med(port, c, 'p50')),
                         report.ms(med(port, c, 'p99')), sum(r['non2xx'] for r in samples[(port, c)])])
    hops = [[c, f"{1000 * (med('router', c, 'p50') - med('direct', c, 'p50')):.0f}",
             f"{1000 * (med('router', c, 'p99') - med('direct', c, 'p99')):.0f}",
             f"{med('router', c, 'rps') / med('direct', c, 'rps'):.2f}×"] for c in concurrency]
    hop_p50_us = 1000 * (med("router", 1, "p50") - med("direct", 1, "p50"))
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("hop"), f"; {rounds} alternating round(s) of {ctx.duration} s per point, medians"),
        "",
        f"Server: `{kumo.command}`; app `hop` = `kumo deploy --wasm rust-hello.wasm` (one standard-1X web dyno).",
        f"Load: `{wrk_command(1, ctx.duration, host=host)}` against the router port, then the direct port, and again",
        "at c=16 (`-t2`), the rounds alternating so both listeners see the same background load. wrk reports",
        "latencies to the microsecond; with the load generator on the same 2 cores, differences of a few µs are noise.",
        "",
        report.table(["listener", "concurrency", "req/s", "p50 ms", "p99 ms", "non-2xx"], rows),
        "",
        "What the router adds (router minus direct):",
        "",
        report.table(["concurrency", "p50 µs", "p99 µs", "router req/s ÷ direct req/s"], hops),
        "",
        report.goal(f"router hop ≤ {GOAL_US} µs at p50 (c=1)", f"{hop_p50_us:.0f} µs",
                    hop_p50_us <= GOAL_US, f"{hop_p50_us / GOAL_US:.2f}× the budget"),
    ]
    return "\n".join(lines)
