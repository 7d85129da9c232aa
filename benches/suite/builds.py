"""Part 9: build time and first-request latency per language. Each example in
`examples/` is deployed from source with `kumo deploy DIR` on one fresh server:
first cold (the server has never built that language, so the build installs
its tools and fills the app's build cache), then again after a one-line change
to its main source file (tools and cache warm). After each deploy returns, one
request through the router is timed to its first byte: the release is compiled
before it is made, so this is the first request of the new release, not a
compilation."""

import shutil
import socket
import time

from . import report
from .servers import Kumo

TITLE = "10. Builds: cold and cached build time, and the first request after each, per language"
# Example, app name, the file a developer edits, and a comment line in its language.
EXAMPLES = [
    ("rust-hello", "Rust", "src/main.rs", "// edited\n"),
    ("go-hello", "Go", "main.go", "// edited\n"),
    ("python-flask", "Python (Flask from PyPI)", "app.py", "# edited\n"),
    ("js-hono", "JavaScript (Hono from npm)", "app.js", "// edited\n"),
    ("ruby-rack", "Ruby (Rack)", "app.rb", "# edited\n"),
    ("c-hello", "C", "hello.c", "/* edited */\n"),
]


def first_byte(port, host, timeout=120):
    """Seconds from connecting to the router to the first byte of `GET /`'s answer, and its status line."""
    deadline = time.time() + timeout
    while True:
        start = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                head = s.recv(64)
                elapsed = time.perf_counter() - start
                status = head.split(b"\r\n")[0].decode(errors="replace")
                if head and " 5" not in status[:13]:
                    return elapsed, status
        except OSError:
            pass
        if time.time() > deadline:
            raise SystemExit(f"{host} never answered after its deploy")
        time.sleep(0.05)


def deploy(kumo, app, folder):
    start = time.perf_counter()
    out = kumo.cli("deploy", "-a", app, folder)
    if "Released v" not in out:
        raise SystemExit(f"deploying {folder} printed no release: {out}")
    return time.perf_counter() - start


def run(ctx):
    kumo = Kumo(ctx.bins, ctx.servers, ctx.tmp / "builds")
    rows = []
    for example, language, edited, comment in EXAMPLES:
        source = ctx.root / "examples" / example
        folder = ctx.tmp / "builds-src" / example
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns("target", "node_modules", ".git"))
        app = example.replace("_", "-")
        kumo.cli("apps:create", app)
        cold = deploy(kumo, app, folder)
        cold_first, cold_status = first_byte(kumo.router_port, f"{app}.localhost")
        with open(folder / edited, "a") as f:
            f.write(comment)
        cached = deploy(kumo, app, folder)
        cached_first, _ = first_byte(kumo.router_port, f"{app}.localhost")
        print(f"{language:28} cold {cold:6.1f} s  cached {cached:6.1f} s  first byte {cold_first * 1000:.1f} / "
              f"{cached_first * 1000:.1f} ms ({cold_status})", flush=True)
        rows.append([language, f"`examples/{example}`", f"{cold:.1f}", f"{cached:.1f}",
                     f"{cold_first * 1000:.1f}", f"{cached_first * 1000:.1f}"])
    kumo.stop()
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("builds")),
        "",
        f"Server: `{kumo.command}`, its data folder new, so each language's first build also installs",
        "that language's tools (npm componentize-js and esbuild, PyPI componentize-py, npm ruby.wasm and",
        "binaryen plus the interpreter's pre-initialisation, Rust's crates) into its build-tools folder.",
        "Cached: the same app again after appending a comment line to its main source file. Build times",
        "are `kumo deploy DIR` from start to exit (pack, upload, build, compile for this machine, release).",
        "First byte: one `GET /` through the router right after the deploy returns, from connect to the",
        "first byte (any answer below 500).",
        "",
        report.table(["language", "example", "cold build s", "cached build s", "first byte after cold ms",
                      "first byte after cached ms"], rows),
    ]
    return "\n".join(lines)
