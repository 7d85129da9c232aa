"""Part 18: several nodes. Three `kumo server --node` processes (alpha, beta,
gamma), each with its own data folder and loopback ports, share one Postgres
ledger (a private cluster, started as `addons` starts one) and one S3 slug
store (s3s-fs, installed and started as scripts/test does). One app, the Rust
hello with one web dyno, and three measurements:

1. The forwarding hop: wrk through the router of the node that runs web.1 (the
   holder) and through another node's router (the edge, which forwards each
   request over the nodes' channel), taking turns, at c=1 and c=16.
2. A release seen by every router: `kumo config:set` and `kumo deploy --wasm`
   through one node's API; from the moment the CLI returns, GETs through every
   node's router in turn until each answers the new release.
3. Failover: a client GETs through a surviving node's router while the holder
   is killed with SIGKILL; the time until a request sent after the kill is
   answered, and until the dynos API (`kumo ps`) shows web.1 up on a
   survivor, and the requests that failed. The killed node then starts again
   under its name and data folder, and must leave exactly one web.1."""

import datetime
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from . import cpu, report, slugs, toolchain
from .addons import Postgres
from .cpu import cpu_seconds
from .load import Poller, percentile, wrk, wrk_command
from .servers import Kumo, free_port, wait_http

TITLE = "18. Several nodes: the forwarding hop, a deploy seen by every router, failover"
NAMES = ["alpha", "beta", "gamma"]
APP = "nodes"
HOST = f"{APP}.localhost"
HOP_GOAL_US = 100
SEEN_GOAL_S = 1.0
FAILOVER_GOAL_S = 10.0
FAILOVER_AIM_S = 3.0
# runtime/src/nodes.rs: a node is down this long after its last heartbeat.
NODE_TTL_S = 10.0
CONCURRENCY = [1, 16]
# s3s-fs as scripts/test installs it, and the bucket the nodes keep slugs in.
S3S_VERSION = "0.14.1"
BUCKET = "kumo-slugs"
S3_KEY, S3_SECRET = "kumo-bench", "kumo-bench-secret"
# Bounds of the polling loops: a release not seen within SEEN_TIMEOUT_S (or SEEN_MOST requests) counts as never
# seen; a failover not done within FAILOVER_TIMEOUT_S ends the part; the client of a failover round stops after
# CLIENT_MOST_S or CLIENT_MOST requests whatever happens.
SEEN_TIMEOUT_S, SEEN_MOST = 30.0, 200_000
# The pause between the rounds of GETs in the paced repetitions of `kumo deploy`, which show what the polling
# itself costs the node compiling the new component on the two cores.
PACED_S = 0.005
FAILOVER_TIMEOUT_S = 60.0
CLIENT_MOST_S, CLIENT_MOST = 120.0, 200_000
# A rejoined node has this long to start a second web.1 before `ps` is read (the end-to-end test waits 3 s).
REJOIN_SETTLE_S = 3.0


# --- the platform: a shared ledger and slug store, and three nodes on them ---

def s3s_fs():
    """The s3s-fs program, installed under ~/.cache/kumo/tools as scripts/test installs it, if missing."""
    program = toolchain.TOOLS / "bin/s3s-fs"
    stamp = toolchain.TOOLS / "s3s-fs.version"
    installed = stamp.read_text().strip() if stamp.exists() else ""
    if not program.exists() or installed != S3S_VERSION:
        env = {k: v for k, v in os.environ.items() if k != "CARGO_TARGET_DIR"}
        toolchain.run("cargo", "install", "--quiet", "--locked", "--root", toolchain.TOOLS, "--features", "binary",
                      f"s3s-fs@{S3S_VERSION}", env=env)
        stamp.write_text(S3S_VERSION + "\n")
    return program


class SlugBucket:
    """s3s-fs on a free loopback port, serving a folder of the run's scratch space; each folder under its
    root is a bucket, so making the bucket is making its folder (as the end-to-end tests do)."""

    def __init__(self, ctx):
        self.root = ctx.tmp / "s3"
        (self.root / BUCKET).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.child = ctx.servers.start([s3s_fs(), "--host", "127.0.0.1", "--port", self.port, "--access-key", S3_KEY,
                                        "--secret-key", S3_SECRET, self.root], log=ctx.tmp / "s3s.log")
        deadline = time.time() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline or self.child.poll() is not None:
                    raise SystemExit(f"s3s-fs did not start: {(ctx.tmp / 's3s.log').read_text()[-2000:]}")
                time.sleep(0.1)
        self.url = f"s3://{BUCKET}?endpoint=http://127.0.0.1:{self.port}&region=us-east-1"
        self.env = {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET}


class Node(Kumo):
    """`kumo server --node NAME` on the platform's ledger and slug store, on free loopback ports, with its own
    data folder. Only the first node's start makes the admin account, so every node is driven with the token
    in the first node's folder (`token_file`): they share the ledger. The CLI and API helpers are Kumo's."""

    def __init__(self, ctx, name, data, ledger_url, bucket, token_file):
        self.bins, self.servers, self.data, self.name = ctx.bins, ctx.servers, Path(data), name
        self.data.mkdir(parents=True, exist_ok=True)
        self.api_port, self.router_port, self.direct_port = free_port(), free_port(), None
        args = [self.bins.kumo, "server", "--node", name, "--database-url", ledger_url, "--slug-store", bucket.url,
                "--data-dir", self.data, "--api-listen", f"127.0.0.1:{self.api_port}",
                "--router-listen", f"127.0.0.1:{self.router_port}"]
        self.command = " ".join(f"'{a}'" if "&" in str(a) else str(a) for a in args)
        self.command = self.command.replace(str(self.bins.kumo), "kumo").replace(str(self.data), f"$DATA/{name}")
        log = self.data / f"server-{len(list(self.data.glob('server-*.log'))) + 1}.log"
        self.child = self.servers.start(args, log=log, env=dict(os.environ, **bucket.env))
        deadline = time.time() + 120
        while not (token_file.exists() and answers(f"http://127.0.0.1:{self.api_port}/health")):
            if self.child.poll() is not None or time.time() > deadline:
                raise SystemExit(f"kumo server --node {name} did not start: {log.read_text()[-3000:]}")
            time.sleep(0.05)
        self.token = token_file.read_text().strip()
        self.env = dict(os.environ, KUMO_HOST=f"http://127.0.0.1:{self.api_port}", KUMO_API_KEY=self.token)
        self._local = threading.local()


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except Exception:
        return False


class Platform:
    """The ledger, the slug store and the nodes, started in NAMES order (the first makes the ledger's schema
    and the admin account); `kill` and `start` stop a node with SIGKILL and start it again on its folder."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.postgres = Postgres(ctx)
        try:
            subprocess.run(["psql", self.postgres.url, "-qc", "CREATE DATABASE kumo"], check=True,
                           capture_output=True)
            self.bucket = SlugBucket(ctx)
        except BaseException:
            self.postgres.stop(ctx)  # its folder is outside the run's scratch space
            raise
        self.ledger_url = self.postgres.url.rsplit("/", 1)[0] + "/kumo"
        self.folder = ctx.tmp / "nodes"
        self.nodes = {}

    def start_all(self):
        for name in NAMES:
            self.start(name)
        self.wait_up()

    def start(self, name):
        self.nodes[name] = Node(self.ctx, name, self.folder / name, self.ledger_url, self.bucket,
                                self.folder / NAMES[0] / "admin-token")
        return self.nodes[name]

    def sql(self, query):
        """One query on the ledger, as psql prints it unaligned (`|` between columns)."""
        return subprocess.run(["psql", self.ledger_url, "-qAtc", query], check=True, capture_output=True,
                              text=True).stdout.strip()

    def kill(self, name):
        """kill -9 of the node's server (its process group), waited for."""
        self.ctx.servers.stop(self.nodes.pop(name).child)

    def any(self, but=()):
        return next(node for name, node in self.nodes.items() if name not in but)

    def wait_up(self, timeout=60):
        """Waits until `kumo nodes` shows every node up."""
        deadline = time.time() + timeout
        while True:
            nodes = json.loads(self.any().cli("nodes", "--json"))
            up = sorted(n["name"] for n in nodes if n["state"] == "up")
            if up == sorted(self.nodes):
                return
            if time.time() > deadline:
                raise SystemExit(f"the nodes never all came up: {nodes}")
            time.sleep(0.25)

    def holder(self, via, but=None, timeout=60):
        """The node that runs web.1 once it is up (and not on `but`), as `kumo ps -a APP --json` on `via` says."""
        deadline = time.time() + timeout
        while True:
            dynos = json.loads(via.cli("ps", "-a", APP, "--json"))
            for dyno in dynos:
                if dyno["name"] == "web.1" and dyno["state"] == "up" and dyno.get("node") not in (None, but):
                    return dyno["node"]
            if time.time() > deadline:
                raise SystemExit(f"web.1 of {APP} never came up (not on {but}): {dynos}")
            time.sleep(0.2)

    def stop(self):
        for name in list(self.nodes):
            self.kill(name)
        self.ctx.servers.stop(self.bucket.child)
        self.postgres.stop(self.ctx)


# --- 1. the forwarding hop ---

def measure_hop(ctx, platform, holder):
    """wrk through the holder's router and the edge's, taking turns; each run with each node's CPU per request."""
    names = list(platform.nodes)
    edge = names[(names.index(holder) + 1) % len(names)]
    rounds = 1 if ctx.quick else 5
    samples = {(path, c): [] for path in ("holder", "edge") for c in CONCURRENCY}
    for round_ in range(rounds):
        for c in CONCURRENCY:
            turn = [("holder", holder), ("edge", edge)]
            for path, name in (turn if round_ % 2 == 0 else turn[::-1]):
                node = platform.nodes[name]
                before = {n: cpu_seconds(platform.nodes[n].pid) for n in (holder, edge)}
                r = wrk(node.router_url(), c, ctx.duration, HOST)
                served = r["rps"] * ctx.duration
                r["cpu_holder"] = 1e6 * (cpu_seconds(platform.nodes[holder].pid) - before[holder]) / served
                r["cpu_edge"] = 1e6 * (cpu_seconds(platform.nodes[edge].pid) - before[edge]) / served
                samples[(path, c)].append(r)
                print(f"nodes hop {path:6} ({name}) c={c:<3} {r['rps']:>8.0f} req/s p50 {r['p50']:.3f} "
                      f"p99 {r['p99']:.3f} ms non-2xx {r['non2xx']}", flush=True)
    return edge, rounds, samples


def profile_hop(ctx, platform, holder, edge):
    """wrk c=1 through the holder's router, then the edge's, with `perf record` on both nodes meanwhile; each
    node's CPU per request by where it goes (cpu.py's buckets), {path: {node: {bucket: µs}}}, and the req/s."""
    seconds = max(ctx.duration, 3)
    profiles = {}
    for path, name in (("holder", holder), ("edge", edge)):
        client = subprocess.Popen(["wrk", "-t1", "-c1", f"-d{seconds + 2}s", "--timeout", "10s", "-H", f"Host: {HOST}",
                                   platform.nodes[name].router_url()], stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        perfs = {node: subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(cpu.FREQUENCY), "-g",
                                         "-p", str(platform.nodes[node].pid), "-o", str(ctx.tmp / f"perf-{node}.data"),
                                         "--", "sleep", str(seconds)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for node in (holder, edge)}
        for perf in perfs.values():
            perf.wait(timeout=seconds + 60)
        out, _ = client.communicate(timeout=seconds + 60)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        per = {}
        for node in (holder, edge):
            counts = cpu.buckets(ctx.tmp / f"perf-{node}.data")
            per[node] = {bucket: counts[bucket] * 1e6 / cpu.FREQUENCY / (rps * seconds) for bucket in cpu.BUCKETS}
        profiles[path] = {"rps": rps, "per": per}
        print(f"nodes hop profiled {path}: {rps:.0f} req/s, " + ", ".join(
            f"{node} {sum(per[node].values()):.1f} µs/request" for node in per), flush=True)
    return profiles


def profile_lines(holder, edge, profiles):
    """The table of where each node's CPU goes, the holder serving the client itself vs through the edge."""
    columns = [("holder", holder), ("edge", edge), ("edge", holder)]
    rows = []
    for bucket in cpu.BUCKETS:
        cells = [profiles[path]["per"][node][bucket] for path, node in columns]
        if max(cells) >= 0.5:
            rows.append([bucket] + [f"{c:.1f}" for c in cells])
    rows.append(["total"] + [f"{sum(profiles[path]['per'][node].values()):.1f}" for path, node in columns])
    return [
        f"Where each node's CPU goes at c=1 (`perf record -e cpu-clock -F {cpu.FREQUENCY} -g -p PID` on both nodes "
        "during a wrk run like the above, samples bucketed as in section 9, µs per request; sampling slows the "
        f"servers: {profiles['holder']['rps']:.0f} req/s through the holder and {profiles['edge']['rps']:.0f} "
        "through the edge while profiled):",
        "",
        report.table(["where", f"{holder}, serving the client", f"{edge}, the edge (forwarding)",
                      f"{holder}, behind the edge"], rows),
    ]


def hop_lines(ctx, holder, edge, rounds, samples, profiles):
    def med(path, c, key):
        return statistics.median(r[key] for r in samples[(path, c)])

    labels = {"holder": f"holder's router ({holder}) → web.1",
              "edge": f"edge's router ({edge}) → {holder} → web.1"}
    rows = []
    for c in CONCURRENCY:
        for path in ("holder", "edge"):
            edge_cpu = f"{med(path, c, 'cpu_edge'):.1f}" if path == "edge" else "—"
            rows.append([labels[path], c, f"{med(path, c, 'rps'):.0f}", report.ms(med(path, c, "p50")),
                         report.ms(med(path, c, "p99")), f"{med(path, c, 'cpu_holder'):.1f}", edge_cpu,
                         sum(r["non2xx"] for r in samples[(path, c)])])
    adds = [[c, f"{1000 * (med('edge', c, 'p50') - med('holder', c, 'p50')):.0f}",
             f"{1000 * (med('edge', c, 'p99') - med('holder', c, 'p99')):.0f}",
             f"{med('edge', c, 'rps') / med('holder', c, 'rps'):.2f}×"] for c in CONCURRENCY]
    hop_us = 1000 * (med("edge", 1, "p50") - med("holder", 1, "p50"))
    edge_cpu = profiles["edge"]["per"][edge]

    def part(*buckets):
        return sum(edge_cpu[b] for b in buckets)

    why = ("a second HTTP/1 exchange over loopback TCP, in two more processes' hands, on every request's path. "
           f"Profiled at c=1, the edge spends {sum(edge_cpu.values()):.0f} µs of CPU per request: "
           f"{part(*cpu.KERNEL):.0f} µs in the kernel (loopback sends, which deliver to the reader too, "
           f"{part(cpu.SEND):.0f} µs; scheduling and wake-ups, {part(cpu.SCHED):.0f} µs), "
           f"{part(cpu.HYPER):.0f} µs in hyper and tokio (its server side and its client), "
           f"{part(cpu.ALLOC):.0f} µs allocating and {part(cpu.KUMO):.0f} µs in Kumo's own code; the holder's "
           f"CPU per request rises from {sum(profiles['holder']['per'][holder].values()):.0f} to "
           f"{sum(profiles['edge']['per'][holder].values()):.0f} µs. With one request at a time every one of "
           "those sends and wake-ups is on the critical path, on two cores shared with wrk; Kumo's routing "
           "itself is a few µs of it")
    return [
        "### The forwarding hop",
        "",
        f"Load: `{wrk_command(1, ctx.duration, host=HOST)}` against the holder's router port, then the edge's "
        f"(or the other way round: the order alternates by round), and again at c=16 (`-t2`); {rounds} round(s), "
        "medians. The edge runs no web dyno of the app, so its router forwards every request to the holder's "
        "router over the nodes' channel (HTTP/1, pooled keep-alive connections) and writes the router line. "
        "Server CPU is user plus system time of the node's process over the run (from /proc) divided by the "
        "requests served; the third node idles.",
        "",
        report.table(["path", "concurrency", "req/s", "p50 ms", "p99 ms", "holder CPU µs/request",
                      "edge CPU µs/request", "non-2xx"], rows),
        "",
        "What the hop adds (through the edge minus through the holder):",
        "",
        report.table(["concurrency", "p50 µs", "p99 µs", "edge req/s ÷ holder req/s"], adds),
        "",
        *profile_lines(holder, edge, profiles),
        "",
        goal(f"forwarding hop between nodes ≤ {HOP_GOAL_US} µs at p50 (c=1, loopback)", f"{hop_us:.0f} µs",
             hop_us <= HOP_GOAL_US, f"{hop_us / HOP_GOAL_US:.2f}× the budget", why),
    ]


# --- 2. a release seen by every router ---

def first_answers(pollers, marker, since, pause=0.0):
    """GETs through every router in turn (`pause` seconds between rounds) until each answers a 200 containing
    `marker`; each router's seconds from `since` to that answer (None if it never did within SEEN_TIMEOUT_S or
    SEEN_MOST requests)."""
    seen, sent = {}, 0
    deadline = since + SEEN_TIMEOUT_S
    while len(seen) < len(pollers) and time.perf_counter() < deadline and sent < SEEN_MOST:
        for name, poller in pollers.items():
            if name in seen:
                continue
            status, body = poller.get()
            sent += 1
            if status == 200 and marker in body:
                seen[name] = time.perf_counter() - since
        if pause:
            time.sleep(pause)
    return {name: seen.get(name) for name in pollers}


class StateLines(threading.Thread):
    """`kumo logs -a APP --tail --source kumo --dyno web.1` through one node's API: when web.1's node started
    each new web.1 and when it was up, in wall-clock seconds, from the times its lines carry."""

    def __init__(self, node):
        super().__init__(daemon=True)
        self.child = subprocess.Popen([str(node.bins.kumo), "logs", "-a", APP, "--tail", "-n", "0", "--source", "kumo",
                                       "--dyno", "web.1"], env=node.env, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True)
        self.starts, self.ups = [], []
        self.start()

    def run(self):
        for line in self.child.stdout:
            stamp = line.split(" ", 1)[0]
            if "Starting process" in line:
                self.starts.append(datetime.datetime.fromisoformat(stamp).timestamp())
            elif "State changed from starting to up" in line:
                self.ups.append(datetime.datetime.fromisoformat(stamp).timestamp())

    def after(self, since, timeout=10.0):
        """(start, up) of the first web.1 started at or after `since`, waiting for their lines; None if not seen."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            start = next((t for t in list(self.starts) if t >= since), None)
            up = next((t for t in list(self.ups) if start is not None and t >= start), None)
            if up is not None:
                return start, up
            time.sleep(0.05)
        return None

    def stop(self):
        self.child.kill()
        self.child.wait()
        self.join(timeout=5)


def measure_seen(ctx, platform, via):
    """`kumo config:set` and `kumo deploy --wasm` (a new component each time) through `via`'s API, taking turns;
    after each, every router's time from the CLI's return to its first answer of the new release, and when
    web.1's node started the release's web.1 and had it up (from its log lines)."""
    reps = 3 if ctx.quick else 10
    version = max(r["version"] for r in via.api("GET", f"/apps/{APP}/releases", ok=(200, 206)))
    pollers = {name: Poller(node.router_port, HOST) for name, node in platform.nodes.items()}
    states = StateLines(via)
    time.sleep(1.5)  # the log session is open and reading every node before the first command
    hello = ctx.bins.hello.read_bytes()
    results = {"config": [], "deploy": [], "paced": []}
    for i in range(reps):
        wasm, paced = ctx.tmp / f"nodes-{i}.wasm", ctx.tmp / f"nodes-paced-{i}.wasm"
        wasm.write_bytes(slugs.with_custom_section(hello, "kumo-bench", f"nodes {i}".encode()))
        paced.write_bytes(slugs.with_custom_section(hello, "kumo-bench", f"nodes paced {i}".encode()))
        for kind, args in (("config", ["config:set", "-a", APP, f"BENCH_ROUND={i}"]),
                           ("deploy", ["deploy", "-a", APP, "--wasm", wasm]),
                           ("paced", ["deploy", "-a", APP, "--wasm", paced])):
            version += 1
            started, started_wall = time.perf_counter(), time.time()
            via.cli(*args)
            returned, returned_wall = time.perf_counter(), time.time()
            seen = first_answers(pollers, f"of release v{version}.", returned, PACED_S if kind == "paced" else 0.0)
            dyno = states.after(started_wall)
            start_s, up_s = (None, None) if dyno is None else (dyno[0] - returned_wall, dyno[1] - returned_wall)
            results[kind].append({"cli": returned - started, "seen": seen, "start": start_s, "up": up_s})
            print(f"nodes seen {kind:6} v{version}: CLI {1000 * (returned - started):.0f} ms, then "
                  + ", ".join(f"{n} {'never' if s is None else f'{1000 * s:.1f} ms'}" for n, s in seen.items())
                  + f"; web.1 started at {ms_or_never(start_s)}, up at {ms_or_never(up_s)} ms", flush=True)
    states.stop()
    for poller in pollers.values():
        poller.close()
    return reps, results


def ms_or_never(seconds):
    return "never" if seconds is None else f"{1000 * seconds:.0f}"


def seen_lines(via, holder, reps, results):
    names = {"config": f"`kumo config:set -a {APP} BENCH_ROUND=i`",
             "deploy": f"`kumo deploy -a {APP} --wasm FILE` (a new component)",
             "paced": f"the same deploy, polled every {1000 * PACED_S:.0f} ms"}
    rows, goals = [], []

    def step(kind, key, pct):
        values = [r[key] for r in results[kind] if r[key] is not None]
        return float("nan") if not values else (max(values) if pct == 100 else percentile(values, pct))

    for kind in ("config", "deploy"):
        everywhere = []
        for name in NAMES:
            times = [r["seen"][name] for r in results[kind] if r["seen"][name] is not None]
            never = len(results[kind]) - len(times)
            everywhere += times
            role = "web.1's" if name == holder else ("the API's" if name == via else "another")
            rows.append([names[kind], f"{name} ({role})", len(times), report.ms(1000 * percentile(times, 50)),
                         report.ms(1000 * max(times)) if times else "n/a", never])
        never = sum(1 for r in results[kind] for s in r["seen"].values() if s is None)
        worst = max(everywhere) if everywhere else float("nan")
        label = "config:set" if kind == "config" else "deploy --wasm"
        why = (f"the new web.1's start on {holder}, the node that runs it: it was started "
               f"{1000 * step(kind, 'start', 50):.0f} ms (median) after the CLI returned and up "
               f"{1000 * step(kind, 'up', 50):.0f} ms after (at worst {1000 * step(kind, 'up', 100):.0f} ms), and "
               "every router answered the release within milliseconds of that, the others forwarding to it. "
               f"A config:set's web.1 was up {1000 * step('config', 'up', 50):.0f} ms after; a deploy's new "
               "component is fetched from the slug store and compiled by web.1's node once the release exists "
               "(the API's node compiled it on upload, for its own cache), on the two cores the polling client "
               "and the three routers it keeps busy share: polled every "
               f"{1000 * PACED_S:.0f} ms instead, the same deploys' web.1 was up {1000 * step('paced', 'up', 50):.0f} "
               f"ms after (at worst {1000 * step('paced', 'up', 100):.0f} ms)")
        if never:
            why = f"{never} router answer(s) of the new release never came; " + why
        goals.append(goal(f"{label} seen by every node's router ≤ {SEEN_GOAL_S * 1000:.0f} ms after the API "
                          "answered (the worst node, the worst repetition)", f"{1000 * worst:.0f} ms",
                          not never and worst <= SEEN_GOAL_S, f"{worst / SEEN_GOAL_S:.2f}× the budget", why))
    cli = {kind: statistics.median(r["cli"] for r in results[kind]) for kind in results}
    steps = []
    for kind in ("config", "deploy", "paced"):
        for label, key in (("web.1's node starts the new web.1", "start"), ("the new web.1 is up", "up")):
            values = [r[key] for r in results[kind] if r[key] is not None]
            steps.append([names[kind], label, len(values), report.ms(1000 * percentile(values, 50)),
                          report.ms(1000 * max(values)) if values else "n/a"])
        last = [max(r["seen"].values()) for r in results[kind] if None not in r["seen"].values()]
        steps.append([names[kind], "every router answers the new release", len(last),
                      report.ms(1000 * percentile(last, 50)), report.ms(1000 * max(last)) if last else "n/a"])
    return [
        "### A release seen by every router",
        "",
        f"{reps} repetitions of `kumo config:set` and of `kumo deploy --wasm` (each a new component: a custom "
        f"section with the repetition number), taking turns, through {via}'s API. The moment the CLI returns "
        "(the API answered), one client GETs `/` through each node's router in turn, each on its own keep-alive "
        "connection with no pause, until every router answers `… of release vN.` of the new release "
        f"(at most {SEEN_TIMEOUT_S:.0f} s or {SEEN_MOST:,} requests); a router's time is from the CLI's return to "
        "its first such answer. With three routers polled in turn, a router's time has about a millisecond of "
        f"resolution. The CLI itself took {1000 * cli['config']:.0f} ms (config:set) and "
        f"{1000 * cli['deploy']:.0f} ms (deploy, medians) from start to return. Each repetition also makes one "
        f"more deploy of a new component whose routers are polled with a {1000 * PACED_S:.0f} ms pause between "
        "rounds, to show what the polling costs the node that compiles it (not counted in the goals).",
        "",
        report.table(["command", "router of", "n", "p50 ms", "max ms", "never"], rows),
        "",
        f"Where the time goes, from the CLI's return (ms; negative: before it): when {holder}, which runs web.1, "
        "started the release's web.1 and when that was up, from the times on its lines in "
        f"`kumo logs -a {APP} --tail --source kumo --dyno web.1` (read through {via} during the repetitions), "
        "then the slowest router's first answer of the release:",
        "",
        report.table(["command", "until", "n", "p50 ms", "max ms"], steps),
        "",
        *goals,
    ]


# --- 3. failover ---

class Client(threading.Thread):
    """GETs `/` through one router on a keep-alive connection (a new one after an error), 1 ms apart, until
    stopped, or CLIENT_MOST_S or CLIENT_MOST requests; keeps (sent, done, status) of each, `status` the HTTP
    status or the name of the error."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.records, self.done = port, [], threading.Event()

    def run(self):
        conn = None
        until = time.perf_counter() + CLIENT_MOST_S
        while not self.done.is_set() and time.perf_counter() < until and len(self.records) < CLIENT_MOST:
            sent = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=90)
                conn.request("GET", "/", headers={"Host": HOST})
                response = conn.getresponse()
                body = response.read()
                status = response.status if b"of release v" in body or response.status != 200 else "bad body"
            except (http.client.HTTPException, OSError) as e:
                if conn is not None:
                    conn.close()
                conn, status = None, type(e).__name__
            self.records.append((sent, time.perf_counter(), status))
            time.sleep(0.001)

    def stop(self):
        self.done.set()
        self.join(timeout=CLIENT_MOST_S)


def failover_round(platform, i):
    """Kills web.1's node under a client sending GETs through a survivor, times the failover, starts the killed
    node again and reads `ps`; the round's figures."""
    via = platform.any()
    holder = platform.holder(via)
    survivors = [name for name in platform.nodes if name != holder]
    through, asker = platform.nodes[survivors[i % 2]], platform.nodes[survivors[(i + 1) % 2]]
    client = Client(through.router_port)
    client.start()
    time.sleep(1.0)
    killed_at, killed_wall = time.perf_counter(), time.time()
    platform.kill(holder)
    dead_at = time.perf_counter()
    # When the ledger lets another node take web.1 (its lease's end, as the killed node last renewed it) and
    # when it counts the killed node down (its last heartbeat plus NODE_TTL), on the nodes' clock (this one).
    lease_node, lease_ms, seen_ms = platform.sql(
        f"SELECT l.node, l.expires_ms, n.seen_at_ms FROM dyno_leases l JOIN nodes n ON n.name = '{holder}' "
        f"WHERE l.app = '{APP}' AND l.dyno = 'web.1'").split("|")
    if lease_node != holder:
        raise SystemExit(f"web.1's lease names {lease_node}, not the killed {holder}")
    lease_free = int(lease_ms) / 1000 - killed_wall
    node_down = int(seen_ms) / 1000 + NODE_TTL_S - killed_wall
    ps_up, new_holder = None, None
    while ps_up is None and time.perf_counter() - killed_at < FAILOVER_TIMEOUT_S:
        for dyno in asker.dynos(APP):
            if dyno["name"] == "web.1" and dyno["state"] == "up" and dyno.get("node") not in (None, holder):
                ps_up, new_holder = time.perf_counter() - killed_at, dyno["node"]
        time.sleep(0.02)

    def answered():
        return next((done - killed_at for sent, done, status in list(client.records)
                     if sent >= dead_at and status == 200), None)

    while answered() is None and time.perf_counter() - killed_at < FAILOVER_TIMEOUT_S and client.is_alive():
        time.sleep(0.02)
    time.sleep(0.5)
    client.stop()
    records = client.records
    failed = [(sent - killed_at, status) for sent, done, status in records if status != 200]
    slowest = max((done - sent for sent, done, _ in records if done >= killed_at), default=0.0)
    platform.start(holder)
    platform.wait_up()
    time.sleep(REJOIN_SETTLE_S)
    web = [d for d in asker.dynos(APP) if d["type"] == "web"]
    back = Poller(platform.nodes[holder].router_port, HOST)
    rejoined_status, _ = back.get()
    back.close()
    result = {
        "killed": holder, "through": through.name, "new_holder": new_holder, "answered": answered(),
        "ps_up": ps_up, "lease_free": lease_free, "node_down": node_down, "requests": len(records),
        "failed": failed, "slowest": slowest,
        "web_after": [f"{d['name']} on {d.get('node')} ({d['state']})" for d in web],
        "one_web": len(web) == 1 and web[0].get("node") == new_holder, "rejoined_status": rejoined_status,
    }
    print(f"nodes failover {i + 1}: killed {holder}, GETs through {through.name}: answered after "
          f"{fmt_s(result['answered'])}, ps up on {new_holder} after {fmt_s(ps_up)} (lease free at {lease_free:.3f} s, "
          f"{holder} down at {node_down:.3f} s); {len(records)} requests, "
          f"{len(failed)} failed {failed[:5]}, slowest {slowest:.3f} s; after the rejoin: {result['web_after']}, "
          f"GET through {holder}: {rejoined_status}", flush=True)
    if ps_up is None or result["answered"] is None:
        raise SystemExit(f"web.1 did not come back within {FAILOVER_TIMEOUT_S:.0f} s of killing {holder}")
    return result


def fmt_s(value):
    return "never" if value is None else f"{value:.3f} s"


def measure_failover(ctx, platform):
    kills = 2 if ctx.quick else 20
    return [failover_round(platform, i) for i in range(kills)]


def failover_lines(rounds):
    answered = [r["answered"] for r in rounds]
    ps_up = [r["ps_up"] for r in rounds]
    failed = sum(len(r["failed"]) for r in rounds)
    requests = sum(r["requests"] for r in rounds)
    summary = [[label, len(values), f"{percentile(values, 50):.2f}", f"{percentile(values, 99):.2f}",
                f"{max(values):.2f}"]
               for label, values in (("web.1's lease ends (the ledger lets another node take it)",
                                      [r["lease_free"] for r in rounds]),
                                     ("the killed node counts as down (last heartbeat + 10 s)",
                                      [r["node_down"] for r in rounds]),
                                     ("a GET sent after the kill is answered", answered),
                                     ("`ps` shows web.1 up on a survivor", ps_up))]
    p99 = percentile(answered, 99)
    bad_rejoins = sum(1 for r in rounds if not r["one_web"])
    # A round whose web.1 answered only once the killed node counted as down waited for that, not for the lease.
    waited = [r for r in rounds if r["answered"] >= r["node_down"]]
    prompt = [r for r in rounds if r["answered"] < r["node_down"]]
    lines = [
        "### Failover",
        "",
        f"{len(rounds)} rounds. Each round: a client GETs `/` through a surviving node's router (\"GETs through\"), "
        "on a keep-alive connection, 1 ms between requests (bounded: at most "
        f"{CLIENT_MOST_S:.0f} s or {CLIENT_MOST:,} requests); after 1 s the node running web.1 is killed "
        "(`kill -9` of its process group). Timed from the kill: the first 200 answer to a GET sent after the "
        "killed server was reaped, and `GET /apps/APP/dynos` (what `kumo ps -a APP --json` shows) through the "
        "other survivor's API, every 20 ms, showing web.1 `up` on a survivor. Right after the kill the ledger "
        "is read (`dyno_leases`, `nodes`) for when web.1's lease ends, as the killed node last renewed it, and "
        "when the killed node counts as down (its last heartbeat plus 10 s), on the same clock. Then the "
        "killed node starts again with the same `--node` name and data folder; once `kumo nodes` shows it up, "
        f"{REJOIN_SETTLE_S:.0f} s later, `ps` must show exactly one web dyno, on the node that took it, and a "
        "GET through the rejoined node's router must answer. \"Slowest\" is the longest a request took among "
        "those answered after the kill: a GET that finds no web dyno up waits in the router for one. Each "
        "round's figures are printed as the run goes (`nodes failover N: …`).",
        "",
        report.table(["from the kill until", "n", "p50 s", "p99 s", "max s"], summary),
        "",
        f"Requests sent during the rounds: {requests:,}, failed: {failed} "
        f"({', '.join(sorted({str(s) for r in rounds for _, s in r['failed']})) or 'none'}). Rejoins that left "
        f"other than one web.1: {bad_rejoins}.",
        "",
    ]
    if prompt:
        after = [r["answered"] - r["lease_free"] for r in prompt]
        lines.append(f"In {len(prompt)} of {len(rounds)} rounds web.1 answered before the killed node counted as "
                     f"down: {statistics.median(after):.2f} s (median; at most {max(after):.2f} s) after its lease "
                     "ended, the survivors' next sweep (every second) claiming it and the dyno starting.")
        lines.append("")
    if waited:
        late = [r["answered"] - r["node_down"] for r in waited]
        killed = sorted({r["killed"] for r in waited})
        lines.append(
            f"In {len(waited)} of {len(rounds)} rounds (the killed node: {', '.join(killed)}) web.1 answered only "
            f"after the killed node counted as down, {statistics.median(late):.2f} s (median) after, although "
            "its lease had ended seconds before. Placement (`runtime/src/placement.rs`) gives a free dyno to the "
            "live node `choose` names, and a node is live until 10 s after its last heartbeat (`NODE_TTL`), "
            "longer than a lease lasts (`LEASE_TTL`, 6 s): a killed node stays a candidate for its own dyno "
            "for 2–5 s after the lease ends. With every node running no web dyno of the app and the same share "
            "of its instance slots in use, the tie is broken by a hash of app, process type and node, so for "
            "this app one node is always named first; when that node is the one killed, no survivor claims "
            "web.1 until it counts as down.")
        lines.append("")
    lines += [
        f"The aim of {FAILOVER_AIM_S:.0f} s is below what leases allow: no node may take web.1 before its lease "
        "ends, 5–6 s after a kill (6 s after the last renewal, which is at most a second old).",
        "",
        goal(f"failover ≤ {FAILOVER_GOAL_S:.0f} s at p99 (kill -9 of web.1's node → answered through another node; "
             f"aim {FAILOVER_AIM_S:.0f} s)", f"{p99:.2f} s", p99 <= FAILOVER_GOAL_S,
             f"{p99 / FAILOVER_GOAL_S:.2f}× the budget, {p99 / FAILOVER_AIM_S:.2f}× the aim",
             "the lease and the live-node window above: a failover cannot start before web.1's lease ends "
             "(5–6 s), and when the killed node is the one placement names first it waits until that node "
             "counts as down (8–10 s after the kill), then a sweep and the dyno's start"),
        goal("no GET fails while web.1's node is killed under it", f"{failed} of {requests:,}", failed == 0,
             f"{len(rounds)} kills", "see the failed requests above"),
    ]
    return lines


def goal(text, value, met, ratio, why):
    """report.goal, whose `bound:` line, when the goal is missed, says what this part observed."""
    return report.goal(text, value, met, ratio).replace(report.BOUND, "  bound: " + why)


def run(ctx):
    platform = Platform(ctx)
    try:
        platform.start_all()
        first = platform.nodes[NAMES[0]]
        first.cli("apps:create", APP)
        first.cli("deploy", "-a", APP, "--wasm", ctx.bins.hello)
        holder = platform.holder(first)
        for node in platform.nodes.values():
            wait_http(node.router_url(), host=HOST, expect="of release v")
        print(f"nodes: web.1 of {APP} runs on {holder}", flush=True)
        edge, rounds, hop = measure_hop(ctx, platform, holder)
        profiles = profile_hop(ctx, platform, holder, edge)
        via = next(name for name in NAMES if name != holder and name != edge)
        reps, seen = measure_seen(ctx, platform, platform.nodes[via])
        seen_holder = platform.holder(platform.nodes[via])
        failover = measure_failover(ctx, platform)
        command = first.command.replace("--node alpha", "--node NAME").replace("$DATA/alpha", "$DATA/NAME")
    finally:
        platform.stop()
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("nodes")),
        "",
        f"Three nodes, {', '.join(NAMES)}, each `{command}` "
        "(ports free ones of 127.0.0.1, taken anew at every start), with AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY set for the slug store. The ledger is a private Postgres cluster on loopback "
        "(initdb, `fsync=off`, as in section 12), the slug store s3s-fs "
        f"{S3S_VERSION} serving a folder (as scripts/test runs it). App `{APP}` = `kumo deploy --wasm "
        "rust-hello.wasm` through alpha's API (one standard-1X web dyno, WEB_CONCURRENCY=2), whose `/` answers "
        f"`Hello from Kumo! Served by web.1 of release vN.`; web.1 ran on {holder} for the first two "
        "measurements" + (f" (and on {seen_holder} after them)." if seen_holder != holder else ".") +
        " Placement times: leases last 6 s and are renewed every second; a node is down 10 s after its last "
        "heartbeat (every 2 s). Everything, wrk and the Python clients included, shares the machine's cores.",
        "",
        *hop_lines(ctx, holder, edge, rounds, hop, profiles),
        "",
        *seen_lines(via, seen_holder, reps, seen),
        "",
        *failover_lines(failover),
    ]
    return "\n".join(lines)
