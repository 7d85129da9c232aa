"""What bounds each goal the measurements miss, from the profiles behind them:
report.goal prints the matching entry as the goal's `bound:` line. Keys are the
start of the goal's text. The figures quoted come from the sections named."""

_THROUGHPUT = (
    "the work every host of this component does, which Kumo cannot make cheaper. Section 9 samples each "
    "server's CPU under the same load, the kernel included, and splits it: on loopback a request costs the "
    "kernel about a third of a Wasm server's CPU (the send alone runs the client's TCP receive and wakes it), "
    "the guest's own machine code and wasmtime's component runtime (lifting and lowering every header and "
    "body, resource tables, the fiber) most of the rest, and wrk, on the same two cores, takes more per "
    "request still. Were Kumo's own code, hyper, tokio and the allocator free, that shared work alone caps "
    "Kumo at the ceiling section 9 computes from its samples, below 1.5× wasmtime serve's req/s. Kumo's own "
    "code is the smaller part (section 9's row for it; hyper, tokio and the allocator are the libraries "
    "wasmtime serve uses too): section 1's lines above set its direct listener (the same dyno without the "
    "router's duties) and, like for like, its router against wasmtime serve sent the same request, and "
    "section 9 the CPU each spends per request. Most "
    "of what the router costs is the guest and wasmtime taking in the six forwarding headers Heroku's router "
    "adds (section 8: about 25k of the router's 47k added instructions are the guest's). Dropping those "
    "headers would break apps that read them; a cheaper component ABI or a guest binding that does not copy "
    "every header would lower the shared part for every host alike"
)

_HYPER = (
    "the guest and the kernel. Bare hyper answers from compiled Rust: section 9 has its whole request, "
    "server and wrk, in about a third of what the kernel, the guest's code and wasmtime's component "
    "runtime alone cost a Kumo request, so half its req/s is out of reach for any host that runs the "
    "request in a Wasm component (section 9 computes the ceiling from its samples)"
)

_KV_GET = (
    "the handoff to sqlx's SQLite worker thread, not SQLite or the component call. sqlx runs each SQLite "
    "connection's statements on a thread of its own: every get sends its statement there over a channel and "
    "waits for the row to come back, a cross-thread wake-up (futex, context switch) each way. Section 12's perf "
    "split puts about two thirds of Kumo's CPU per get in the kernel scheduling those wake-ups (60 of 93 µs under "
    "sampling in the run of 2026-12-06 08:33), SQLite's lookup at 2 µs, sqlx's own code at 1.5 µs, and the guest, "
    "wasmtime's component call and Kumo's add-on host 3 µs together. On two cores shared with the client "
    "and other work, a wake-up that finds both cores busy waits for one, which is what moves the p50 from run to "
    "run (30–49 µs in single rounds of the runs of 2026-12-06). Reading on the calling thread (a SQLite connection used "
    "under `block_in_place`, or a read cache per namespace) would remove both hops"
)

_KV_REDIS = (
    "the round trip on the server's runtime, not the component call. The redis crate's multiplexed connection "
    "hands each command to its driver task and the guest's call waits for that task's wake-up with the reply; "
    "section 12's perf split has about 21 µs of Kumo's CPU per call, most of it the kernel's loopback send and "
    "receive and scheduling (the guest, wasmtime, Kumo's add-on host and the redis crate under 2 µs together), "
    "against about 15 µs of redis-benchmark's own. When other work holds both cores, each wake-up waits for one"
)

_PG = (
    "the connection's task on the multi-threaded runtime and the two round trips of each query. Kumo's host, "
    "like tokio-postgres's own `query(&str)`, prepares the statement and then runs it (two round trips to "
    "Postgres), and runs the connection as its own task, so a round trip can wake a task on the other thread. "
    "The native peer on the same kind of runtime pays the same (section 12: the guest at 0.67× of it), one on a "
    "current-thread runtime does not (section 12's third Postgres row: the guest 1.08× of it). Under perf a guest's "
    "call spends about 83 µs of Kumo's CPU: 37 µs the kernel's loopback send and receive to Postgres, 17 µs "
    "scheduling, wasmtime's component runtime 4 µs, tokio-postgres 3 µs; Postgres's backend spends about 72 µs "
    "more. A statement cache per connection would halve the round trips"
)

BOUNDS = {
    "key-value get from a Rust guest": _KV_GET,
    "guest loop of key-value gets and sets on Redis": _KV_REDIS,
    "Postgres `SELECT 1` from a guest": _PG,
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
        "CPU: the steady load, the waker's own API calls and the folder work of about a hundred apps a second "
        "going to sleep and waking share two cores with wrk and the Python client, so a wake that arrives while "
        "they hold both cores waits for one; the section's saturating run shows the same wakes behind a load "
        "that takes every core, and the wake section the same wakes on an idle server"
    ),
    "JavaScript (componentize-js) hello": (
        "Kumo must give each JavaScript request a fresh instance (componentize-js keeps per-request state: "
        "with reuse, wasmtime serve answers every request after the first with a 500), and makes it after "
        "the response; the cost is StarlingMonkey's instantiation, which both servers pay. Kumo runs "
        "WEB_CONCURRENCY=2 of them at once per standard-1X dyno where wasmtime serve runs one per request"
    ),
    "Rust (wstd) hello": (
        "the router's duties, which wasmtime serve does not have. Reached without them (the direct listener, "
        "section 1's last column), the same dyno serves about as many requests as wasmtime serve or more "
        "(0.98×–1.14× at c=64 in the full runs at revisions a5e0bc2 and 2540984) and spends less CPU on each "
        "(section 9). Through the router a request takes about 47k more instructions (section 8): about 31k "
        "are the guest, wasmtime and wasmtime-wasi-http taking in the six forwarding headers Heroku's router "
        "adds, which any host sending them pays (section 1's \"+ router's headers\" row is wasmtime serve sent "
        "the same request), and about 16k the router's own checks, header rewriting, timers and log line "
        "(hyper, std, the allocator and Kumo). Dropping the headers would break apps that read them"
    ),
    "Python (componentize-py) hello": (
        "not a Kumo cost this suite has isolated for Python. Both servers run the same componentize-py "
        "component with warm instances, and CPython running the handler is most of a request; what Kumo's "
        "request adds is the router's work and the six forwarding headers it hands the guest, which CPython "
        "copies into Python objects (section 8 shows the same for the Rust guest). The ratio moves with the "
        "machine's load from run to run with no change to this path: 1.13× (met) in the full run at revision "
        "a5e0bc2, under 1× here"
    ),
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

BOUNDS["PHP hello p50 ≤ 5 ms"] = (
    "queueing, not the request: at c=16, p50 ≈ 16 / req/s (Little's law), and the req/s are bound by CPU, the "
    "two cores shared with wrk. One connection alone gets p50 0.95 ms (`wrk -t1 -c1`, 1,000 req/s, release build, "
    "2026-12-06 17:05); 16 got 1,270–1,450 req/s in the same profiling session (1,636 in the rounds above), so about 1.4 ms of the machine per request. A `perf record -e "
    "cpu-clock -g` of the server under c=16 (2026-12-06 17:05, 7,161 samples) splits its CPU: 47% in the kernel, a "
    "third of all of it scheduling (futex wake-ups and waits as each request crosses from the router's task to a CGI "
    "worker on another tokio thread and back, eventfd writes), 31% in the guest's machine code (PHP's request "
    "start-up and shutdown around a one-line script, from the Wizer snapshot), 17% in Kumo and wasmtime "
    "(instantiating the component, the WASI host; 2% resetting the instance's memory, `pagemap_scan`). Meeting 5 ms "
    "at c=16 needs about 3,200 req/s, 0.6 ms per request in all: running the CGI command on the task that took the "
    "request (no cross-thread hand-off) and an instance pool that keeps PHP's per-request arenas would be the levers"
)

_JVM_INTERPRETER = (
    "the guest's interpreter. A `perf record -e cpu-clock -g` of the server under c=16 (2026-12-06 17:13, release "
    "build, 9,766 samples) puts 91% of its CPU in the guest's machine code, 5.5% in the kernel and 3.5% in Kumo and "
    "wasmtime together: ristretto interprets every bytecode of the request (Kumo's bridge, the HttpServer API "
    "shims, the app's handler, and the String, Charset and HashMap code of the class library under them), with no "
    "JIT inside Wasm. One connection alone gets p50 2.53 ms (`wrk -t1 -c1`, 392 req/s), and 16 on the two cores "
    "742 req/s, so the p50 at c=16 is queueing, 16 / 742 ≈ 21 ms (Little's law). The JavaScript hello's "
    "StarlingMonkey runs a shorter path per request. Fewer bytecodes per request in the bridge (headers built "
    "only when asked for) and a faster interpreter loop in ristretto are the levers"
)
BOUNDS["Clojure wake p99 ≤ 100 ms"] = (
    "loading the app's namespaces and its libraries' on the interpreter. A wake instantiates the snapshot (the "
    "JVM booted, Clojure's runtime and `kumo.Ring` initialised) and then `require`s the handler's namespace: by "
    "hand (2026-12-07, debug server, idle machine) a restarted dyno's first request took 3.3–3.5 s and the next "
    "10 ms; a one-off timing each `require` put ~4 s (on a busy machine) in `clojure.data.json`, which loads "
    "`clojure.pprint`, and 0.7 s in the app's own `hello.core`. Loading the library namespaces the app's "
    "compilation loaded into the snapshot too (tried: `clojure.data.json`, `clojure.pprint`, "
    "`clojure.core.specs.alpha`) cut the first request to 1.1 s but grew every instance from 249 to 445 MB of "
    "a 512 MB dyno's memory (ristretto's loaded classes are large), so it was not kept. The app's own namespaces "
    "cannot go into a build-time snapshot (their top-level forms may read config vars); a snapshot taken at "
    "release time, with the config, is the lever"
)
BOUNDS["memory per idle Java web dyno"] = (
    "the pages each instance writes in the snapshot's memory. An instance maps the snapshot copy-on-write; "
    "running the app's `main` and a request writes into the VM's class and heap structures spread over it, and "
    "every page written becomes the instance's own"
)
BOUNDS["Java hello ≥ the JavaScript hello's req/s"] = _JVM_INTERPRETER
BOUNDS["Java hello p50 ≤ 5 ms"] = _JVM_INTERPRETER
BOUNDS["Java wake p99 ≤ 50 ms"] = (
    "the app's own `main`, interpreted. A wake's log (2026-12-06 17:16, release build) has the dyno up 0.1 ms "
    "after the request arrives, the app's `listening on port` line 117 ms later and the response 22 ms after "
    "that; a perf profile over 8 wakes puts 56% of the server's CPU in the guest's code and 17% in copying the "
    "140 MB app folder (java.wasm's snapshot and the class library) for the next dyno, which is off the request's "
    "path. The snapshot has the VM booted and Kumo's bridge loaded; what it cannot hold is the app's `main` (its "
    "static initialisers may read config vars): loading the app's classes and bootstrapping each of its lambda, "
    "method-reference and string-concatenation call sites, each of which the JDK's LambdaMetafactory and "
    "StringConcatFactory answer by spinning a class, interpreted. Warming that machinery in the snapshot "
    "(`kumo.Launch.warmJdk`) gave 149–186 ms against 173–239 ms in 8 wakes by hand, but this section's 20 moved only from p50 163 / p99 202 ms to 158 / 213 ms, within their noise: the app's own call sites are most of it. Running the app's `main` at build "
    "time (opt-in, for apps whose start-up reads no config) would take the rest"
)
