"""Each language's hello app on the same component: Kumo (router → web dyno) vs
`wasmtime serve -S cli`, with a fresh instance per request and with instance
reuse; the component is the one Kumo's buildpack put in the slug. Each point
runs ROUNDS times, the three servers taking turns, and the medians are kept."""

import statistics

from . import report, slugs
from .apps import LABELS, LANGUAGES
from .load import wrk, wrk_command
from .servers import Kumo, free_port, wait_http
from .throughput import SAME_ENV

TITLE = "7. Each language's hello app: Kumo vs `wasmtime serve` on the same component"
MARKER = "Hello from Kumo!"
ROUNDS = 3


def run(ctx):
    concurrency = [1, 64]
    kumo = Kumo(ctx.bins, ctx.servers, ctx.tmp / "languages")
    results, notes, sizes = {}, {}, {}
    for lang in LANGUAGES:
        archive = ctx.hello.archive(lang)
        members = slugs.unpack(archive)
        manifest = slugs.manifest(members)
        path, component = slugs.component(members)
        sizes[lang] = (len(component), manifest.get("fresh_instance_per_request", []))
        app = f"{lang}-hello"
        kumo.deploy_archive(app, archive)
        wait_http(kumo.router_url(), host=f"{app}.localhost", expect=MARKER, timeout=300)
        app_dir = ctx.tmp / f"languages-{lang}"
        slugs.extract_app(members, app_dir)
        component_path = app_dir / "app" / path
        targets = [("kumo", kumo.router_url(), f"{app}.localhost", None)]
        for mode, extra in (("fresh", []), ("reuse", ["--max-instance-reuse-count", "1000000"])):
            port = free_port()
            child = ctx.servers.start([ctx.bins.wasmtime, "serve", "-S", "cli", *extra, *SAME_ENV, "--dir",
                                       f"{app_dir / 'app'}::/app", "--addr", f"127.0.0.1:{port}", component_path],
                                      log=ctx.tmp / f"wasmtime-{lang}-{mode}.log")
            wait_http(f"http://127.0.0.1:{port}/", timeout=600)
            targets.append((mode, f"http://127.0.0.1:{port}/", None, child))
        runs = {}
        rounds = 1 if ctx.quick else ROUNDS
        for round_ in range(rounds):
            # Each round starts with a different server, so none always runs first.
            for name, url, host, _ in targets[round_ % 3:] + targets[:round_ % 3]:
                for c in concurrency:
                    r = wrk(url, c, ctx.duration, host)
                    runs.setdefault((name, c), []).append(r)
                    print(f"{lang:7} {name:6} c={c:<3} round {round_ + 1}: {r['rps']:>9.0f} req/s p50 {r['p50']:.3f} "
                          f"p99 {r['p99']:.3f} ms non-2xx {r['non2xx']} {r['socket_errors']}", flush=True)
        for (name, c), rs in runs.items():
            results[(lang, name, c)] = {
                "rps": statistics.median(r["rps"] for r in rs),
                "p50": statistics.median(r["p50"] for r in rs),
                "p99": statistics.median(r["p99"] for r in rs),
                "non2xx": sum(r["non2xx"] for r in rs),
                "socket_errors": "; ".join(r["socket_errors"] for r in rs if r["socket_errors"]),
            }
        for _, _, _, child in targets:
            if child:
                ctx.servers.stop(child)
    kumo.stop()

    def healthy(lang, mode):
        return all(results[(lang, mode, c)]["non2xx"] == 0 and not results[(lang, mode, c)]["socket_errors"]
                   for c in concurrency)

    label = {"kumo": "Kumo: router → web dyno", "fresh": "wasmtime serve -S cli",
             "reuse": "wasmtime serve -S cli, instance reuse"}
    rows, ratios, goals = [], [], []
    for lang in LANGUAGES:
        for mode in ("kumo", "fresh", "reuse"):
            for c in concurrency:
                r = results[(lang, mode, c)]
                errors = r["non2xx"] + (1 if r["socket_errors"] else 0)
                rows.append([LABELS[lang], label[mode], c, f"{r['rps']:.0f}", report.ms(r["p50"]),
                             report.ms(r["p99"]), r["non2xx"] if not r["socket_errors"] else
                             f"{r['non2xx']} ({r['socket_errors']})"])
        modes = [m for m in ("fresh", "reuse") if healthy(lang, m)] or ["fresh"]
        best = max(modes, key=lambda m: results[(lang, m, 64)]["rps"])
        k = results[(lang, "kumo", 64)]["rps"]
        b = results[(lang, best, 64)]["rps"]
        notes[lang] = best
        ratios.append([LABELS[lang], label[best], f"{k:.0f}", f"{b:.0f}", f"{k / b:.2f}×"])
        goals.append(report.goal(f"{LABELS[lang]} hello: Kumo ≥ `wasmtime serve` in its best mode (req/s, c=64)",
                                 f"{k:.0f} vs {b:.0f} req/s", k >= b, f"{k / b:.2f}×"))
    component_lines = [
        f"- {LABELS[lang]}: component {size / 1e6:.1f} MB; Kumo serves it with "
        + ("a fresh instance per request (the slug's `fresh_instance_per_request`, feature `fresh-instances`: "
           "componentize-js keeps per-request state, so StarlingMonkey cannot serve a second request on one instance)"
           if fresh else "warm instances reused across requests (standard-1X: WEB_CONCURRENCY=2)") + "."
        for lang, (size, fresh) in sizes.items()]
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("languages"), f"; {ctx.duration} s per point, {1 if ctx.quick else ROUNDS} "
                     "round(s) with the servers taking turns, medians (non-2xx summed)"),
        "",
        "Apps: Rust `examples/rust-hello` (`kumo deploy --wasm`), JavaScript `benches/apps/js-hello` (a default",
        "export's `fetch`, no dependencies) and Python `benches/apps/python-hello` (its own wasi:http",
        "`IncomingHandler`, no WSGI, no dependencies), the last two built by Kumo's buildpacks from source.",
        "Each slug is uploaded to one Kumo server (`POST /apps/{app}/slugs`, one standard-1X web dyno each), and",
        "its web component, taken out of the same slug, runs under",
        "`wasmtime serve -S cli [--max-instance-reuse-count 1000000] --env DYNO=web.1 --env KUMO_RELEASE_VERSION=v1",
        "--dir APP::/app --addr … COMPONENT`.",
        f"Load: `{wrk_command(64, ctx.duration, host='LANG-hello.localhost')}` (`-t1` at c=1).",
        "",
        *component_lines,
        "",
        report.table(["app", "server", "concurrency", "req/s", "p50 ms", "p99 ms", "non-2xx (socket errors)"], rows),
        "",
        "Kumo vs `wasmtime serve` in its best mode that served every request (req/s at c=64):",
        "",
        report.table(["app", "best wasmtime mode", "Kumo req/s", "wasmtime req/s", "ratio"], ratios),
        "",
        *goals,
    ]
    return "\n".join(lines)
