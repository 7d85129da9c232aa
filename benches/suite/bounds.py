"""What bounds each goal the measurements miss, from the profiles behind them:
report.goal prints the matching entry as the goal's `bound:` line. Keys are the
start of the goal's text. The figures quoted come from the sections named."""

_THROUGHPUT = (
    "what Kumo's router does for every request, which wasmtime serve does not do. Section 1 separates it: the "
    "same dyno reached through the direct listener (the router's in-process dispatch without the router's work) "
    "serves 1.1–1.35× wasmtime serve with reuse at every concurrency, and through the router Kumo is at "
    "about 1.05× wasmtime serve sent the same request (the \"+ router's headers\" row). The router costs about a "
    "quarter of the direct listener's req/s: `perf record -e cpu-clock -g` under wrk c=64 (2026-11-25) gives "
    "the router about 10 µs of CPU a request on top of the direct listener's 28–32 µs. Turning the router's "
    "duties off one at a time in a patched build (measured once, not shipped) found no single large cost: "
    "Heroku's limit of 1,000 headers makes hyper allocate and fill a 1,000-entry header array per request "
    "instead of its 100 on the stack; the 30 s header-read timer and the 30 s request timer (H12) each "
    "insert and remove a timer per request; and there are the request id, the six forwarding headers "
    "(X-Forwarded-For, -Proto, -Port, X-Request-Id, X-Request-Start, Via), which the wstd guest copies into "
    "its memory and parses (they cost wasmtime serve 10–15% of its req/s in section 1), and the router log "
    "line. With all of them off, the router served 42k req/s against the direct listener's 47k. Each is "
    "something Heroku's router does and apps or operators rely on. The rest of a request, about 70% of its "
    "instructions (section 8), is the guest and wasmtime's component runtime, which both servers run, so "
    "1.5× would need Kumo's whole request to cost two-thirds of wasmtime serve's while running the same "
    "guest on the same runtime: out of reach without a cheaper component ABI in wasmtime or a guest binding "
    "that does not copy every header"
)

_HYPER = (
    "the guest. Bare hyper answers from compiled Rust with about 8.5 µs of CPU a request on this machine "
    "(measured from /proc/PID/stat under the same wrk load), while any wasi:http host pays for calling a "
    "component: Kumo's direct listener, which skips the router, takes 28–32 µs, and wasmtime serve with "
    "reuse about 31–38 µs. wrk shares the two cores, so req/s follow the server's CPU per request, and 50% "
    "of bare hyper would need a whole Kumo request, router and guest included, in about 17 µs: less than "
    "the guest call alone costs in wasmtime (section 8: most of a request's instructions are the guest and "
    "wasmtime's component runtime; bare hyper runs no guest at all). The router's own share is in the "
    "bound of the goal above"
)

BOUNDS = {
    "Kumo ≥ 1.5× `wasmtime serve`": _THROUGHPUT,
    "Kumo ≥ 50% of bare hyper": _HYPER,
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
    "neighbour p99 within 2× while guests fault": (
        "the router, the neighbour's dyno and every guest share the server's tokio runtime, one worker thread per "
        "core (two here, which wrk and the Python client share too). A guest that computes yields its worker at "
        "each 1 ms epoch tick with tokio's `yield_now`, which lets the worker poll for I/O before the guest runs "
        "again, so the neighbour's requests are picked up within a tick. That fix took `spin2` (two looping "
        "requests at once, standard-1X's default WEB_CONCURRENCY=2) from 63× (0.5 s p99, 97 req/s: with a plain "
        "self-wake and 10 ms ticks, a worker that never ran out of tasks polled for sockets only every 61 polls) "
        "to 2.5× with 2 ms ticks and 1.95× with 1 ms, and all faults at once from 88× to about 10×. What is left is CPU: two looping guests "
        "take both cores' workers for their slices, so each step of a neighbour's request waits for a slice to "
        "end, on a machine whose two cores also run wrk and the client. Keeping a neighbour within 2× of as many "
        "computing guests as there are cores needs the guests off the router's workers (a runtime or threads of "
        "their own, at a lower priority) or a bound on the cores all guests together take; a faster guest or a "
        "shorter deadline would not do it"
    ),
}
