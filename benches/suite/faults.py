"""Part 10: guest faults. One server with short limits (a 2 s request deadline,
a 64 MiB disk quota); the Rust hello app as the neighbour under wrk c=16, first
alone, then while a Python client keeps hitting an app that loops forever,
traps, recurses without bound, allocates without bound, fills its /tmp, floods
stdout or never reads its request body (the real test guests of
tests/components), then all of them at once. Baseline and fault runs alternate,
round after round, and the figures are medians, so background load on the
shared machine hits both alike."""

import http.client
import os
import re
import socket
import statistics
import threading
import time
from collections import Counter
from datetime import datetime

from . import report
from .load import wrk, wrk_command
from .servers import Kumo, wait_http
from .throughput import deploy_hello

TITLE = "11. Guest faults: a neighbour's latency while other apps misbehave"
GOAL = 2.0
CONNECTIONS = 16
CLIENT_THREADS = 4
DEADLINE_S = 2
DISK_QUOTA_MB = 64
NEIGHBOUR = "neighbour"
# Per fault: (key, guest, method, path, what the guest does, what Kumo does).
FAULTS = [
    ("spin", "spin", "GET", "/loop", "loops forever",
     "stops it at the request deadline: H12, the instance replaced"),
    ("spin2", "spin", "GET", "/loop",
     "loops forever, at WEB_CONCURRENCY=2 (standard-1X's default): two requests at once",
     "stops each at the request deadline: H12, the instance replaced"),
    ("trap", "trap", "GET", "/panic", "traps (a Rust panic)",
     "H13, `Process crashed`, the instance replaced"),
    ("recurse", "hostile", "GET", "/recurse", "recurses without bound",
     "wasm stack exhausted → trap: H13, the instance replaced"),
    ("alloc", "alloc", "GET", "/grow", "allocates without bound (16 MiB steps, every page touched)",
     "refuses growth past the dyno's 512 MB: R15, H13 (H12 if the deadline comes first), the instance replaced"),
    ("disk", "hostile", "GET", f"/fill-disk?mb={4 * DISK_QUOTA_MB}", f"writes {4 * DISK_QUOTA_MB} MiB to /tmp",
     f"past the {DISK_QUOTA_MB} MiB quota (measured every 500 ms) the dyno is killed (`Disk quota exceeded`, "
     "H13) and restarted with fresh files"),
    ("stdout", "hostile", "GET", "/flood-stdout?lines=100000", "prints 100,000 lines to stdout",
     "cuts its output to 1,000 lines/s: L10 (H12 if the deadline comes first)"),
    ("body", "hostile", "POST", "/ignore-body", "never reads its request body (the client pushes up to 8 MiB "
     "of a 1 GiB body)", "H12 at the deadline; the body waits in the client"),
]
CONTROL = ("control", "hello", "GET", "/", "answers (the Rust hello app: a well-behaved app under the same client)",
           "nothing to do")
KINDS = [CONTROL[0]] + [f[0] for f in FAULTS] + ["all"]
# WEB_CONCURRENCY of each faulting app: 1, as the tests run them, but for `spin2`.
WEB_CONCURRENCY = {"spin2": 2}
LOG_EVENTS = re.compile(r"code=(H\d\d)|Error ([RL]\d\d)|(Disk quota exceeded)|(Process crashed)")
ROUTER_CODE = re.compile(r"<small>kumo (H\d\d)</small>")
BODY_PUSH = 8 << 20  # bytes of an unread body the client pushes at most per request
LOG_LINES = 1500


def app_name(key):
    return f"fault-{key}"


class FaultLoad:
    """CLIENT_THREADS threads hitting one faulting app for `duration` seconds (no new request
    after that; each request has a timeout), counting the answers by status and H-code."""

    def __init__(self, kumo, fault, duration):
        self.kumo, self.duration = kumo, duration
        self.key, _, self.method, self.path = fault[:4]
        self.host = f"{app_name(self.key)}.localhost"
        self.timeout = DEADLINE_S + 5
        self.answers = Counter()
        self.restarts = 0
        self.lock = threading.Lock()
        self.last_restart = 0.0
        self.threads = []

    def start(self):
        end = time.monotonic() + self.duration
        self.threads = [threading.Thread(target=self._loop, args=(end,), daemon=True) for _ in range(CLIENT_THREADS)]
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join(self.duration + self.timeout + 30)

    def _loop(self, end):
        conn = None
        for _ in range(1_000_000):  # bounded in count as well as in time
            if time.monotonic() >= end:
                break
            if self.key == "body":
                answer = self._unread_body()
            else:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.kumo.router_port, timeout=self.timeout)
                try:
                    conn.request(self.method, self.path, headers={"Host": self.host})
                    response = conn.getresponse()
                    body = response.read().decode(errors="replace")
                    code = ROUTER_CODE.search(body)
                    answer = f"{response.status}" + (f" {code.group(1)}" if code else "")
                    if response.will_close:
                        conn.close()
                        conn = None
                except (TimeoutError, socket.timeout):
                    answer = "no answer in time"
                    conn.close()
                    conn = None
                except (http.client.HTTPException, OSError):
                    answer = "connection error"
                    conn.close()
                    conn = None
            with self.lock:
                self.answers[answer] += 1
            if self.key == "disk" and answer == "503 H10":
                self._restart()
        if conn is not None:
            conn.close()

    def _restart(self):
        """The disk app crash-loops into Heroku's 10-minute cooloff (H10) after its second
        kill; restart it (as its owner would) so the quota keeps firing, at most once a second."""
        with self.lock:
            if time.monotonic() - self.last_restart < 1.0:
                return
            self.last_restart = time.monotonic()
            self.restarts += 1
        self.kumo.cli("ps:restart", "-a", app_name(self.key), check=False)

    def _unread_body(self):
        """POSTs a 1 GiB body to a guest that never reads it: pushes until the socket blocks
        (or BODY_PUSH bytes), then waits for the router's answer."""
        try:
            with socket.create_connection(("127.0.0.1", self.kumo.router_port), timeout=self.timeout) as s:
                s.sendall(f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                          f"Content-Length: {1 << 30}\r\n\r\n".encode())
                s.settimeout(0.2)
                chunk, sent = b"x" * 65536, 0
                while sent < BODY_PUSH:
                    try:
                        sent += s.send(chunk)
                    except (TimeoutError, socket.timeout):
                        break
                s.settimeout(self.timeout)
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    data = s.recv(65536)
                    if not data:
                        break
                    head += data
        except (TimeoutError, socket.timeout):
            return "no answer in time"
        except OSError:
            return "connection error"
        text = head.decode(errors="replace")
        if not text.startswith("HTTP/"):
            return "closed without an answer"
        code = ROUTER_CODE.search(text)
        return text.split(" ", 2)[1] + (f" {code.group(1)}" if code else "")


def log_events(kumo, app, since):
    """Counts the H-codes, R/L errors, disk-quota kills and crashes in `app`'s log at or after
    `since` (epoch seconds). Returns (Counter, whether the history had already dropped some)."""
    out = kumo.cli("logs", "-a", app, "-n", LOG_LINES, check=False)
    lines = out.splitlines()
    events, earliest = Counter(), None
    for line in lines:
        stamp, _, rest = line.partition(" ")
        try:
            at = datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            continue
        earliest = at if earliest is None else min(earliest, at)
        if at < since:
            continue
        for m in LOG_EVENTS.finditer(rest):
            h, rl, disk, crash = m.groups()
            events[h or rl or ("disk quota" if disk else "crashed")] += 1
    truncated = len(lines) >= LOG_LINES and earliest is not None and earliest > since
    return events, truncated


def settle(kumo, app, timeout=20):
    """Waits until `app` answers `/` with a 200 again (restarting it once if it sits in its
    crash cooloff); returns whether it did."""
    deadline = time.time() + timeout
    restarted = False
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", kumo.router_port, timeout=DEADLINE_S + 3)
            conn.request("GET", "/", headers={"Host": f"{app}.localhost"})
            response = conn.getresponse()
            body = response.read().decode(errors="replace")
            conn.close()
            if response.status == 200:
                return True
            if "kumo H10" in body and not restarted:
                kumo.cli("ps:restart", "-a", app, check=False)
                restarted = True
        except (http.client.HTTPException, OSError):
            pass
        time.sleep(0.1)
    return False


def deploy_fault(kumo, key, wasm):
    app = app_name(key)
    kumo.cli("apps:create", app)
    kumo.cli("config:set", "-a", app, f"WEB_CONCURRENCY={WEB_CONCURRENCY.get(key, 1)}")
    kumo.cli("deploy", "-a", app, "--wasm", wasm)
    wait_http(kumo.router_url(), host=f"{app}.localhost")


def fmt_counter(counter, truncated=False):
    if not counter:
        return "none"
    text = ", ".join(f"{k} ×{v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
    return ("≥ " if truncated else "") + text


def run(ctx):
    bins = ctx.bins
    missing = [str(path) for path in [bins.hello, *bins.guests.values()] if not path.exists()]
    if missing:
        raise SystemExit(f"faults: {', '.join(missing)} missing: run `scripts/bench faults` without --no-build "
                         "to build the test guests")
    kumo = Kumo(bins, ctx.servers, ctx.tmp / "faults",
                flags=["--request-timeout", f"{DEADLINE_S}s", "--disk-quota-mb", DISK_QUOTA_MB])
    deploy_hello(kumo, NEIGHBOUR, bins.hello)
    guests = dict(bins.guests, hello=bins.hello)
    cases = {CONTROL[0]: CONTROL, **{f[0]: f for f in FAULTS}}
    for key, fault in cases.items():
        deploy_fault(kumo, key, guests[fault[1]])
    rounds = 1 if ctx.quick else 3
    samples = {kind: [] for kind in ["baseline", *KINDS]}
    answers = {key: Counter() for key in cases}
    events = {key: Counter() for key in cases}
    truncated = {key: False for key in cases}
    restarts = 0
    unsettled = []
    url, host = kumo.router_url(), f"{NEIGHBOUR}.localhost"

    def show(kind, r):
        print(f"faults {kind:8} {r['rps']:>8.0f} req/s p50 {r['p50']:.3f} p99 {r['p99']:.3f} ms "
              f"non-2xx {r['non2xx']}", flush=True)

    for _ in range(rounds):
        for kind in KINDS:
            r = wrk(url, CONNECTIONS, ctx.duration, host)
            samples["baseline"].append(r)
            show("baseline", r)
            keys = list(cases) if kind == "all" else [kind]
            if kind == "all":
                keys.remove(CONTROL[0])
            loads = [FaultLoad(kumo, cases[key], ctx.duration) for key in keys]
            since = time.time()
            for load in loads:
                load.start()
            r = wrk(url, CONNECTIONS, ctx.duration, host)
            for load in loads:
                load.join()
            samples[kind].append(r)
            show(kind, r)
            for load in loads:
                answers[load.key].update(load.answers)
                restarts += load.restarts
                print(f"         {load.key}: {fmt_counter(load.answers)}", flush=True)
            for key in keys:
                found, cut = log_events(kumo, app_name(key), since)
                events[key].update(found)
                truncated[key] = truncated[key] or cut
                if not settle(kumo, app_name(key)):
                    unsettled.append(key)
    rss, hwm = kumo.memory()
    kumo.stop()

    def med(kind, key):
        return statistics.median(r[key] for r in samples[kind])

    base_p99 = med("baseline", "p99")
    ratios = {kind: med(kind, "p99") / base_p99 for kind in KINDS}
    labels = {CONTROL[0]: "control: a well-behaved app", "all": f"all {len(FAULTS)} faulting apps at once",
              **{f[0]: f"{f[0]}: {f[4]}" for f in FAULTS}}
    rows = [["none (baseline)", len(samples["baseline"]), f"{med('baseline', 'rps'):.0f}",
             report.ms(med("baseline", "p50")), report.ms(base_p99),
             sum(r["non2xx"] for r in samples["baseline"]), "1.00×"]]
    rows += [[labels[kind], len(samples[kind]), f"{med(kind, 'rps'):.0f}", report.ms(med(kind, "p50")),
              report.ms(med(kind, "p99")), sum(r["non2xx"] for r in samples[kind]), f"{ratios[kind]:.2f}×"]
             for kind in KINDS]
    side = [[f"`{app_name(key)}` ({fault[1]}.wasm, WEB_CONCURRENCY={WEB_CONCURRENCY.get(key, 1)})",
             f"`{fault[2]} {fault[3]}`", fault[5],
             sum(answers[key].values()), fmt_counter(answers[key]), fmt_counter(events[key], truncated[key])]
            for key, fault in cases.items()]
    worst_kind = max((f[0] for f in FAULTS), key=lambda k: ratios[k])
    worst = ratios[worst_kind]
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("faults"), f"; {rounds} round(s) of {ctx.duration} s per run, baseline and fault "
                     "runs alternating, medians"),
        "",
        f"Server: `{kumo.command}` (the hidden `--request-timeout` and `--disk-quota-mb` shorten Heroku's 30 s and "
        "Kumo's 4 GiB so each fault fires many times in a run). Neighbour: `kumo deploy --wasm rust-hello.wasm` "
        f"(app `{NEIGHBOUR}`, standard-1X, WEB_CONCURRENCY=2). Each faulting app: `kumo apps:create fault-KIND`, "
        "`kumo config:set WEB_CONCURRENCY=1` (2 for `spin2`), `kumo deploy --wasm GUEST.wasm` with the test guests of "
        "`tests/components` (package `http-guests`, release build for wasm32-wasip2), one standard-1X web dyno each.",
        f"Load on the neighbour: `{wrk_command(CONNECTIONS, ctx.duration, host=host)}`, first alone (baseline), then "
        f"while {CLIENT_THREADS} Python threads keep sending the faulting request to one app for the same "
        f"{ctx.duration} s (keep-alive, {DEADLINE_S + 5} s timeout per request, no new request after the "
        f"{ctx.duration} s), then with every faulting app hit at once ({CLIENT_THREADS} threads each). Before each "
        f"fault run comes a baseline run; each round goes through the control, the {len(FAULTS)} faults and all at "
        "once. "
        "The control row is the same client hitting a well-behaved app: what the load generator itself takes from "
        f"the neighbour. Everything shares the machine's {os.cpu_count()} cores (wrk, the Python client, the server "
        "and every guest); the machine is "
        "shared with other work, so the figures are noisy.",
        "",
        "The neighbour (medians over the rounds; non-2xx summed):",
        "",
        report.table(["faulting app", "runs", "req/s", "p50 ms", "p99 ms", "non-2xx", "p99 ÷ baseline p99"], rows),
        "",
        "The faulting apps (all rounds, the all-at-once runs included): what the client got, and the codes in "
        f"the app's log (`kumo logs -a APP -n {LOG_LINES}` after each run, lines since the run began; ≥ where the "
        f"{LOG_LINES}-line history had already dropped some, as a stdout flood makes it):",
        "",
        report.table(["app", "request", "what Kumo does", "requests", "answers", "log codes"], side),
        "",
        f"The disk app was restarted {restarts} time(s) with `kumo ps:restart` when it answered H10 (its crash "
        "cooloff after the second kill, Heroku's policy), so its quota kept firing."
        + (f" Not answering 200 again within 20 s after a run: {', '.join(sorted(set(unsettled)))}."
           if unsettled else " After every run each faulting app answered `/` with 200 again."),
        f"Server memory at the end: VmRSS {rss:.0f} MiB, VmHWM {hwm:.0f} MiB.",
        "",
        f"- All {len(FAULTS)} at once: neighbour p99 {report.ms(med('all', 'p99'))} ms, "
        f"{ratios['all']:.2f}× the baseline; "
        f"the control (a well-behaved app under the same client): {ratios[CONTROL[0]]:.2f}×.",
        report.goal(f"neighbour p99 within {GOAL:.0f}× while guests fault (c={CONNECTIONS})",
                    f"worst single fault ({worst_kind}) {report.ms(med(worst_kind, 'p99'))} ms vs "
                    f"{report.ms(base_p99)} ms", worst <= GOAL, f"{worst:.2f}×"),
    ]
    return "\n".join(lines)
