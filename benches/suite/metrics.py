"""Part 17: what the metrics cost a request. Kumo runs under valgrind's callgrind
as in part 8 (the same machinery: a warm-up, the counts zeroed, a fixed number of
keep-alive requests to the Rust hello app through the router, a dump), and the
inclusive instructions of `Metrics::request` (the Prometheus families and the
app's minute, counted once per request as it ends) are set against those of the
whole request. Instructions, not time: the share is the same on a busy machine
as on a quiet one."""

import re
import shutil
import subprocess

from . import report
from .profile import CLIENTS, REQUESTS, WARMUP, callgrind, kumo_serving_hello
from .servers import free_port

TITLE = "17. Metrics: what counting a request costs (callgrind)"
GOAL = 0.02
# The functions whose inclusive counts the section reports, in the order shown.
FUNCTIONS = [
    ("kumo_runtime::metrics::Metrics::request", "`Metrics::request`: the Prometheus families and the app's minute"),
    ("kumo_runtime::metrics::minutes::AppMinutes::record", "of which `AppMinutes::record` (the app's minute)"),
    ("kumo_runtime::router::bodies::emit", "`router::bodies::emit`: the metrics and the router line, whole"),
]


def inclusive(dump):
    """{function: inclusive instructions} for FUNCTIONS, and the dump's total."""
    text = subprocess.run(["callgrind_annotate", "--auto=no", "--inclusive=yes", "--threshold=100", str(dump)],
                          capture_output=True, text=True, check=True).stdout
    total = None
    counts = {name: 0 for name, _ in FUNCTIONS}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)", line)
        if not m:
            continue
        ir, what = int(m.group(1).replace(",", "")), m.group(2)
        if "PROGRAM TOTALS" in what:
            total = ir
            continue
        # `file:function [object]`; a function listed twice (two copies of its code) is summed.
        function = what.split(":", 1)[-1].rsplit(" [", 1)[0].strip()
        if function in counts:
            counts[function] += ir
    if total is None:
        raise SystemExit(f"metrics: callgrind_annotate gave no total for {dump}")
    return counts, total


def run(ctx):
    if not shutil.which("valgrind"):
        raise SystemExit("metrics needs valgrind: apt-get install valgrind")
    router = free_port()
    args = kumo_serving_hello(ctx, "metrics", router)
    dump = callgrind(ctx.servers, args, ctx.tmp / "cg-metrics", router, "bench.localhost", ctx.tmp / "cg-metrics.log")
    counts, total = inclusive(dump)
    per = total / REQUESTS
    share = counts[FUNCTIONS[0][0]] / total
    for name, value in counts.items():
        print(f"{name}: {value / REQUESTS:.0f} instructions per request ({100 * value / total:.2f}%)", flush=True)
    rows = [["the whole request (every instruction the server ran)", f"{per:.0f}", "100%"]]
    rows += [[label, f"{counts[name] / REQUESTS:.0f}", f"{100 * counts[name] / total:.2f}%"]
             for name, label in FUNCTIONS]
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("metrics"), f"; {WARMUP} warm-up then {REQUESTS} measured requests"),
        "",
        f"`kumo server` under `valgrind --tool=callgrind --smc-check=all-non-file` serving the Rust hello app",
        f"(`kumo deploy --wasm rust-hello.wasm`) through the router to {CLIENTS} keep-alive clients, counted as",
        "in section 8; `callgrind_annotate --inclusive=yes` gives each function's instructions with those of",
        "everything it calls. The router counts every request it answers once, in `router::bodies::emit`, as",
        "the request ends: `Metrics::request` adds it to the Prometheus families (requests by status class,",
        "H-codes, the response-time histogram) and to the app's current minute (`kumo metrics`). Kernel work",
        "is not counted (the metrics make no system call: the minute comes from the clock through the vDSO).",
        "",
        report.table(["what", "instructions per request", "share of the request"], rows),
        "",
        report.goal(f"the metrics' aggregation at most {GOAL:.0%} of a request's instructions",
                    f"{counts[FUNCTIONS[0][0]] / REQUESTS:.0f} of {per:.0f}", share <= GOAL,
                    f"{100 * share:.2f}%"),
    ]
    return "\n".join(lines)
