"""Part 5: density. One server with a short `--sleep-after`; many eco apps of the
Rust hello app, created through the Platform API from a thread pool:
`--distinct` apps each with its own component (the hello component with a
custom section naming the app, so each slug and compile is its own) and
`--shared` apps releasing one slug. Then a few apps stay awake under wrk
while the rest sleep and are woken one at a time at random; the server's
memory (VmRSS, VmHWM) and the woken requests' time to first byte are reported."""

import concurrent.futures
import os
import random
import re
import resource
import subprocess
import threading
import time

from . import report, slugs
from .load import first_byte, percentile, wrk_command
from .servers import Kumo, wait_http

TITLE = "5. Density: many apps on one server, most asleep"
SLEEP_AFTER = "2s"
RSS_GOAL_MIB = 2048
WAKE_GOAL_MS = 5
# The steady load's pause after each response, per connection (32 of them).
DELAY_MS = 4


class Creation:
    """Creates apps from a thread pool until done, a failure, or the time budget."""

    def __init__(self, kumo, budget):
        self.kumo, self.deadline = kumo, time.time() + budget
        self.created, self.failure, self.lock = [], None, threading.Lock()

    def many(self, names, make, threads=4):
        start = time.time()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(self._one, name, make) for name in names]
            for f in futures:
                f.result()
        return time.time() - start

    def _one(self, name, make):
        if self.failure or time.time() > self.deadline:
            return
        try:
            make(name)
            with self.lock:
                self.created.append(name)
        except Exception as e:
            with self.lock:
                self.failure = self.failure or f"{name}: {e}"


def under_load(ctx, kumo, hosts, asleep, seconds, delay_ms):
    """wrk over the awake apps for `seconds` (each connection pausing `delay_ms` after
    every response, or not at all), while random sleeping apps are woken one at a time."""
    env = dict(os.environ, KUMO_BENCH_HOSTS=str(hosts))
    if delay_ms is not None:
        env["KUMO_BENCH_DELAY_MS"] = str(delay_ms)
    load = subprocess.Popen(["wrk", "-t2", "-c32", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s",
                             str(ctx.root / "benches/lua/random-host.lua"), kumo.router_url()],
                            env=env, stdout=subprocess.PIPE, text=True)
    woken, failures, rss = [], [], []
    rng = random.Random(2 if delay_ms is None else 3)
    end = time.time() + seconds
    next_sample = 0
    while time.time() < end and asleep:
        if time.time() >= next_sample:
            rss.append(kumo.memory()[0])
            next_sample = time.time() + 1
        app = rng.choice(asleep)
        web = [d for d in kumo.dynos(app) if d["type"] == "web"]
        idle = bool(web) and all(d["state"] == "idle" for d in web)
        elapsed, status, body = first_byte(kumo.router_port, f"{app}.localhost")
        if status != 200:
            failures.append(f"{status} {body.strip()[:80]}")
        elif idle:
            woken.append(elapsed)
    out, _ = load.communicate(timeout=seconds + 60)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)) if "Requests/sec" in out else 0.0
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)] if p99 else float("nan")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99": p99_ms, "non2xx": int(non2xx.group(1)) if non2xx else 0, "woken": woken,
            "failures": failures, "rss": rss}


def load_row(label, run):
    woken = run["woken"]
    failed = f"{len(run['failures'])}" + (f" ({'; '.join(sorted(set(run['failures']))[:3])})" if run["failures"] else "")
    return [label, f"{run['rps']:.0f}", report.ms(run["p99"]), run["non2xx"], len(woken),
            report.ms(percentile(woken, 50)), report.ms(percentile(woken, 99)),
            report.ms(max(woken) if woken else None), failed]


def store_counts(kumo):
    slugs_dir = kumo.data / "slug-store/slugs"
    archives = len(list(slugs_dir.glob("*.tar.zst"))) if slugs_dir.exists() else 0
    compiled = sum(1 for _ in (kumo.data / "compiled").rglob("*.cwasm")) if (kumo.data / "compiled").exists() else 0
    unpacked = len([p for p in (kumo.data / "slugs").iterdir()]) if (kumo.data / "slugs").exists() else 0
    return archives, compiled, unpacked


def run(ctx):
    quick = ctx.quick
    n_distinct = ctx.args.distinct if ctx.args.distinct is not None else (20 if quick else 1000)
    n_shared = ctx.args.shared if ctx.args.shared is not None else (100 if quick else 10000)
    n_awake = min(ctx.args.awake if ctx.args.awake is not None else (10 if quick else 100), n_distinct + n_shared)
    budget = ctx.args.density_budget or (180 if quick else 1800)
    load_s = 10 if quick else 60
    # Creating 11,000 apps takes some 35,000 API calls, far past an account's
    # 4,500 an hour: the API rate limit is off, as this measures the platform.
    kumo = Kumo(ctx.bins, ctx.servers, ctx.tmp / "density",
                flags=["--sleep-after", SLEEP_AFTER, "--api-rate-limit", "0"])
    rss_start, _ = kumo.memory()
    members = slugs.unpack(ctx.hello.archive("rust"))
    path, component = slugs.component(members)

    # Apps with a component each.
    create = Creation(kumo, budget)

    def distinct(name):
        archive = slugs.repack(members, {f"app/{path}": slugs.with_custom_section(
            component, "kumo-bench-app", name.encode())})
        kumo.deploy_archive(name, archive, size="eco")

    t_distinct = create.many([f"dist-{i}" for i in range(n_distinct)], distinct)
    made_distinct = len(create.created)
    counts_distinct = store_counts(kumo)
    rss_distinct, _ = kumo.memory()
    print(f"density: {made_distinct} distinct apps in {t_distinct:.0f} s; store {counts_distinct}", flush=True)

    # Apps sharing one slug: the first few upload the same archive, the rest release it by id.
    shared_archive = ctx.hello.archive("rust")
    shared_id = {}

    def shared(name):
        index = int(name.split("-")[1])
        kumo.create_app(name)
        kumo.formation(name, "web", quantity=1, size="eco")
        if index < 10 or "id" not in shared_id:
            shared_id["id"] = kumo.upload_slug(name, shared_archive)
        kumo.release(name, shared_id["id"])

    if n_shared:
        shared("shared-0")
        create.created.append("shared-0")
    t_shared = create.many([f"shared-{i}" for i in range(1, n_shared)], shared, threads=4)
    made_shared = len(create.created) - made_distinct
    counts_all = store_counts(kumo)
    print(f"density: {made_shared} shared apps in {t_shared:.0f} s; store {counts_all}", flush=True)
    apps = list(create.created)
    time.sleep(3)  # let every app created so far fall asleep
    rss_idle, hwm_idle = kumo.memory()

    # A few apps awake under load, the others woken one at a time at random.
    awake = random.Random(1).sample(apps, n_awake) if apps else []
    asleep = [a for a in apps if a not in set(awake)]
    hosts = ctx.tmp / "density-hosts.txt"
    hosts.write_text("".join(f"{a}.localhost\n" for a in awake))
    for app in awake:
        wait_http(kumo.router_url(), host=f"{app}.localhost", timeout=60)
    # First a steady load well under what the server can take, then as much as it
    # can take: a latency goal means something only below saturation, where no
    # request waits for CPU behind the load itself; the saturated run shows what
    # a wake costs when every core is busy.
    steady = under_load(ctx, kumo, hosts, asleep, load_s, DELAY_MS)
    saturated = under_load(ctx, kumo, hosts, asleep, load_s, None)
    rss_load, hwm = kumo.memory()
    threads, fds = kumo.threads_and_fds()
    kumo.stop()
    rss_samples = steady["rss"] + saturated["rss"]
    woken = steady["woken"]
    p99_w = percentile(woken, 99)
    ran = f"{made_distinct:,} distinct + {made_shared:,} shared apps (asked for {n_distinct:,} + {n_shared:,})"
    stop_note = []
    if create.failure:
        stop_note.append(f"App creation stopped at a failure: `{create.failure[:300]}`.")
    if made_distinct + made_shared < n_distinct + n_shared and not create.failure:
        stop_note.append(f"App creation stopped at its time budget ({budget} s).")
    rows = [
        ["server at start", f"{rss_start:.0f}", ""],
        [f"after the {made_distinct:,} distinct apps ({(rss_distinct - rss_start) / max(made_distinct, 1) * 1024:.0f} KiB"
         " each)", f"{rss_distinct:.0f}", ""],
        [f"after the {made_shared:,} shared apps too ({(rss_idle - rss_distinct) / max(made_shared, 1) * 1024:.0f} KiB"
         " each), 3 s later, all asleep", f"{rss_idle:.0f}", f"{hwm_idle:.0f}"],
        [f"{n_awake} apps under wrk + random wakes, 2 × {load_s} s", f"{rss_load:.0f} (max sampled "
         f"{max(rss_samples) if rss_samples else rss_load:.0f})", f"{hwm:.0f}"],
    ]
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("density"), f"; {ran}"),
        "",
        f"Server: `{kumo.command}` (pooling allocator: `max_instances` 1000 in runtime/src/engine.rs;",
        f"eco web dynos run WEB_CONCURRENCY=1). Apps are created through the Platform API from 4 threads:",
        "`POST /apps`, `PATCH /apps/{app}/formation` (`web=1:eco`), then for distinct apps `POST",
        "/apps/{app}/slugs` with the hello slug repacked around its component plus a custom section",
        "`kumo-bench-app` naming the app, and for shared apps the first 10 upload the same archive and the",
        "rest `POST /apps/{app}/releases {slug: id}`. "
        f"Distinct apps took {t_distinct:.0f} s ({made_distinct / max(t_distinct, 1e-9):.1f} apps/s, each upload checked",
        f"and compiled), shared ones {t_shared:.0f} s ({made_shared / max(t_shared, 1e-9):.1f} apps/s).",
        *stop_note,
        "",
        f"Slug dedup: after the distinct apps the store held {counts_distinct[0]} archives, {counts_distinct[1]}",
        f"compiled components, {counts_distinct[2]} unpacked slugs; after the shared apps {counts_all[0]},",
        f"{counts_all[1]} and {counts_all[2]}: the shared slug is "
        + ("stored, compiled and unpacked once (by digest)" if counts_all[0] - counts_distinct[0] <= 1
           else "stored more than once") + ".",
        "",
        f"Load: `{wrk_command(32, load_s, script='random-host.lua')}` over {n_awake} awake apps (Host drawn at",
        "random), while one Python client wakes random other apps one at a time: it checks `GET /apps/{app}/dynos`",
        "shows the web dyno `idle`, then times a request from before connect to its first byte. The load runs",
        f"twice: first steady, each connection waiting {DELAY_MS} ms after every response (`KUMO_BENCH_DELAY_MS={DELAY_MS}`),",
        "then saturating, with no wait, so every core is busy with it.",
        "",
        report.table(["load on the awake apps", "req/s", "p99 ms", "non-2xx", "wakes", "wake p50 ms", "wake p99 ms",
                      "wake max ms", "failed wakes"],
                     [load_row(f"steady ({DELAY_MS} ms between a connection's requests)", steady),
                      load_row("saturating (no wait)", saturated)]),
        "",
        f"Saturated, {saturated['rps'] / max(steady['rps'], 1e-9):.1f}× the steady rate: the woken requests wait for CPU "
        f"behind the load as every request does (the awake apps' own p99 is {report.ms(saturated['p99'])} ms, the "
        f"wakes' {report.ms(percentile(saturated['woken'], 99))} ms).",
        f"Server at the end: {threads} threads, {fds} open file descriptors (limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}).",
        "",
        report.table(["moment", "VmRSS MiB", "VmHWM MiB"], rows),
        "",
        report.goal(f"server RSS ≤ 2 GB with {made_distinct:,} distinct + {made_shared:,} shared apps", f"VmHWM {hwm:.0f} MiB", hwm <= RSS_GOAL_MIB,
                    f"{hwm / RSS_GOAL_MIB:.2f}× the budget"),
        report.goal(f"woken requests' p99 ≤ {WAKE_GOAL_MS} ms (the Rust wake goal) while {n_awake} apps are under a "
                    f"steady load ({steady['rps']:.0f} req/s)",
                    f"{report.ms(p99_w)} ms", bool(woken) and p99_w <= WAKE_GOAL_MS,
                    f"{p99_w / WAKE_GOAL_MS:.2f}× the budget"),
    ]
    if n_distinct + n_shared > made_distinct + made_shared or ctx.quick:
        lines[4:4] = [f"**Reduced run** ({n_awake} awake): the full run is `scripts/bench density` "
                      "(1,000 distinct + 10,000 shared, 100 awake).", ""]
    return "\n".join(lines)

