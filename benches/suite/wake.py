"""Part 3: wake from sleep. A server with a short `--sleep-after`; one eco app per
language. For each wake: wait until `GET /apps/{app}/dynos` lists the web dyno
as `idle` (asleep), then time one request on a fresh connection from before
connect to the first byte of the response."""

import time

from . import report
from .apps import LABELS, LANGUAGES
from .load import first_byte, percentile
from .servers import Kumo, wait_http

TITLE = "3. Wake from sleep: asleep → first byte of the first request"
SLEEP_AFTER = "200ms"
GOALS_MS = {"rust": 5, "js": 25, "python": 25}


def wait_asleep(kumo, app, timeout=30):
    """Polls the dyno list until every web dyno is `idle`; returns whether it got there."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        web = [d for d in kumo.dynos(app) if d["type"] == "web"]
        if web and all(d["state"] == "idle" for d in web):
            return True
        time.sleep(0.02)
    return False


def measure(kumo, app, wakes, budget):
    """Times up to `wakes` wakes of `app` within `budget` seconds; returns (times, failures)."""
    times, failures = [], []
    deadline = time.time() + budget
    while len(times) + len(failures) < wakes and time.time() < deadline:
        if not wait_asleep(kumo, app):
            failures.append("never went to sleep")
            continue
        elapsed, status, body = first_byte(kumo.router_port, f"{app}.localhost")
        if status == 200:
            times.append(elapsed)
        else:
            failures.append(f"{status}: {body.strip()[:80]}")
    return times, failures


def run(ctx):
    wakes = 20 if ctx.quick else ctx.args.wakes
    kumo = Kumo(ctx.bins, ctx.servers, ctx.tmp / "wake", flags=["--sleep-after", SLEEP_AFTER])
    results = {}
    for lang in LANGUAGES:
        app = f"{lang}-sleeper"
        kumo.deploy_archive(app, ctx.hello.archive(lang), size="eco")
        wait_http(kumo.router_url(), host=f"{app}.localhost", timeout=300)
    for lang in LANGUAGES:
        app = f"{lang}-sleeper"
        times, failures = measure(kumo, app, wakes, budget=120 if ctx.quick else 900)
        results[lang] = (times, failures)
        print(f"wake {lang:7} n={len(times)} p50 {percentile(times, 50):.2f} ms p99 {percentile(times, 99):.2f} ms"
              f" failures {len(failures)}", flush=True)
    rss, hwm = kumo.memory()
    kumo.stop()

    rows, goals = [], []
    for lang in LANGUAGES:
        times, failures = results[lang]
        p50, p99 = percentile(times, 50), percentile(times, 99)
        rows.append([LABELS[lang], len(times), report.ms(p50), report.ms(p99),
                     report.ms(max(times) if times else None),
                     (f"{len(failures)}: " + "; ".join(sorted(set(failures))[:3])) if failures else 0])
        goal_ms = GOALS_MS[lang]
        goals.append(report.goal(f"wake p99 ≤ {goal_ms} ms, {LABELS[lang]}", f"{report.ms(p99)} ms",
                                 bool(times) and p99 <= goal_ms, f"{p99 / goal_ms:.2f}× the budget"))
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("wake"), f"; {wakes} wakes per app"),
        "",
        f"Server: `{kumo.command}`. Apps: the hello slugs of part 7, each with `web=1:eco` set through",
        "`PATCH /apps/{app}/formation` before its release (only eco web dynos sleep). Each wake: poll",
        "`GET /apps/{app}/dynos` every 20 ms until the web dyno is `idle`, then open a connection to the",
        "router, send `GET /` and time from before connect to the first response byte (Python sockets,",
        f"TCP_NODELAY). The server's memory at the end: VmRSS {rss:.0f} MiB, VmHWM {hwm:.0f} MiB.",
        "",
        report.table(["app", "wakes", "p50 ms", "p99 ms", "max ms", "failed wakes"], rows),
        "",
        *goals,
    ]
    return "\n".join(lines)
