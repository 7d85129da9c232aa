"""Part 12: the add-ons, measured from a guest against native clients of the
same stores. The guest (benches/addons-guest, a Spin SDK app) times each call
of a loop inside one request with std::time::Instant: key-value gets and sets
(`spin_sdk::key_value`, Spin's `fermyon:spin/key-value`) on a `kumo-keyvalue`
add-on, first on the embedded SQLite store, then on a Redis server the part
starts (`--addons-redis-url`), where `redis-benchmark -t get,set -P 1 -c 1`
is the peer; and `SELECT 1`s (`spin_sdk::pg4`, `spin:postgres@4.0.0`) on a
`kumo-postgresql` add-on of a Postgres cluster the part starts, where a
native tokio-postgres client (benches/pg-native) with the app's own
DATABASE_URL is the peer. Guest and peer take turns in each round; the
medians of the rounds are compared. Then one more loop of each runs under
`perf record` on the Kumo server, and the store server's CPU is read from
/proc, to show where a call's time goes."""

import collections
import http.client
import os
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from . import cpu, report
from .servers import Kumo, free_port, wait_http
from .toolchain import pg_bin

TITLE = "12. Add-ons: key-value and Postgres calls from a guest vs native clients of the same store"
GET_BUDGET_US = 50
REDIS_SHARE = 0.5
PG_RATIO = 1.5
APP = "addons"
HOST = f"{APP}.localhost"
FREQUENCY = cpu.FREQUENCY

SQLITE = "SQLite (the library)"
SQLX = "sqlx (its SQLite worker thread, channels)"
REDIS = "redis crate (the host's Redis client)"
TOKIO_PG = "tokio-postgres (the host's Postgres client)"
ADDONS = "Kumo's add-on host (kumo_runtime::addons)"
BUCKETS = [cpu.GUEST, cpu.WASMTIME, cpu.WASI, ADDONS, SQLX, SQLITE, REDIS, TOKIO_PG, cpu.HYPER, cpu.ALLOC,
           cpu.KUMO, cpu.LIBC, cpu.OTHER, cpu.SEND, cpu.RECV, cpu.EPOLL, cpu.SCHED, cpu.KOTHER]


# --- the stores: a private Postgres cluster and Redis server on loopback ---

def as_postgres():
    return ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []


class Postgres:
    """initdb and `postgres` on a free loopback port, in a folder the postgres user owns (as scripts/test)."""

    def __init__(self, ctx):
        self.bin = pg_bin()
        if not self.bin:
            raise SystemExit("addons needs PostgreSQL: apt-get install postgresql")
        self.base = Path(tempfile.mkdtemp(prefix="kumo-bench-pg-"))
        os.chmod(self.base, 0o755)
        if os.getuid() == 0:
            shutil.chown(self.base, "postgres")
        self.data = self.base / "data"
        subprocess.run([*as_postgres(), self.bin / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True)
        self.port = free_port()
        self.child = ctx.servers.start([*as_postgres(), self.bin / "postgres", "-D", self.data, "-p", self.port,
                                        "-k", self.base, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                                        "-c", "max_connections=100"], log=ctx.tmp / "postgres.log")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        deadline = time.time() + 60
        while subprocess.run(["psql", self.url, "-qAtc", "select 1"], capture_output=True).returncode != 0:
            if time.time() > deadline or self.child.poll() is not None:
                raise SystemExit(f"postgres did not start: {(ctx.tmp / 'postgres.log').read_text()[-2000:]}")
            time.sleep(0.2)
        self.postmaster = int((self.data / "postmaster.pid").read_text().split()[0])

    def cpu_seconds(self):
        """CPU of the postmaster and every backend, the exited ones included (reaped into its children's time)."""
        total = 0.0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, ppid = int(entry), int(fields[1])
            if pid == self.postmaster:
                total += sum(int(f) for f in fields[11:15]) / 100.0
            elif ppid == self.postmaster:
                total += (int(fields[11]) + int(fields[12])) / 100.0
        return total

    def stop(self, ctx):
        subprocess.run([*as_postgres(), self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"],
                       capture_output=True)
        ctx.servers.stop(self.child)
        shutil.rmtree(self.base, ignore_errors=True)


class Redis:
    """redis-server without persistence on a free loopback port, its `default` user with a password."""

    def __init__(self, ctx):
        self.port, self.password = free_port(), secrets.token_hex(16)
        folder = ctx.tmp / "redis"
        folder.mkdir(exist_ok=True)
        self.child = ctx.servers.start(["redis-server", "--port", self.port, "--bind", "127.0.0.1",
                                        "--requirepass", self.password, "--save", "", "--appendonly", "no",
                                        "--dir", folder], log=folder / "redis.log")
        self.url = f"redis://default:{self.password}@127.0.0.1:{self.port}"
        deadline = time.time() + 30
        while self.cli("ping") != "PONG":
            if time.time() > deadline:
                raise SystemExit(f"redis-server did not start: {(folder / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.1)

    def cli(self, *args):
        done = subprocess.run(["redis-cli", "-p", str(self.port), "-a", self.password, "--no-auth-warning", *args],
                              capture_output=True, text=True)
        return done.stdout.strip()

    def cpu_seconds(self):
        return cpu.cpu_seconds(self.child.pid) if self.child.poll() is None else 0.0

    def benchmark(self, n):
        """redis-benchmark, one client, no pipelining: {"GET"/"SET": {"rps", "p50_us"}} and its own CPU per call."""
        before = children_cpu()
        out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(self.port), "-a", self.password,
                              "-t", "get,set", "-n", str(n), "-P", "1", "-c", "1", "--csv"],
                             capture_output=True, text=True, check=True).stdout
        client = (children_cpu() - before) * 1e6 / (2 * n)
        results = {}
        for line in out.splitlines():
            cells = [c.strip('"') for c in line.split(",")]
            if cells[0] in ("GET", "SET"):
                results[cells[0]] = {"rps": float(cells[1]), "p50_us": 1000 * float(cells[4]),
                                     "p99_us": 1000 * float(cells[6]), "client_us": client}
        return results


BENCHMARK_COMMAND = "redis-benchmark -h 127.0.0.1 -p PORT -a PASSWORD -t get,set -n {n} -P 1 -c 1 --csv"


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- the guest and its loops ---

def loop(kumo, path, n):
    """One request running the guest's loop; its answer as {key: float}."""
    conn = http.client.HTTPConnection("127.0.0.1", kumo.router_port, timeout=600)
    conn.request("GET", f"{path}?n={n}", headers={"Host": HOST})
    response = conn.getresponse()
    body = response.read().decode(errors="replace")
    conn.close()
    if response.status != 200:
        raise SystemExit(f"{path}?n={n}: {response.status} {body[:500]}")
    result = {key: float(value) for key, value in re.findall(r"(\w+)=([\d.]+)", body)}
    result["rate"] = result["n"] / result["total_us"] * 1e6
    return result


def native_pg(ctx, url, n, *flavor):
    before = children_cpu()
    out = subprocess.run([ctx.bins.pg_native, url, str(n), *flavor], capture_output=True, text=True,
                         check=True).stdout
    result = {key: float(value) for key, value in re.findall(r"(\w+)=([\d.]+)", out)}
    result["rate"] = result["n"] / result["total_us"] * 1e6
    result["client_us"] = (children_cpu() - before) * 1e6 / n
    return result


def deploy(ctx, kumo, addons):
    kumo.cli("apps:create", APP)
    for service in addons:
        kumo.cli("addons:create", service, "-a", APP, "--wait")
    kumo.cli("deploy", "-a", APP, "--wasm", ctx.bins.addons_guest)
    wait_http(kumo.router_url("/noop-loop?n=1"), host=HOST)


def config_var(kumo, name):
    return kumo.api("GET", f"/apps/{APP}/config-vars")[name]


def profiled(ctx, name, kumo, path, n, store=None):
    """One loop under `perf record -p` on the Kumo server: µs of Kumo's CPU per call by bucket, and
    the store server's µs of CPU per call (from /proc) when `store` is given."""
    data = ctx.tmp / f"perf-addons-{name}.data"
    perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(FREQUENCY), "-g",
                             "-p", str(kumo.pid), "-o", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # perf attaches to every thread before the loop starts
    store_before = store.cpu_seconds() if store else 0.0
    kumo_before = cpu.cpu_seconds(kumo.pid)
    result = loop(kumo, path, n)
    kumo_cpu = cpu.cpu_seconds(kumo.pid) - kumo_before
    store_cpu = store.cpu_seconds() - store_before if store else 0.0
    perf.send_signal(2)
    perf.wait(timeout=120)
    counts = cpu.buckets(data, classify)
    samples = sum(counts.values())
    per = {b: counts[b] * 1e6 / FREQUENCY / n for b in BUCKETS}
    result.update(per=per, samples=samples, kumo_us=kumo_cpu * 1e6 / n, store_us=store_cpu * 1e6 / n)
    print(f"addons perf {name:12} {result['mean_us']:7.1f} µs a call, Kumo {sum(per.values()):6.1f} µs CPU "
          f"(/proc {result['kumo_us']:.1f}), store {result['store_us']:.1f} µs, {samples} samples", flush=True)
    return result


def classify(frames):
    leaf = frames[0]
    if "[kernel.kallsyms]" not in leaf:
        name = cpu.symbol(leaf)
        if "sqlite3" in leaf:
            return SQLITE
        if "sqlx" in name:
            return SQLX
        if re.search(r"\bredis::|<redis::", name):
            return REDIS
        if re.search(r"tokio_postgres|postgres_protocol|postgres_types", name):
            return TOKIO_PG
        if "kumo_runtime::addons" in name:
            return ADDONS
    return cpu.classify(frames)


def med(results, key):
    return statistics.median(r[key] for r in results)


def run(ctx):
    rounds = 1 if ctx.quick else 5
    n_kv = 2000 if ctx.quick else 20000
    n_pg = 1000 if ctx.quick else 10000
    # The loops perf samples: long enough for a few hundred samples even in a --quick run.
    p_kv, p_pg = max(n_kv, 20000), max(n_pg, 5000)
    can_perf = shutil.which("perf") and subprocess.run(
        ["perf", "record", "-q", "-e", "cpu-clock", "-o", "/dev/null", "--", "true"], capture_output=True
    ).returncode == 0
    pg = Postgres(ctx)
    redis = None
    try:
        # The embedded store and Postgres on one server.
        kumo = Kumo(ctx.bins, ctx.servers, ctx.tmp / "addons-embedded", flags=["--addons-postgres-url", pg.url])
        embedded_command = kumo.command.replace(pg.url, "postgres://postgres@127.0.0.1:PORT/postgres")
        deploy(ctx, kumo, ["kumo-keyvalue", "kumo-postgresql"])
        database_url = config_var(kumo, "DATABASE_URL")
        for path in ("/noop-loop", "/kv-loop", "/kv-set-loop", "/pg-loop"):
            loop(kumo, path, 200)  # warm up: instances, connections, the statement cache of SQLite
        native_pg(ctx, database_url, 200)
        samples = collections.defaultdict(list)
        for i in range(rounds):
            for key, path, n in (("noop", "/noop-loop", n_kv), ("emb-get", "/kv-loop", n_kv),
                                 ("emb-set", "/kv-set-loop", n_kv), ("pg-guest", "/pg-loop", n_pg)):
                samples[key].append(loop(kumo, path, n))
            samples["pg-native"].append(native_pg(ctx, database_url, n_pg))
            samples["pg-native-ct"].append(native_pg(ctx, database_url, n_pg, "current-thread"))
            print(f"addons round {i}: " + ", ".join(f"{k} p50 {v[-1]['p50_us']:.1f} µs" for k, v in samples.items()),
                  flush=True)
        profiles = {}
        if can_perf:
            profiles["emb-get"] = profiled(ctx, "emb-get", kumo, "/kv-loop", p_kv)
            profiles["emb-set"] = profiled(ctx, "emb-set", kumo, "/kv-set-loop", p_kv)
            profiles["pg-guest"] = profiled(ctx, "pg-guest", kumo, "/pg-loop", p_pg, store=pg)
            before = pg.cpu_seconds()
            native = native_pg(ctx, database_url, p_pg)
            native["store_us"] = (pg.cpu_seconds() - before) * 1e6 / p_pg
            profiles["pg-native"] = native
        kumo.stop()

        # The same guest on a Redis-backed key-value add-on, and redis-benchmark on that Redis.
        redis = Redis(ctx)
        # (The guest imports spin:postgres too, which an app may use only with a Postgres add-on.)
        kumo = Kumo(ctx.bins, ctx.servers, ctx.tmp / "addons-redis",
                    flags=["--addons-redis-url", redis.url, "--addons-postgres-url", pg.url])
        redis_command = kumo.command.replace(redis.url, "redis://default:PASSWORD@127.0.0.1:PORT").replace(
            pg.url, "postgres://postgres@127.0.0.1:PORT/postgres")
        deploy(ctx, kumo, ["kumo-keyvalue", "kumo-postgresql"])
        loop(kumo, "/kv-loop", 200)
        loop(kumo, "/kv-set-loop", 200)
        redis.benchmark(200)
        for i in range(rounds):
            samples["redis-get"].append(loop(kumo, "/kv-loop", n_kv))
            samples["redis-set"].append(loop(kumo, "/kv-set-loop", n_kv))
            bench = redis.benchmark(n_kv)
            samples["rb-get"].append(bench["GET"])
            samples["rb-set"].append(bench["SET"])
            print(f"addons redis round {i}: guest get {samples['redis-get'][-1]['rate']:.0f}/s set "
                  f"{samples['redis-set'][-1]['rate']:.0f}/s, redis-benchmark get {bench['GET']['rps']:.0f}/s "
                  f"set {bench['SET']['rps']:.0f}/s", flush=True)
        if can_perf:
            profiles["redis-get"] = profiled(ctx, "redis-get", kumo, "/kv-loop", p_kv, store=redis)
            profiles["redis-set"] = profiled(ctx, "redis-set", kumo, "/kv-set-loop", p_kv, store=redis)
            before = redis.cpu_seconds()
            bench = redis.benchmark(p_kv)
            store = (redis.cpu_seconds() - before) * 1e6 / (2 * p_kv)
            for op in ("GET", "SET"):
                profiles[f"rb-{op.lower()}"] = dict(bench[op], store_us=store)
        kumo.stop()
    finally:
        if redis:
            ctx.servers.stop(redis.child)
        pg.stop(ctx)

    return section(ctx, samples, profiles, rounds, n_kv, n_pg, embedded_command, redis_command)


def section(ctx, samples, profiles, rounds, n_kv, n_pg, embedded_command, redis_command):
    guest_rows = []
    labels = [
        ("noop", "guest: the loop with no call (two `Instant::now()`s)", "embedded"),
        ("emb-get", "guest: `Store::get` (3-byte value)", "embedded SQLite"),
        ("emb-set", "guest: `Store::set` (3-byte value)", "embedded SQLite"),
        ("redis-get", "guest: `Store::get` (3-byte value)", "Redis"),
        ("rb-get", "`redis-benchmark` GET, `-c 1 -P 1`", "Redis"),
        ("redis-set", "guest: `Store::set` (3-byte value)", "Redis"),
        ("rb-set", "`redis-benchmark` SET, `-c 1 -P 1`", "Redis"),
        ("pg-guest", "guest: `SELECT 1` (`pg4::Connection::query`)", "Postgres"),
        ("pg-native", "native tokio-postgres: `client.query(\"SELECT 1\")`, multi-threaded runtime", "Postgres"),
        ("pg-native-ct", "native tokio-postgres, the same on a current-thread runtime", "Postgres"),
    ]
    for key, label, store in labels:
        rs = samples[key]
        if key.startswith("rb-"):
            guest_rows.append([label, store, n_kv, report.ms(med(rs, "p50_us")), report.ms(med(rs, "p99_us")),
                               "n/a", f"{med(rs, 'rps'):.0f}"])
        else:
            guest_rows.append([label, store, int(rs[0]["n"]), report.ms(med(rs, "p50_us")),
                               report.ms(med(rs, "p99_us")), report.ms(med(rs, "mean_us")), f"{med(rs, 'rate'):.0f}"])

    get_p50 = med(samples["emb-get"], "p50_us")
    share_get = med(samples["redis-get"], "rate") / med(samples["rb-get"], "rps")
    share_set = med(samples["redis-set"], "rate") / med(samples["rb-set"], "rps")
    pg_ratio = med(samples["pg-guest"], "p50_us") / med(samples["pg-native"], "p50_us")
    pg_ratio_ct = med(samples["pg-guest"], "p50_us") / med(samples["pg-native-ct"], "p50_us")
    goals = [
        report.goal(f"key-value get from a Rust guest, embedded store, p50 ≤ {GET_BUDGET_US} µs",
                    f"{get_p50:.1f} µs", get_p50 <= GET_BUDGET_US, f"{get_p50 / GET_BUDGET_US:.2f}× the budget"),
        report.goal("guest loop of key-value gets and sets on Redis ≥ 50% of `redis-benchmark`'s rate "
                    "(`-c 1 -P 1`, same Redis)",
                    f"gets {100 * share_get:.0f}%, sets {100 * share_set:.0f}%",
                    min(share_get, share_set) >= REDIS_SHARE,
                    f"{min(share_get, share_set) / REDIS_SHARE:.2f}× the share asked, the lower of the two"),
        report.goal(f"Postgres `SELECT 1` from a guest within {PG_RATIO}× of native tokio-postgres (p50, "
                    "multi-threaded runtime as Kumo's host's)",
                    f"{pg_ratio:.2f}×", pg_ratio <= PG_RATIO, f"{pg_ratio / PG_RATIO:.2f}× the allowance"),
    ]

    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("addons"), f"; {rounds} round(s), guest and peer taking turns in each, medians"),
        "",
        f"Servers: `{embedded_command}` (the embedded key-value store and Postgres add-ons), then",
        f"`{redis_command}` (key-value add-ons on Redis). The part starts its own Postgres",
        "(`initdb` + `postgres -c fsync=off` on a free loopback port, as scripts/test) and",
        "`redis-server --requirepass … --save '' --appendonly no`, and stops them. App `addons` = benches/addons-guest",
        "(a Spin SDK 5.2 app, `kumo deploy --wasm`) with `kumo addons:create kumo-keyvalue` and `kumo-postgresql`.",
        "Each guest request runs a loop of N calls, opening the store or connection once before it, and times each",
        "call with `std::time::Instant` (wasi:clocks); calls/s is N over the loop's wall time. The Redis peer is",
        f"`{BENCHMARK_COMMAND.format(n=n_kv)}` (one client, no pipelining: the fair peer of one guest's loop; its",
        "p50 and p99 are its own, to the µs), the Postgres peer benches/pg-native: tokio-postgres",
        "on tokio's multi-threaded runtime (`#[tokio::main]`'s, and the one Kumo's host runs the add-on's",
        "connection on) and, for comparison, a current-thread one, with the app's own DATABASE_URL (same server,",
        "same role), `SELECT 1` N times.",
        "Both Postgres clients prepare the statement and run it on each call (two round trips), as tokio-postgres's",
        "`query(&str)` and Kumo's host both do.",
        "",
        report.table(["loop", "store", "N", "p50 µs", "p99 µs", "mean µs", "calls/s"], guest_rows),
        "",
        *goals,
        "",
        f"Against the native client on a current-thread runtime (its connection's task and its loop on one thread,",
        f"no wake-up across threads per round trip), the guest's `SELECT 1` p50 is {pg_ratio_ct:.2f}× (not the goal's peer:",
        "Kumo's host runs the add-on's connection as a task of the server's multi-threaded runtime, like the first peer).",
    ]
    if profiles:
        cols = [k for k in ("emb-get", "emb-set", "redis-get", "redis-set", "pg-guest") if k in profiles]
        rows = []
        for bucket in BUCKETS:
            if any(profiles[c]["per"][bucket] >= 0.05 for c in cols):
                rows.append([bucket] + [f"{profiles[c]['per'][bucket]:.1f}" for c in cols])
        total = {c: sum(profiles[c]["per"].values()) for c in cols}
        rows += [["**Kumo's CPU, all (perf)**"] + [f"**{total[c]:.1f}**" for c in cols],
                 ["Kumo's CPU from /proc"] + [f"{profiles[c]['kumo_us']:.1f}" for c in cols],
                 ["the store server's CPU (/proc)"] + [f"{profiles[c]['store_us']:.1f}" if c[:3] != "emb"
                                                       else "in Kumo" for c in cols],
                 ["wall time of a call (mean)"] + [f"{profiles[c]['mean_us']:.1f}" for c in cols],
                 ["samples"] + [str(profiles[c]["samples"]) for c in cols]]
        names = {"emb-get": "embedded get", "emb-set": "embedded set", "redis-get": "Redis get",
                 "redis-set": "Redis set", "pg-guest": "Postgres SELECT 1"}
        peer_rows = []
        for key, label in (("rb-get", "redis-benchmark GET"), ("rb-set", "redis-benchmark SET"),
                           ("pg-native", "native tokio-postgres SELECT 1")):
            if key in profiles:
                p = profiles[key]
                wall = 1e6 / p["rps"] if "rps" in p else p["mean_us"]
                peer_rows.append([label, f"{wall:.1f}", f"{p['client_us']:.1f}", f"{p['store_us']:.1f}"])
        lines += [
            "",
            "Where a call's time goes: one more loop of each under `perf record -e cpu-clock -F "
            f"{FREQUENCY} -g -p KUMO_PID`,",
            "every sample put in a bucket as in section 9 (plus the add-on host and the store clients), in µs of",
            "Kumo's CPU per call (all threads, the SQLite worker's included); the store server's CPU per call from",
            "/proc (Redis: redis-server; Postgres: the postmaster and its backends). What is left of the wall time",
            "beyond both is waiting: wake-ups across threads and processes on two shared cores. The kernel's",
            "send and receive buckets are here mostly the store's socket (Redis, Postgres). Sampling with call",
            "chains slows the loops (compare the wall times with the table above); the split is what it shows.",
            "",
            report.table(["µs per call"] + [names[c] for c in cols], rows),
            "",
            "The peers, measured the same way (a client's CPU from /proc, per call):",
            "",
            report.table(["peer", "wall µs per call (mean)", "client CPU µs", "store server CPU µs"], peer_rows),
        ]
    return "\n".join(lines)
