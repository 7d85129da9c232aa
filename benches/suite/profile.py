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
            conn.request("GET", "/", headers={"Host": host})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failures.append(response.status)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"profile: {len(failures)} requests failed: {failures[:5]}")


def callgrind(servers, args, out, port, host, log, more=()):
    """Runs `args` under callgrind, sends the warm-up, zeroes the counts, sends the
    measured requests, dumps; returns the dump's path. `more` lists further
    (port, host) listeners of the same server, each measured the same way after
    the first; with it, the list of dumps is returned, in order."""
    child = servers.start(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p",
                           "--smc-check=all-non-file", *args], log=log)
    dumps = []
    for port, host in [(port, host), *more]:
        wait_http(f"http://127.0.0.1:{port}/", host=host, timeout=300)
        requests(port, host, WARMUP)
        subprocess.run(["callgrind_control", "-z", str(child.pid)], capture_output=True, check=True)
        requests(port, host, REQUESTS)
        subprocess.run(["callgrind_control", "-d", str(child.pid)], capture_output=True, check=True)
        dump = out.parent / f"{out.name}.{child.pid}.{len(dumps) + 1}"
        for _ in range(100):
            if dump.exists() and dump.stat().st_size > 0:
                break
            time.sleep(0.2)
        else:
            raise SystemExit(f"callgrind wrote no dump {dump.name} for {args[0]}")
        time.sleep(0.5)  # the dump is written whole before the next requests
        dumps.append(dump)
    servers.stop(child)
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


def run(ctx):
    if not shutil.which("valgrind"):
        raise SystemExit("profile needs valgrind: apt-get install valgrind")
    bins, servers = ctx.bins, ctx.servers
    total = REQUESTS
    # Kumo: deploy the hello app on a normal server, then serve it under callgrind from the same data folder.
    data = ctx.tmp / "profile"
    kumo = Kumo(bins, servers, data)
    kumo.cli("apps:create", "bench")
    kumo.cli("deploy", "-a", "bench", "--wasm", bins.hello)
    wait_http(kumo.router_url(), host="bench.localhost")
    kumo.stop()
    router, direct = free_port(), free_port()
    kumo_args = [bins.kumo, "server", "--data-dir", data, "--api-listen", f"127.0.0.1:{free_port()}",
                 "--router-listen", f"127.0.0.1:{router}", "--direct-listen", f"127.0.0.1:{direct}"]
    # The router port, then the direct listener of the same server (same dyno, no router).
    kumo_dump, direct_dump = callgrind(servers, kumo_args, ctx.tmp / "cg-kumo", router, "bench.localhost",
                                       ctx.tmp / "cg-kumo.log", more=[(direct, "bench.localhost")])
    dumps = {"kumo": kumo_dump, "direct": direct_dump}
    port = free_port()
    dumps["wasmtime"] = callgrind(servers, [bins.wasmtime, "serve", "-S", "cli", "--max-instance-reuse-count",
                                            "1000000", *SAME_ENV, "--addr", f"127.0.0.1:{port}", bins.hello],
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
