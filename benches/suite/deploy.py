"""Part 4: deploy latency. A Rust hello app answering "… of release vN" and a
client polling it on a keep-alive connection; the time from starting
`kumo deploy --wasm FILE` (a new component each time: a custom section with the
repetition number, so each deploy uploads, checks and compiles new code) to the
first 200 of release vN+1, and the same from starting `kumo config:set`."""

import subprocess
import time

from . import report, slugs
from .load import Poller, percentile
from .servers import Kumo, wait_http
from .throughput import deploy_hello

TITLE = "4. Deploy latency: command start → first response from the new release"
GOALS_S = {"deploy": 1.0, "config": 0.2}


def timed(kumo, poller, args, version):
    """Starts `kumo ARGS`, polls until release v`version` answers; returns (to first response, to CLI exit)."""
    start = time.perf_counter()
    child = subprocess.Popen([str(kumo.bins.kumo), *map(str, args)], env=kumo.env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    served = poller.wait_for(f"of release v{version}.", start, timeout=120)
    out, _ = child.communicate(timeout=120)
    exited = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"kumo {' '.join(map(str, args))} failed: {out}")
    return served, exited


def run(ctx):
    reps = 5 if ctx.quick else ctx.args.deploys
    kumo = Kumo(ctx.bins, ctx.servers, ctx.tmp / "deploy")
    deploy_hello(kumo, "deploy", ctx.bins.hello)
    wait_http(kumo.router_url(), host="deploy.localhost", expect="of release v")
    version = max(r["version"] for r in kumo.api("GET", "/apps/deploy/releases", ok=(200, 206)))
    poller = Poller(kumo.router_port, "deploy.localhost")
    hello = ctx.bins.hello.read_bytes()
    results = {"deploy": [], "config": []}
    exits = {"deploy": [], "config": []}
    for i in range(reps):
        wasm = ctx.tmp / f"deploy-{i}.wasm"
        wasm.write_bytes(slugs.with_custom_section(hello, "kumo-bench", f"deploy {i}".encode()))
        version += 1
        served, exited = timed(kumo, poller, ["deploy", "-a", "deploy", "--wasm", wasm], version)
        results["deploy"].append(served)
        exits["deploy"].append(exited)
        version += 1
        served, exited = timed(kumo, poller, ["config:set", "-a", "deploy", f"BENCH_ROUND={i}"], version)
        results["config"].append(served)
        exits["config"].append(exited)
        print(f"deploy {i}: deploy {results['deploy'][-1]}, config:set {results['config'][-1]}", flush=True)
    poller.close()
    kumo.stop()

    rows, goals = [], []
    names = {"deploy": "`kumo deploy --wasm FILE -a deploy` (new component)",
             "config": "`kumo config:set BENCH_ROUND=i -a deploy`"}
    for kind in ("deploy", "config"):
        served = [s for s in results[kind] if s is not None]
        missed = len(results[kind]) - len(served)
        p50, p99 = percentile(served, 50), percentile(served, 99)
        rows.append([names[kind], len(served), report.ms(1000 * p50), report.ms(1000 * p99),
                     report.ms(1000 * percentile(exits[kind], 50)), missed])
        budget = GOALS_S[kind]
        goals.append(report.goal(f"{'deploy' if kind == 'deploy' else 'config:set'} → new release serving, "
                                 f"p99 ≤ {budget * 1000:.0f} ms", f"{1000 * p99:.0f} ms",
                                 not missed and p99 <= budget, f"{p99 / budget:.2f}× the budget"))
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("deploy"), f"; {reps} repetitions of each"),
        "",
        f"Server: `{kumo.command}`; app `deploy` = `examples/rust-hello` (one standard-1X web dyno), whose `/`",
        "answers `Hello from Kumo! Served by web.1 of release vN.`. Each repetition starts the CLI and, meanwhile,",
        "GETs `/` through the router on one keep-alive connection, 1 ms apart, until the body names the",
        "new release. The time runs from starting the CLI (which packs the component, uploads it and",
        "releases it, or sets the config var) to that first response; the CLI's own exit time is beside it.",
        "",
        report.table(["command", "n", "p50 ms", "p99 ms", "CLI exit p50 ms", "never served"], rows),
        "",
        *goals,
    ]
    return "\n".join(lines)
