"""Part 15: PHP. `benches/apps/php-hello` (one `index.php`, no Procfile) built by
Kumo's PHP buildpack and served through the router (wrk c=16), against the same
script under Debian's native `php-cgi` (php8.2-cgi) started once per request by
16 workers (no HTTP in front, so the native side does less), and against the
Ruby CGI path (`examples/ruby-rack`); plus the PHP build: the first on a machine
(compiling PHP for WASI into a machine cache of its own) and a cached deploy."""

import os
import shutil
import statistics
import subprocess
import threading
import time

from . import report
from .load import percentile, wrk, wrk_command
from .servers import Kumo, wait_http
from .toolchain import ROOT, run as sh

TITLE = "15. PHP: the hello script through the router vs native php-cgi per request, and the Ruby CGI path"
APP = ROOT / "benches/apps/php-hello"
RUBY = ROOT / "examples/ruby-rack"
CONNECTIONS = 16
ROUNDS = 3


def native_php_cgi(duration):
    """`php-cgi` (Debian's) run once per request by CONNECTIONS workers for `duration` seconds:
    requests per second and the p50/p99 of one run, in ms."""
    if not shutil.which("php-cgi"):
        sh("apt-get", "update", "-qq")
        sh("apt-get", "install", "-y", "-qq", "--no-install-recommends", "php8.2-cgi")
    script = str(APP / "index.php")
    env = dict(os.environ, GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD="GET", SCRIPT_FILENAME=script,
               SCRIPT_NAME="/index.php", REQUEST_URI="/", QUERY_STRING="", REDIRECT_STATUS="200",
               SERVER_NAME="php-hello.localhost", SERVER_PORT="80", SERVER_PROTOCOL="HTTP/1.1")
    times, lock = [], threading.Lock()
    deadline = time.monotonic() + duration

    def worker():
        while time.monotonic() < deadline:
            started = time.monotonic()
            out = subprocess.run(["php-cgi"], env=env, capture_output=True, check=True, timeout=30).stdout
            if b"Hello from PHP" not in out:
                raise SystemExit(f"php: native php-cgi answered {out[:200]!r}")
            with lock:
                times.append((time.monotonic() - started) * 1000)

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"rps": len(times) / duration, "p50": percentile(times, 50), "p99": percentile(times, 99)}


def run(ctx):
    # A machine cache of its own, so that the first deploy compiles PHP for WASI as a fresh machine's
    # does (with Debian's packages installed and the sources downloaded already).
    cold_cache = ctx.tmp / "php-machine-cache"
    kumo = Kumo(ctx.bins, ctx.servers, ctx.tmp / "php", flags=["--build-timeout", "3600"],
                env=dict(os.environ, XDG_CACHE_HOME=str(cold_cache)))
    kumo.cli("apps:create", "php-hello")
    started = time.time()
    out = kumo.cli("deploy", "-a", "php-hello", APP)
    first_s = time.time() - started
    compiled_php = "Building PHP for WASI" in out
    # A cached deploy: a changed source, built with PHP already built.
    changed = ctx.tmp / "php-hello-changed"
    shutil.copytree(APP, changed, dirs_exist_ok=True)
    with open(changed / "index.php", "a") as f:
        f.write("// changed\n")
    started = time.time()
    kumo.cli("deploy", "-a", "php-hello", changed)
    cached_s = time.time() - started
    wait_http(kumo.router_url(), host="php-hello.localhost", expect="Hello from PHP", timeout=300)
    kumo.cli("apps:create", "ruby-hello")
    kumo.cli("deploy", "-a", "ruby-hello", RUBY)
    wait_http(kumo.router_url(), host="ruby-hello.localhost", timeout=300)
    runs = {"php": [], "ruby": [], "native": []}
    rounds = 1 if ctx.quick else ROUNDS
    for round_ in range(rounds):
        order = ["php", "ruby", "native"] if round_ % 2 == 0 else ["native", "ruby", "php"]
        for side in order:
            if side == "native":
                r = native_php_cgi(ctx.duration)
                r["non2xx"] = 0
            else:
                r = wrk(kumo.router_url(), CONNECTIONS, ctx.duration, f"{side}-hello.localhost")
            runs[side].append(r)
            print(f"php {side:6} round {round_ + 1}: {r['rps']:>8.0f} req/s p50 {r['p50']:.3f} "
                  f"p99 {r['p99']:.3f} ms non-2xx {r['non2xx']}", flush=True)
    kumo.stop()

    def med(side, key):
        return statistics.median(r[key] for r in runs[side])

    labels = {"php": "Kumo PHP (router → CGI dyno)", "native": "native php-cgi per request (no HTTP)",
              "ruby": "Kumo Ruby (router → CGI dyno)"}
    rows = [[labels[side], len(runs[side]), f"{med(side, 'rps'):.0f}", report.ms(med(side, "p50")),
             report.ms(med(side, "p99")), sum(r["non2xx"] for r in runs[side])] for side in ("php", "native", "ruby")]
    php_rps, php_p50 = med("php", "rps"), med("php", "p50")
    first = (f"{first_s:.0f} s, compiling PHP for WASI in it (`builder/php/build.sh` with Debian's packages "
             "installed and the sources downloaded; a fresh machine adds their install, 1–2 minutes)"
             if compiled_php else f"{first_s:.0f} s (PHP was already built)")
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("php"), f"; {rounds} round(s) of {ctx.duration} s per side, medians"),
        "",
        f"Apps: `kumo deploy benches/apps/php-hello` (no Procfile: the folder is the document root) and "
        f"`kumo deploy examples/ruby-rack`, one standard-1X web dyno each. Load: "
        f"`{wrk_command(CONNECTIONS, ctx.duration, host='LANG-hello.localhost')}`. Native: Debian's `php-cgi` with "
        f"the same script and CGI variables, started once per request by {CONNECTIONS} threads for "
        f"{ctx.duration} s (process start to exit; no HTTP server in front of it).",
        "",
        report.table(["side", "runs", "req/s", "p50 ms", "p99 ms", "non-2xx"], rows),
        "",
        f"Builds: the first deploy {first}; a cached deploy (a changed index.php) {cached_s:.1f} s, the CLI's "
        "upload, the build and the release.",
        "",
        report.goal(f"PHP hello ≥ 500 req/s (c={CONNECTIONS})", f"{php_rps:.0f} req/s", php_rps >= 500,
                    f"{php_rps / 500:.2f}× the goal"),
        report.goal(f"PHP hello p50 ≤ 5 ms (c={CONNECTIONS})", f"{php_p50:.3f} ms", php_p50 <= 5,
                    f"{php_p50 / 5:.2f}× the budget"),
        report.goal("cached PHP deploy ≤ 5 s", f"{cached_s:.1f} s", cached_s <= 5, f"{cached_s / 5:.2f}× the budget"),
        f"Against native php-cgi per request: {php_rps / med('native', 'rps'):.2f}× its req/s; against Kumo's Ruby "
        f"CGI path: {php_rps / med('ruby', 'rps'):.2f}×.",
    ]
    return "\n".join(lines)
