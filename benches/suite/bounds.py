"""What bounds each goal the measurements miss, from the profiles behind them:
report.goal prints the matching entry as the goal's `bound:` line. Keys are the
start of the goal's text. The figures quoted come from the sections named."""

_THROUGHPUT = (
    "Kumo's guest is handed a bigger request than wasmtime serve's: like Heroku's, Kumo's router adds six "
    "forwarding headers (X-Forwarded-For, -Proto, -Port, X-Request-Id, X-Request-Start, Via), and the wstd "
    "guest copies every header into its own memory and parses it into its own header map on each request. "
    "Section 8 counts it: against the direct listener on the same dyno, the router adds about a third to a "
    "request's instructions, and most of that is the guest's own code and wasmtime's lifting and lowering "
    "of those headers; the router's own work (limits, headers, router line, timers) is a few thousand "
    "instructions of it. Sent the same six headers, wasmtime serve with reuse loses about as large a share "
    "of its req/s (section 1's \"+ router's headers\" row), and the like-for-like ratio there is Kumo's "
    "standing on equal work. The rest of a request is the guest and wasmtime's component runtime (section "
    "8); bare hyper runs no guest at all. Passing 1.5× would need a cheaper guest (a wasi:http binding that "
    "does not copy every header on every request) or a cheaper component ABI in wasmtime, neither of which "
    "is Kumo's code; dropping Heroku's headers would break the apps that read them"
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
