"""Part 8: where a request's time goes. Each server runs under valgrind's
callgrind, which counts the instructions it executes (user space only), so the
figures are the same on a busy machine as on a quiet one: a fixed number of
keep-alive requests to the Rust hello app, Kumo (router → web dyno) vs
`wasmtime serve -S cli` with instance reuse vs bare hyper. For Kumo the count
is split by where the code comes from: the guest's own machine code, wasmtime's
component runtime, the allocator, hyper/http/tokio, and Kumo itself."""

import collections
import http.client
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

from . import report
from .servers import Kumo, free_port, wait_http
from .throughput import SAME_ENV

TITLE = "8. Where a request's time goes: instructions per request (callgrind)"
WARMUP = 300
REQUESTS = 2000
CLIENTS = 4


def requests(port, host, total, clients=CLIENTS):
    """`total` GETs over `clients` keep-alive connections; every one must be a 200."""
    failures = []

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(total // clients):
            try:
                conn.request("GET", "/", headers={"Host": host})
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as e:
                failures.append(repr(e))
                return
            if response.status != 200:
                failures.append(response.status)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"profile: {len(failures)} requests failed: {failures[:5]}")


def excerpt(log):
    """What valgrind said when it stopped the program (the lines from its first
    complaint on), or else the log's last lines."""
    lines = log.read_text(errors="replace").splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"==\d+== valgrind:", line)), None)
    return "\n".join(lines[start:start + 40] if start is not None else lines[-40:])


class Undecoded(SystemExit):
    """Valgrind met machine code it cannot decode and stopped the program."""


ATTEMPTS = 3
RETRIES = collections.Counter()
# wasmtime serve drops an instance idle for 1 s (`--idle-instance-timeout`); under
# callgrind, which runs code tens of times slower, the gap between one client's
# requests can pass that, and the count would then take in making new instances.
IDLE = ["--idle-instance-timeout", "3600s"]


def callgrind(servers, args, out, port, host, log, more=()):
    """`measure` under callgrind, again (up to ATTEMPTS in all) if valgrind stopped
    the server on an instruction it could not decode: that is valgrind's limit,
    met now and then in the code wasmtime compiles, not the server's failure, and
    a run it stops counts nothing. Any other failure ends the part."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return measure(servers, args, out, port, host, log, more)
        except Undecoded as e:
            if attempt == ATTEMPTS:
                raise SystemExit(f"{e}\nvalgrind stopped {args[0]} {ATTEMPTS} times; see above") from None
            RETRIES[Path(args[0]).name] += 1
            print(f"valgrind could not decode an instruction of {Path(args[0]).name} (attempt {attempt}); "
                  "running it again", flush=True)


def failed(message, log):
    """The failure to raise, with what valgrind said in `log`."""
    said = excerpt(log)
    kind = Undecoded if "valgrind: Unrecognised instruction" in said else SystemExit
    return kind(f"{message}; its log:\n{said}")


def measure(servers, args, out, port, host, log, more=()):
    """Runs `args` under callgrind, sends the warm-up, zeroes the counts, sends the
    measured requests, dumps; returns the dump's path. `more` lists further
    (port, host) listeners of the same server, each measured the same way after
    the first; with it, the list of dumps is returned, in order."""
    child = servers.start(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p",
                           "--smc-check=all-non-file", *args], log=log)
    try:
        return dumps_of(child, args, out, port, host, log, more)
    finally:
        servers.stop(child)


def dumps_of(child, args, out, port, host, log, more):
    dumps = []
    for port, host in [(port, host), *more]:
        try:
            wait_http(f"http://127.0.0.1:{port}/", host=host, timeout=300)
            requests(port, host, WARMUP)
            subprocess.run(["callgrind_control", "-z", str(child.pid)], capture_output=True, check=True)
            requests(port, host, REQUESTS)
        except SystemExit as e:
            raise failed(f"{e} ({args[0]} under callgrind)", log) from None
        subprocess.run(["callgrind_control", "-d", str(child.pid)], capture_output=True, check=True)
        dump = out.parent / f"{out.name}.{child.pid}.{len(dumps) + 1}"
        for _ in range(100):
            if dump.exists() and dump.stat().st_size > 0:
                break
            time.sleep(0.2)
        else:
            raise failed(f"callgrind wrote no dump {dump.name} for {args[0]}", log)
        time.sleep(0.5)  # the dump is written whole before the next requests
        dumps.append(dump)
    return dumps if more else dumps[0]


def categories(dump):
    """Instructions by where the code comes from, from `callgrind_annotate`'s per-function counts."""
    text = subprocess.run(["callgrind_annotate", "--auto=no", "--inclusive=no", "--threshold=100", str(dump)],
                          capture_output=True, text=True, check=True).stdout
    counts = collections.Counter()
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S+?):(.*)", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        ir, path = int(m.group(1).replace(",", "")), m.group(2)
        if path == "???":
            key = "machine code without symbols (the guest, compiled by wasmtime; all of a stripped binary)"
        elif "mimalloc" in path or "malloc" in m.group(3):
            key = "allocator"
        elif "kumo_runtime::" in m.group(3) or "kumo::" in m.group(3):
            key = "Kumo (router, dynos, logplex; with what they inline)"
        else:
            crate = re.search(r"/index\.crates\.io-[^/]*/([a-zA-Z_\-]+?)-\d", path)
            name = crate.group(1) if crate else ("Rust std/core (inlined)" if "/rustc/" in path else "libc and other")
            key = {"wasmtime-wasi-http": "wasmtime-wasi-http", "wasmtime-wasi": "wasmtime-wasi",
                   "wasmtime-wasi-io": "wasmtime-wasi"}.get(name, name)
            if key.startswith("wasmtime") and key not in ("wasmtime-wasi-http", "wasmtime-wasi"):
                key = "wasmtime (component runtime, fibers, traps)"
            elif key in ("hyper", "hyper-util", "http", "http-body", "http-body-util", "httparse", "bytes",
                         "tokio", "mio", "futures-util", "futures-core"):
                key = "hyper, http, tokio"
        counts[key] += ir
    return counts


def kumo_serving_hello(ctx, name, router):
    """Deploys the Rust hello app as `bench` on a normal server with data folder `name`, stops it, and returns
    the arguments of a `kumo server` serving it from that folder with its router on `router` (to be run under
    callgrind)."""
    data = ctx.tmp / name
    kumo = Kumo(ctx.bins, ctx.servers, data)
    kumo.cli("apps:create", "bench")
    kumo.cli("deploy", "-a", "bench", "--wasm", ctx.bins.hello)
    wait_http(kumo.router_url(), host="bench.localhost")
    kumo.stop()
    return [ctx.bins.kumo, "server", "--data-dir", data, "--api-listen", f"127.0.0.1:{free_port()}",
            "--router-listen", f"127.0.0.1:{router}"]


def run(ctx):
    if not shutil.which("valgrind"):
        raise SystemExit("profile needs valgrind: apt-get install valgrind")
    bins, servers = ctx.bins, ctx.servers
    total = REQUESTS
    router, direct = free_port(), free_port()
    kumo_args = kumo_serving_hello(ctx, "profile", router) + ["--direct-listen", f"127.0.0.1:{direct}"]
    # The router port, then the direct listener of the same server (same dyno, no router).
    kumo_dump, direct_dump = callgrind(servers, kumo_args, ctx.tmp / "cg-kumo", router, "bench.localhost",
                                       ctx.tmp / "cg-kumo.log", more=[(direct, "bench.localhost")])
    dumps = {"kumo": kumo_dump, "direct": direct_dump}
    port = free_port()
    dumps["wasmtime"] = callgrind(servers, [bins.wasmtime, "serve", "-S", "cli", "--max-instance-reuse-count",
                                            "1000000", *IDLE, *SAME_ENV, "--addr", f"127.0.0.1:{port}", bins.hello],
                                  ctx.tmp / "cg-wasmtime", port, f"127.0.0.1:{port}", ctx.tmp / "cg-wasmtime.log")
    port = free_port()
    dumps["hyper"] = callgrind(servers, [bins.hyper, f"127.0.0.1:{port}"], ctx.tmp / "cg-hyper", port,
                               f"127.0.0.1:{port}", ctx.tmp / "cg-hyper.log")
    counts = {name: categories(dump) for name, dump in dumps.items()}
    per = {name: sum(c.values()) / total for name, c in counts.items()}
    for name, value in per.items():
        print(f"{name:10} {value:>10.0f} instructions per request", flush=True)

    rows = [["Kumo: router → web dyno", f"{per['kumo']:.0f}", "1.00×"],
            ["wasmtime serve -S cli, instance reuse", f"{per['wasmtime']:.0f}",
             f"{per['wasmtime'] / per['kumo']:.2f}×"],
            ["bare hyper", f"{per['hyper']:.0f}", f"{per['hyper'] / per['kumo']:.2f}×"]]
    split = [[key, f"{value / total:.0f}", f"{100 * value / sum(counts['kumo'].values()):.1f}%"]
             for key, value in counts["kumo"].most_common(12)]
    added = sorted(((key, counts["kumo"][key] - counts["direct"][key]) for key in counts["kumo"]),
                   key=lambda kv: -kv[1])
    hop = [[key, f"{counts['kumo'][key] / total:.0f}", f"{counts['direct'][key] / total:.0f}",
            f"{value / total:+.0f}"] for key, value in added[:10]]
    guest = "machine code without symbols (the guest, compiled by wasmtime; all of a stripped binary)"
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("profile"), f"; {WARMUP} warm-up then {REQUESTS} measured requests"),
        "",
        f"Each server runs under `valgrind --tool=callgrind --smc-check=all-non-file`; {CLIENTS} keep-alive",
        "clients send the warm-up, `callgrind_control -z` zeroes the counts, the measured requests follow and",
        "`callgrind_control -d` dumps them; `callgrind_annotate --auto=no --inclusive=no` gives each function's own",
        "instructions. Kernel work (loopback TCP, scheduling) is not counted. Under valgrind the pooling",
        "allocator cannot reserve its address space, so Kumo allocates instances on demand there (the",
        "measured requests reuse warm instances, so this does not enter the per-request count).",
        f"wasmtime serve runs as in section 1 with `{' '.join(IDLE)}` added, so that it, too, keeps its",
        "warm instances however slowly callgrind runs it (its default drops one idle for 1 s).",
        "Kumo's count repeats to within 0.6% from run to run; wasmtime serve's does not: at revisions",
        "2540984–2475bb4, of eight runs with the idle timeout six gave 244k–249k instructions a request and two",
        "about 122k (one without it gave 680k). What makes the two kinds of run differ is not established, so",
        "its row is a guide, not a constant.",
        *([f"Valgrind stopped a server on an instruction it could not decode and the measurement was run again: "
           f"{', '.join(f'{name} ×{n}' for name, n in RETRIES.items())}."] if RETRIES else []),
        "",
        report.table(["server", "instructions per request", "÷ Kumo"], rows),
        "",
        "Kumo's instructions per request by where the code comes from (wasmtime serve's binary has no",
        "symbols, so only its total is known):",
        "",
        report.table(["code", "instructions per request", "share"], split),
        "",
        f"What the router adds: the same server's direct listener (`--direct-listen`: the same dispatch to the same",
        f"dyno, without the router's checks, forwarding headers and router line) needs {per['direct']:.0f} instructions per",
        f"request, so the router adds {per['kumo'] - per['direct']:.0f}. By where the code comes from (router, direct, difference):",
        "",
        report.table(["code", "router", "direct", "router − direct"], hop),
        "",
        f"Most of the difference is not the router's code: the guest runs {(counts['kumo'][guest] - counts['direct'][guest]) / total:.0f} more",
        "instructions, and wasmtime more lifting and lowering, to take in the six headers the router adds",
        "(`X-Forwarded-For`, `-Proto`, `-Port`, `X-Request-Id`, `X-Request-Start`, `Via`): wstd copies every header",
        "into the guest's memory and parses it into its own header map on each request.",
    ]
    return "\n".join(lines)
