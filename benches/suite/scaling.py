"""Part 6: scaling. Requests per second and server memory as one app's web
dynos go 1 → 2 → 4 → 8 (`kumo ps:scale web=N`), and as the number of apps
sharing one server goes 10 → 100 → 1,000 with the load spread across them
(wrk with a Lua script drawing the Host at random)."""

import concurrent.futures
import os
import time

from . import report
from .load import Poller, wrk, wrk_command
from .servers import Kumo
from .throughput import deploy_hello

TITLE = "6. Scaling: web dynos per app, apps per server"
CONNECTIONS = 64
# The pooling allocator's `max_instances` (runtime/src/engine.rs, EngineConfig::new).
POOL_INSTANCES = 1000


def wait_formation(kumo, app, quantity, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        web = [d for d in kumo.dynos(app) if d["type"] == "web"]
        if len(web) == quantity and all(d["state"] == "up" for d in web):
            return
        time.sleep(0.1)
    raise SystemExit(f"{app} never ran {quantity} web dynos up: {kumo.dynos(app)}")


def past_the_pool(kumo, made, add, extra=5):
    """With `made` one-instance apps up, adds `extra` more: what does the app past the
    pooling allocator's `max_instances` get?"""
    outcomes = []
    boot_log = []
    for i in range(made, made + extra):
        add(i)
        if i == made:
            # Read the dyno's log before the polling below fills the 1,500-line history with router lines.
            time.sleep(2)
            boot_log = kumo.cli("logs", "-a", f"app-{i}", "-n", "20", "--dyno", "web", check=False).splitlines()
        poller = Poller(kumo.router_port, f"app-{i}.localhost")
        answered = poller.wait_for("Hello from Kumo", time.perf_counter(), timeout=15)
        status, body = poller.get()
        poller.close()
        states = ",".join(d["state"] for d in kumo.dynos(f"app-{i}") if d["type"] == "web")
        outcomes.append((f"app-{i}", answered is not None, status, body.strip().splitlines()[0][:100] if body else "",
                         states))
    log = (kumo.data / "server.log").read_text(errors="replace")
    hints = [line.strip()[:200] for line in log.splitlines()
             if "instance" in line.lower() and ("limit" in line.lower() or "pool" in line.lower())][:2]
    served = sum(1 for o in outcomes if o[1])
    text = (f"Past the pool: with {made} apps up (one instance each; `max_instances` is {POOL_INSTANCES}), "
            f"{extra} more apps were added one by one; {served} of them answered within 15 s. "
            + "; ".join(f"`{name}`: {'served' if ok else f'{status} `{first}`'}, web dyno {states or 'none'}"
                        for name, ok, status, first, states in outcomes) + ".")
    if hints:
        text += " Server log: " + " / ".join(f"`{h}`" for h in hints) + "."
    if boot_log:
        text += (f" `kumo logs -a app-{made} --dyno web` 2 s after its release:\n\n```\n"
                 + "\n".join(line[:300] for line in boot_log[:8])
                 + "\n```\n\nEvery request to them gets `at=error code=H10 desc=\"App crashed\"` from the router.")
    return text


def run(ctx):
    dynos_steps = [1, 2, 4, 8]
    app_steps = [10, 100] if ctx.quick else [10, 100, 1000]
    size = "basic"

    kumo = Kumo(ctx.bins, ctx.servers, ctx.tmp / "scaling-dynos")
    deploy_hello(kumo, "scale", ctx.bins.hello)
    by_dynos = []
    for n in dynos_steps:
        kumo.cli("ps:scale", f"web={n}", "-a", "scale")
        wait_formation(kumo, "scale", n)
        r = wrk(kumo.router_url(), CONNECTIONS, ctx.duration, "scale.localhost")
        rss, hwm = kumo.memory()
        by_dynos.append((n, r, rss, hwm))
        print(f"scaling web={n}: {r['rps']:.0f} req/s p99 {r['p99']:.3f} ms RSS {rss:.0f} MiB", flush=True)
    kumo.stop()

    # 1,000 apps take some 3,000 API calls in a minute or two, most of an account's
    # 4,500 an hour: the API rate limit is off, as this measures the platform.
    kumo = Kumo(ctx.bins, ctx.servers, ctx.tmp / "scaling-apps", flags=["--api-rate-limit", "0"])
    archive = ctx.hello.archive("rust")
    kumo.deploy_archive("app-0", archive, size=size)
    slug_id = kumo.api("GET", "/apps/app-0/releases", ok=(200, 206))[-1]["slug"]["id"]
    made = 1

    def add(i):
        name = f"app-{i}"
        kumo.create_app(name)
        kumo.formation(name, "web", quantity=1, size=size)
        kumo.release(name, slug_id)

    by_apps, failure = [], None
    for count in app_steps:
        start = time.time()
        try:
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                list(pool.map(add, range(made, count)))
        except Exception as e:
            failure = f"growing to {count} apps: {e}"
        made = count
        hosts = ctx.tmp / f"scaling-hosts-{count}.txt"
        hosts.write_text("".join(f"app-{i}.localhost\n" for i in range(count)))
        unready = []
        for i in range(count):
            poller = Poller(kumo.router_port, f"app-{i}.localhost")
            if poller.wait_for("Hello from Kumo", time.perf_counter(), timeout=30) is None:
                unready.append(f"app-{i}")
            poller.close()
        created = time.time() - start
        r = wrk(kumo.router_url(), CONNECTIONS, ctx.duration, script="random-host.lua",
                env=dict(os.environ, KUMO_BENCH_HOSTS=str(hosts)))
        rss, hwm = kumo.memory()
        by_apps.append((count, r, rss, hwm, created, unready))
        print(f"scaling apps={count}: {r['rps']:.0f} req/s p99 {r['p99']:.3f} ms RSS {rss:.0f} MiB "
              f"unready {len(unready)}", flush=True)
        if failure:
            break
    probe = past_the_pool(kumo, made, add) if made >= POOL_INSTANCES and not failure else None
    kumo.stop()

    base = by_dynos[0][1]["rps"]
    dyno_rows = [[n, n * 2, f"{r['rps']:.0f}", f"{r['rps'] / base:.2f}×", report.ms(r["p50"]), report.ms(r["p99"]),
                  r["non2xx"], f"{rss:.0f}"] for n, r, rss, hwm in by_dynos]
    base = by_apps[0][1]["rps"]
    app_rows = [[count, f"{r['rps']:.0f}", f"{r['rps'] / base:.2f}×", report.ms(r["p50"]), report.ms(r["p99"]),
                 r["non2xx"], f"{rss:.0f}", f"{(rss - by_apps[0][2]) / max(count - by_apps[0][0], 1) * 1024:.0f}"
                 if count != by_apps[0][0] else "", len(unready), f"{created:.0f}"]
                for count, r, rss, hwm, created, unready in by_apps]
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("scaling"), f"; {ctx.duration} s per point"),
        "",
        f"Dynos: server `{kumo.command.replace('scaling-apps', 'scaling-dynos')}`, app `scale` = `kumo deploy --wasm",
        "rust-hello.wasm`, standard-1X (WEB_CONCURRENCY=2 instances per dyno), scaled with `kumo ps:scale web=N`",
        "and measured once `GET /apps/scale/dynos` shows N web dynos `up`.",
        f"Load: `{wrk_command(CONNECTIONS, ctx.duration, host='scale.localhost')}`. This machine has {os.cpu_count()}",
        "cores shared with wrk, so more dynos add instances to schedule, not cores.",
        "",
        report.table(["web dynos", "instances", "req/s", "vs 1 dyno", "p50 ms", "p99 ms", "non-2xx", "VmRSS MiB"],
                     dyno_rows),
        "",
        f"Apps: a second server; apps `app-0…app-N` release one shared hello slug through the API, each with `web=1:{size}`",
        f"(one instance per app and no sleep; at standard-1X, 1,000 apps would want 2,000 instances, twice the pooling",
        "allocator's `max_instances` of 1000). Every app answers before the load starts.",
        f"Load: `KUMO_BENCH_HOSTS=hosts.txt {wrk_command(CONNECTIONS, ctx.duration, script='random-host.lua')}`.",
        *( [f"Stopped early: {failure}"] if failure else []),
        *( ["", probe] if probe else []),
        "",
        report.table(["apps", "req/s", "vs 10 apps", "p50 ms", "p99 ms", "non-2xx", "VmRSS MiB",
                      "KiB per added app", "not answering", "s to add"], app_rows),
    ]
    return "\n".join(lines)
