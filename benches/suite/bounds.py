"""What bounds each goal the measurements miss, from the profiles behind them:
report.goal prints the matching entry as the goal's `bound:` line. Keys are the
start of the goal's text. The figures quoted come from the sections named."""

_THROUGHPUT = (
    "the work per request is the guest's and wasmtime's, not the router's. Section 8 counts user-space "
    "instructions per request: Kumo's own code (router, dyno pool, router line) is about 2.5% of Kumo's "
    "total; a third is the guest's own machine code (wstd's executor and its canonical-ABI glue, the same "
    "component wasmtime serve runs) and most of the rest is wasmtime's component runtime (resource tables, "
    "lifting and lowering, fibers) and the std code it inlines. Bare hyper needs about a third of Kumo's "
    "instructions, since it runs no guest. With wrk on the same two cores, perf puts about a third of the "
    "server's samples in the kernel (loopback TCP and wakeups) for both servers. wasmtime serve with "
    "reuse counts more instructions per request than Kumo in section 8 (callgrind counts each byte of a "
    "`rep movs`/`rep stos` copy, which inflates copy-heavy code) yet matches or passes Kumo's req/s; what "
    "makes the difference in wall time was not isolated (raising WEB_CONCURRENCY from 2 to 32, or running "
    "web=2, left Kumo's req/s unchanged). One lead: section 2 shows the router's own work costing 25–30% of "
    "req/s at c=16 against the direct listener on the same dyno, far more than its share of instructions, "
    "so that cost is wall time (system calls, wakeups) rather than computation; the per-request timers "
    "(hyper's header-read timeout, the router's 30 s H12 timeout, beside the dyno's own request deadline) "
    "and the router log line are the candidates, not yet isolated. Passing 1.5× would need a cheaper guest (a leaner wasi:http "
    "binding than wstd) or a cheaper component ABI in wasmtime, neither of which is Kumo's code"
)

BOUNDS = {
    "Kumo ≥ 1.5× `wasmtime serve`": _THROUGHPUT,
    "Kumo ≥ 50% of bare hyper": _THROUGHPUT,
    "wake p99 ≤ 25 ms, JavaScript": (
        "a JavaScript wake instantiates StarlingMonkey (a 13 MB component whose pre-initialised heap is "
        "mapped copy-on-write) and serves its first request on a cold instance, paying for page "
        "faults and the first touches of that heap (as the JavaScript throughput profile shows: most of a fresh "
        "instance's time is kernel page-fault and copy-on-write work). The p99 swings with the machine's load (12–33 ms across "
        "runs on this shared machine)"
    ),
    "wake p99 ≤ 25 ms, Python": (
        "a Python wake instantiates componentize-py's 18 MB component (CPython's pre-initialised heap mapped "
        "copy-on-write) and runs its first request on it; the p99 swings with the machine's load"
    ),
    "woken requests' p99": (
        "the woken requests compete for the same two cores with wrk and the 100 apps under load (the server "
        "is saturated: every core busy), so a wake waits for CPU behind that load; the same wakes on an idle "
        "server are the wake section's figures. Holding wake latency under saturation would need "
        "prioritising wakes over running requests"
    ),
    "JavaScript (componentize-js) hello": (
        "Kumo must give each JavaScript request a fresh instance (componentize-js keeps per-request state: "
        "with reuse, wasmtime serve answers every request after the first with a 500), and makes it after "
        "the response; the cost is StarlingMonkey's instantiation, which both servers pay. Kumo runs "
        "WEB_CONCURRENCY=2 of them at once per standard-1X dyno where wasmtime serve runs one per request"
    ),
    "Rust (wstd) hello": _THROUGHPUT,
    "Python (componentize-py) hello": _THROUGHPUT,
}
