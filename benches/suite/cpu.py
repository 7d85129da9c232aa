"""Part 9: where each server's CPU goes under load, the kernel included. Each
server serves the Rust hello app to wrk at c=64 while `perf record -e cpu-clock
-g` samples its threads; every sample is put in one bucket (the kernel's
loopback send, its receive, epoll, scheduling and wake-up interrupts, the guest's
own machine code, wasmtime's component runtime, WASI, hyper and tokio, the
allocator, Kumo's own code, the rest) and the buckets are turned into µs of CPU
per request. wrk's own CPU per request is read from /proc. Unlike callgrind
(part 8), this counts time, the kernel's included, so it shows what no host of
the same component can avoid: the ceiling on any ratio between them."""

import collections
import re
import shutil
import subprocess
import time

from . import report
from .load import wrk_command
from .servers import Kumo, free_port, wait_http
from .throughput import FORWARDED, SAME_ENV, deploy_hello

TITLE = "9. Where a request's CPU goes, the kernel included (perf sampling)"
FREQUENCY = 999  # samples per second per thread: 1 ms of CPU each
CONCURRENCY = 64

SEND = "kernel: sending responses (loopback TCP; delivering them to the client and waking it happen here too)"
RECV = "kernel: reading requests"
EPOLL = "kernel: waiting for sockets (epoll)"
SCHED = "kernel: scheduling (context switches, futex, wake-up interrupts from other cores)"
KOTHER = "kernel: other (timers, page faults, interrupts)"
GUEST = "the guest's own code (machine code compiled by wasmtime)"
WASMTIME = "wasmtime's component runtime (calls, lifting and lowering, resources, fibers)"
WASI = "wasmtime-wasi and wasmtime-wasi-http (the host side of the guest's calls)"
HYPER = "hyper, http, tokio"
ALLOC = "allocator"
KUMO = "Kumo's own code (router, dynos, Logplex)"
LIBC = "libc (memcpy and the like)"
OTHER = "other (Rust std and code inlined into it)"
BUCKETS = [SEND, RECV, EPOLL, SCHED, KOTHER, GUEST, WASMTIME, WASI, HYPER, ALLOC, KUMO, LIBC, OTHER]
KERNEL = [SEND, RECV, EPOLL, SCHED, KOTHER]
# What every host of the same component pays, whatever its own code costs.
SHARED = KERNEL + [GUEST, WASMTIME, WASI]


def classify(frames):
    """The bucket of one sample, from its call chain (leaf first) as `perf script` prints it."""
    leaf = frames[0]
    if "[kernel.kallsyms]" in leaf:
        if any("reschedule_ipi" in f or "call_function" in f or "finish_task_switch" in f or "__schedule" in f
               for f in frames):
            return SCHED
        user = next((f for f in frames if "[kernel.kallsyms]" not in f), "")
        name = symbol(user)
        if re.search(r"writev|__send|sendto|sendmsg|libc_write|__write", name):
            return SEND
        if re.search(r"recv|libc_read|__read", name):
            return RECV
        if "epoll" in name:
            return EPOLL
        if re.search(r"syscall|futex|lll_lock|pthread|sched_yield|nanosleep", name):
            return SCHED
        return KOTHER
    name, dso = symbol(leaf), leaf.rsplit("(", 1)[-1]
    if "[unknown]" in dso or "JIT" in dso or "perf-" in dso or name.startswith("wasm["):
        return GUEST
    if "wasmtime_wasi" in name:
        return WASI
    if "wasmtime" in name or "cranelift" in name:
        return WASMTIME
    if re.match(r"(_?mi_|malloc|free|cfree|_int_|realloc|calloc|__libc_malloc|__libc_free|unlink_chunk)", name):
        return ALLOC
    if "kumo" in name:
        return KUMO
    if re.search(r"\bhyper|\bhttp::|httparse|tokio|\bmio\b|mio::|bytes::|futures_", name):
        return HYPER
    if "libc.so" in dso:
        return LIBC
    return OTHER


def symbol(frame):
    """The function name of a `perf script` frame line (address, symbol+offset, (dso))."""
    parts = frame.split(None, 1)
    rest = parts[1] if len(parts) > 1 else ""
    return re.sub(r"\+0x[0-9a-f]+ \(.*$| \(.*$", "", rest)


def buckets(data, classify=classify):
    """Samples per bucket in a perf.data file, each sample put in one by `classify`."""
    out = subprocess.run(["perf", "script", "-i", str(data)], capture_output=True, text=True).stdout
    counts = collections.Counter()
    for sample in out.split("\n\n"):
        frames = [line.strip() for line in sample.splitlines()[1:] if line.strip()]
        if frames:
            counts[classify(frames)] += 1
    return counts


def cpu_seconds(pid):
    """User plus system CPU seconds of a process so far (from /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def profile(ctx, name, pid, url, host, headers=()):
    """wrk at c=64 against `url` with perf sampling `pid` meanwhile; the buckets in µs per request."""
    seconds = max(ctx.duration, 3)
    args = ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds + 2}s", "--timeout", "10s"]
    if host:
        args += ["-H", f"Host: {host}"]
    for line in headers:
        args += ["-H", line]
    subprocess.run([*args[:3], "-d1s", *args[4:], url], capture_output=True, check=True)  # warm up
    client = subprocess.Popen([*args, url], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    client_before = cpu_seconds(client.pid)
    data = ctx.tmp / f"perf-{name}.data"
    subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(FREQUENCY), "-g", "-p", str(pid),
                    "-o", str(data), "--", "sleep", str(seconds)], capture_output=True, check=True)
    client_cpu = cpu_seconds(client.pid) - client_before
    out, _ = client.communicate(timeout=seconds + 60)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = rps * seconds
    counts = buckets(data)
    per = {bucket: counts[bucket] * 1e6 / FREQUENCY / requests for bucket in BUCKETS}
    print(f"cpu {name:14} {rps:>9.0f} req/s  server {sum(per.values()):6.1f} µs/req  "
          f"client {client_cpu * 1e6 / requests:5.1f} µs/req", flush=True)
    return {"rps": rps, "per": per, "client": client_cpu * 1e6 / requests, "samples": sum(counts.values())}


def run(ctx):
    if not shutil.which("perf"):
        raise SystemExit("cpu needs perf: apt-get install linux-perf")
    probe = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-o", "/dev/null", "--", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise SystemExit(f"cpu: perf cannot sample on this machine: {probe.stderr.strip()[-300:]}")
    bins, servers = ctx.bins, ctx.servers
    kumo = Kumo(bins, servers, ctx.tmp / "cpu", direct=True)
    deploy_hello(kumo, "bench", bins.hello)
    direct = f"http://127.0.0.1:{kumo.direct_port}/"
    wait_http(direct, host="bench.localhost")
    port = free_port()
    wasmtime = servers.start([bins.wasmtime, "serve", "-S", "cli", "--max-instance-reuse-count", "1000000",
                              *SAME_ENV, "--addr", f"127.0.0.1:{port}", bins.hello])
    wasmtime_url = f"http://127.0.0.1:{port}/"
    wait_http(wasmtime_url)
    hyper_port = free_port()
    hyper = servers.start([bins.hyper, f"127.0.0.1:{hyper_port}"])
    hyper_url = f"http://127.0.0.1:{hyper_port}/"
    wait_http(hyper_url)
    targets = [
        ("kumo", "Kumo: router → web dyno", kumo.pid, kumo.router_url(), "bench.localhost", ()),
        ("direct", "Kumo: direct listener", kumo.pid, direct, "bench.localhost", ()),
        ("wasmtime", "wasmtime serve, reuse", wasmtime.pid, wasmtime_url, None, ()),
        ("wasmtime-fwd", "wasmtime serve, reuse, + router's headers", wasmtime.pid, wasmtime_url, None, FORWARDED),
        ("hyper", "bare hyper", hyper.pid, hyper_url, None, ()),
    ]
    results = {name: profile(ctx, name, pid, url, host, headers) for name, _, pid, url, host, headers in targets}
    servers.stop_all()

    names = [name for name, *_ in targets]
    rows = [[bucket] + [f"{results[n]['per'][bucket]:.2f}" for n in names] for bucket in BUCKETS]
    total = {n: sum(results[n]["per"].values()) for n in names}
    kernel = {n: sum(results[n]["per"][b] for b in KERNEL) for n in names}
    shared = {n: sum(results[n]["per"][b] for b in SHARED) for n in names}
    rows += [["**kernel, all**"] + [f"{kernel[n]:.2f}" for n in names],
             ["**server, all**"] + [f"**{total[n]:.2f}**" for n in names],
             ["wrk (the client), from /proc"] + [f"{results[n]['client']:.2f}" for n in names],
             ["req/s during the sample"] + [f"{results[n]['rps']:.0f}" for n in names],
             ["samples"] + [str(results[n]["samples"]) for n in names]]
    w, k = total["wasmtime"], shared["kumo"]
    # The least CPU wrk ever spends on a request is what it spends against bare hyper.
    least_client = results["hyper"]["client"]
    w_all = w + results["wasmtime"]["client"]
    ceiling = w_all / (k + least_client)
    hyper_all = total["hyper"] + least_client
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("cpu"), f"; {max(ctx.duration, 3)} s of samples per server"),
        "",
        f"Servers as in section 1 (Kumo: `{kumo.command}`; wasmtime serve with instance reuse; bare hyper), the",
        f"Rust hello app. Load: `{wrk_command(CONCURRENCY, max(ctx.duration, 3) + 2, host='bench.localhost')}`; one second in,",
        f"`perf record -e cpu-clock -F {FREQUENCY} -g -p PID` samples the server's threads for the next "
        f"{max(ctx.duration, 3)} s. Each sample is 1/{FREQUENCY} s",
        "of one thread's CPU, user or kernel, and goes to one bucket: a kernel sample by the system call it",
        "serves (the first user frame of its call chain) or by scheduling when a context switch or wake-up",
        "interrupt is on it; a user sample by its function's crate; code wasmtime compiled (no symbol) is the guest's.",
        "On loopback the server's send also runs the client's TCP receive and wakes it, so that bucket is the",
        "biggest for every server. Figures are µs of CPU per request (samples ÷ requests served meanwhile).",
        "",
        report.table(["bucket (µs of CPU per request)"] + [label for _, label, *_ in targets], rows),
        "",
        f"What any host of this component pays (the kernel's work, the guest's own code, wasmtime's component",
        f"runtime and the WASI host functions) came to {k:.1f} µs a request in Kumo's router path. wrk runs on the",
        f"same two cores, so req/s follow the server's CPU per request plus wrk's: {w:.1f} + "
        f"{results['wasmtime']['client']:.1f} = {w_all:.1f} µs for wasmtime serve.",
        f"Were Kumo's own code, hyper, tokio and the allocator free, and wrk as cheap as it is against bare hyper",
        f"({least_client:.1f} µs), a request through Kumo would still take {k:.1f} + {least_client:.1f} = "
        f"{k + least_client:.1f} µs: the ceiling is {ceiling:.2f}× wasmtime serve's req/s on this machine.",
        f"Against bare hyper ({total['hyper']:.1f} + {least_client:.1f} = {hyper_all:.1f} µs a request), half its req/s "
        f"needs a whole request in {2 * hyper_all:.1f} µs, wrk included, against those same {k + least_client:.1f} µs: "
        f"the ceiling is {50 * hyper_all / (k + least_client):.0f}% of bare hyper.",
    ]
    return "\n".join(lines)
