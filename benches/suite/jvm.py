"""Part 14: Java. `examples/java-httpserver` (the JDK's HttpServer), built by Kumo's
Java buildpack, against the JavaScript hello app on the same server (wrk c=16,
rounds taking turns, medians); wakes of eco Java and Clojure apps from sleep
(asleep → first byte); a compute loop (the sum of 10M ints) in the guest against HotSpot
`-Xint` on the same class; and the server's memory per idle Java web dyno."""

import re
import statistics
import subprocess
import time

from . import report
from .load import first_byte, percentile, wrk, wrk_command
from .servers import Kumo, wait_http
from .toolchain import ROOT
from .wake import wait_asleep

TITLE = "14. Java: the JDK HttpServer app vs the JavaScript hello, wakes, a compute loop, memory"
EXAMPLE = ROOT / "examples/java-httpserver"
CLOJURE = ROOT / "examples/clojure-ring"
CONNECTIONS = 16
ROUNDS = 3
LOOP_N = 10_000_000
WAKES = 20
CLOJURE_WAKES = 10
EXTRA_DYNOS = 5
JDK = "/usr/lib/jvm/temurin-25-jdk-amd64"


def hotspot_xint():
    """The loop under HotSpot's interpreter (`java -Xint`), on classes compiled here."""
    out_dir = ROOT / "target/bench-java-classes"
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(str(p) for p in (EXAMPLE / "src").rglob("*.java"))
    subprocess.run([f"{JDK}/bin/javac", "--release", "17", "-d", out_dir, *sources], check=True)
    times = []
    for _ in range(3):
        out = subprocess.run([f"{JDK}/bin/java", "-Xint", "-cp", out_dir, "com.example.Sum", str(LOOP_N)],
                             capture_output=True, text=True, check=True, timeout=300).stdout
        times.append(float(re.search(r" in (\d+) ms", out).group(1)))
    return statistics.median(times)


def guest_loop(kumo, host):
    """The loop in the Java guest through the router (after one warm-up call)."""
    times = []
    for attempt in range(4):
        _, status, body = first_byte(kumo.router_port, host, f"/sum?n={LOOP_N}", timeout=120)
        if status != 200:
            raise SystemExit(f"jvm: /sum answered {status}: {body[:200]}")
        if attempt:
            times.append(float(re.search(r" in (\d+) ms", body).group(1)))
    return statistics.median(times)


def idle_dyno_memory(kumo):
    """The server's resident memory added per idle Java web dyno beyond the first:
    scales to 1 + EXTRA_DYNOS dynos and sends GETs one at a time until each new
    dyno's instance has answered (a new instance's first answer says `(request 1)`),
    then waits for the memory to settle. Returns (MiB per dyno, before, after)."""
    before, _ = kumo.memory()
    kumo.formation("java-hello", "web", quantity=1 + EXTRA_DYNOS)
    fresh = 0
    for _ in range(600):
        _, status, body = first_byte(kumo.router_port, "java-hello.localhost", timeout=120)
        if status == 200 and "(request 1)" in body:
            fresh += 1
            if fresh == EXTRA_DYNOS:
                break
    if fresh < EXTRA_DYNOS:
        raise SystemExit(f"jvm: only {fresh} of {EXTRA_DYNOS} new Java dynos answered")
    time.sleep(3)
    after, _ = kumo.memory()
    kumo.formation("java-hello", "web", quantity=1)
    return (after - before) / EXTRA_DYNOS, before, after


def wake_times(sleeper, app, count):
    """Wakes of `app` from sleep, asleep → first byte on a fresh connection: the
    times (ms) of those answered 200, and the failures."""
    wakes, failures = [], []
    for _ in range(count):
        if not wait_asleep(sleeper, app):
            failures.append("never went to sleep")
            continue
        elapsed, status, _ = first_byte(sleeper.router_port, f"{app}.localhost", timeout=120)
        (wakes if status == 200 else failures).append(elapsed if status == 200 else f"{status}")
    return wakes, failures


def run(ctx):
    kumo = Kumo(ctx.bins, ctx.servers, ctx.tmp / "jvm")
    kumo.cli("apps:create", "java-hello")
    started = time.time()
    kumo.cli("deploy", "-a", "java-hello", EXAMPLE)
    build_s = time.time() - started
    rss_before, _ = kumo.memory()
    wait_http(kumo.router_url(), host="java-hello.localhost", expect="Hello from Java", timeout=600)
    rss_one, _ = kumo.memory()
    kumo.deploy_archive("js-hello", ctx.hello.archive("js"))
    wait_http(kumo.router_url(), host="js-hello.localhost", timeout=300)
    runs = {"java": [], "js": []}
    rounds = 1 if ctx.quick else ROUNDS
    for round_ in range(rounds):
        order = ["java", "js"] if round_ % 2 == 0 else ["js", "java"]
        for lang in order:
            r = wrk(kumo.router_url(), CONNECTIONS, ctx.duration, f"{lang}-hello.localhost")
            runs[lang].append(r)
            print(f"jvm {lang:5} round {round_ + 1}: {r['rps']:>8.0f} req/s p50 {r['p50']:.3f} p99 {r['p99']:.3f} ms "
                  f"non-2xx {r['non2xx']}", flush=True)
    rss_warm, _ = kumo.memory()
    per_dyno, rss_scale_before, rss_scaled = idle_dyno_memory(kumo)
    print(f"jvm memory: {rss_scale_before:.0f} -> {rss_scaled:.0f} MiB with {EXTRA_DYNOS} more dynos: "
          f"{per_dyno:.1f} MiB each", flush=True)
    loop_guest = guest_loop(kumo, "java-hello.localhost")
    kumo.stop()
    loop_hotspot = hotspot_xint()

    sleeper = Kumo(ctx.bins, ctx.servers, ctx.tmp / "jvm-wake", flags=["--sleep-after", "200ms"])
    sleeper.cli("apps:create", "java-sleeper")
    sleeper.formation("java-sleeper", "web", quantity=1, size="eco")
    sleeper.cli("deploy", "-a", "java-sleeper", EXAMPLE)
    wait_http(sleeper.router_url(), host="java-sleeper.localhost", expect="Hello from Java", timeout=600)
    wakes, failures = wake_times(sleeper, "java-sleeper", 5 if ctx.quick else WAKES)
    sleeper.cli("apps:create", "clj-sleeper")
    sleeper.formation("clj-sleeper", "web", quantity=1, size="eco")
    sleeper.cli("deploy", "-a", "clj-sleeper", CLOJURE)
    wait_http(sleeper.router_url(), host="clj-sleeper.localhost", expect="Hello from Clojure", timeout=600)
    clj_wakes, clj_failures = wake_times(sleeper, "clj-sleeper", 3 if ctx.quick else CLOJURE_WAKES)
    sleeper.stop()

    def med(lang, key):
        return statistics.median(r[key] for r in runs[lang])

    java_rps, js_rps = med("java", "rps"), med("js", "rps")
    rows = [[lang, len(runs[lang]), f"{med(lang, 'rps'):.0f}", report.ms(med(lang, "p50")),
             report.ms(med(lang, "p99")), sum(r["non2xx"] for r in runs[lang])] for lang in ("java", "js")]
    wake_p50, wake_p99 = percentile(wakes, 50), percentile(wakes, 99)
    clj_p99 = percentile(clj_wakes, 99)
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("jvm"), f"; {rounds} round(s) of {ctx.duration} s per app, medians"),
        "",
        f"Apps: `kumo deploy examples/java-httpserver` (Java buildpack: javac, Kumo's JVM runtime, the jlinked class "
        f"library; build {build_s:.0f} s on this server, the runtime already compiled on this machine) and the "
        f"JavaScript hello of section 7 (`benches/apps/js-hello`), one standard-1X web dyno each, WEB_CONCURRENCY=2. "
        f"Load: `{wrk_command(CONNECTIONS, ctx.duration, host='LANG-hello.localhost')}`.",
        "",
        report.table(["app", "runs", "req/s", "p50 ms", "p99 ms", "non-2xx"], rows),
        "",
        f"Wakes: an eco Java app on `kumo server --sleep-after 200ms`, asleep → first byte on a fresh connection, "
        f"{len(wakes)} wakes (failures: {len(failures)}): p50 {wake_p50:.0f} ms, p99 {wake_p99:.0f} ms. "
        "A wake instantiates the build's snapshot (the JVM booted, Kumo's bridge classes initialised) and runs the "
        "app's `main` in it. "
        f"The Clojure example (`examples/clojure-ring`, eco, same server): {len(clj_wakes)} wakes (failures: "
        f"{len(clj_failures)}): p50 {percentile(clj_wakes, 50):.0f} ms, p99 {percentile(clj_wakes, 99):.0f} ms.",
        "",
        f"Compute loop (`com.example.Sum`, sum of {LOOP_N:,} ints as longs): {loop_guest:.0f} ms in the guest (`GET "
        f"/sum`, median of 3 after a warm-up) vs {loop_hotspot:.0f} ms under `{JDK}/bin/java -Xint` (median of 3): "
        f"{loop_guest / loop_hotspot:.1f}×.",
        "",
        f"Server memory: VmRSS {rss_before:.0f} MiB after the deploy, {rss_one:.0f} MiB once the Java dyno answered "
        f"(one instance), {rss_warm:.0f} MiB after the load (the Java dyno's instances and the JavaScript dyno warm). "
        "Each Java instance starts from the snapshot's memory (the class library image and the booted VM), "
        "mapped copy-on-write from the compiled component. "
        f"Scaled to {1 + EXTRA_DYNOS} web dynos, each new one answering once (one idle instance each): "
        f"VmRSS {rss_scale_before:.0f} → {rss_scaled:.0f} MiB, {per_dyno:.1f} MiB per idle dyno.",
        "",
        report.goal(f"Java hello ≥ the JavaScript hello's req/s (c={CONNECTIONS})", f"{java_rps:.0f} vs {js_rps:.0f} "
                    "req/s", java_rps >= js_rps, f"{java_rps / js_rps:.2f}×"),
        report.goal("Java hello p50 ≤ 5 ms (c=16)", f"{med('java', 'p50'):.3f} ms", med("java", "p50") <= 5,
                    f"{med('java', 'p50') / 5:.2f}× the budget"),
        report.goal("Java wake p99 ≤ 50 ms", f"{wake_p99:.0f} ms", wake_p99 <= 50, f"{wake_p99 / 50:.2f}× the budget"),
        report.goal("Clojure wake p99 ≤ 100 ms", f"{clj_p99:.0f} ms", clj_p99 <= 100,
                    f"{clj_p99 / 100:.2f}× the budget"),
        report.goal("memory per idle Java web dyno ≤ 64 MB resident beyond the shared snapshot",
                    f"{per_dyno:.1f} MiB", per_dyno <= 64, f"{per_dyno / 64:.2f}× the budget"),
        report.goal("compute loop within 15× of HotSpot -Xint", f"{loop_guest:.0f} vs {loop_hotspot:.0f} ms",
                    loop_guest <= 15 * loop_hotspot, f"{loop_guest / loop_hotspot:.1f}×"),
    ]
    return "\n".join(lines)
