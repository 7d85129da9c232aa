"""Part 1: throughput and latency of the Rust hello app served by Kumo (router →
web dyno), by `wasmtime serve -S cli` (a fresh instance per request, and with
instance reuse) and by a bare hyper server, with wrk at c=1/16/64/256."""

from . import report
from .load import wrk, wrk_command
from .servers import Kumo, free_port, wait_http

TITLE = "1. Throughput and latency: Rust wstd hello (`examples/rust-hello`)"
CONCURRENCY = [1, 16, 64, 256]
# What Kumo gives a web dyno and the hello apps print, so every server sends the same body.
SAME_ENV = ["--env", "DYNO=web.1", "--env", "KUMO_RELEASE_VERSION=v1"]
# What Kumo's router adds to every request before the dyno sees it (Heroku's
# forwarding headers), with values of the same length: sent to wasmtime serve in
# the "same request" row, so its guest parses the same seven headers Kumo's does.
FORWARDED = ["X-Forwarded-For: 127.0.0.1", "X-Forwarded-Proto: http", "X-Forwarded-Port: 40123",
             "X-Request-Id: 0b9f4b8e-8f0e-4a5e-9d7a-3f1f2c9f1a11", "X-Request-Start: 1764039600000",
             "Via: 1.1 kumo"]


def deploy_hello(kumo, app, wasm):
    kumo.cli("apps:create", app)
    kumo.cli("deploy", "-a", app, "--wasm", wasm)
    wait_http(kumo.router_url(), host=f"{app}.localhost")


def run(ctx):
    bins, servers = ctx.bins, ctx.servers
    concurrency = [16, 64] if ctx.quick else CONCURRENCY
    kumo = Kumo(bins, servers, ctx.tmp / "throughput")
    deploy_hello(kumo, "bench", bins.hello)
    targets = [("kumo", "Kumo: router → web dyno", kumo.router_url(), "bench.localhost", ())]
    for name, label, extra in [
        ("wasmtime", "wasmtime serve -S cli", []),
        ("wasmtime-reuse", "wasmtime serve -S cli, instance reuse", ["--max-instance-reuse-count", "1000000"]),
    ]:
        port = free_port()
        servers.start([bins.wasmtime, "serve", "-S", "cli", *extra, *SAME_ENV, "--addr", f"127.0.0.1:{port}", bins.hello])
        wait_http(f"http://127.0.0.1:{port}/")
        targets.append((name, label, f"http://127.0.0.1:{port}/", None, ()))
    # The same reuse server, sent the request Kumo's dyno sees: Host plus the router's six headers.
    targets.append(("wasmtime-fwd", "wasmtime serve, reuse, + router's headers", targets[-1][2], None, FORWARDED))
    port = free_port()
    servers.start([bins.hyper, f"127.0.0.1:{port}"])
    wait_http(f"http://127.0.0.1:{port}/")
    targets.append(("hyper", "bare hyper", f"http://127.0.0.1:{port}/", None, ()))

    results = {}
    for name, label, url, host, headers in targets:
        for c in concurrency:
            r = results[(name, c)] = wrk(url, c, ctx.duration, host, headers=headers)
            print(f"{label:40} c={c:<4} {r['rps']:>10.0f} req/s  p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms",
                  flush=True)
    kumo.stop()

    rows = [[label, c, f"{results[(n, c)]['rps']:.0f}", report.ms(results[(n, c)]['p50']),
             report.ms(results[(n, c)]['p99']), results[(n, c)]['non2xx']]
            for n, label, _, _, _ in targets for c in concurrency]
    ratios = [[c] + [f"{results[('kumo', c)]['rps'] / results[(other, c)]['rps']:.2f}×"
                     for other in ("wasmtime", "wasmtime-reuse", "wasmtime-fwd", "hyper")]
              for c in concurrency]
    at = 64
    k = results[("kumo", at)]["rps"]
    best = max(results[("wasmtime", at)]["rps"], results[("wasmtime-reuse", at)]["rps"])
    hyper = results[("hyper", at)]["rps"]
    same = results[("wasmtime-fwd", at)]["rps"]
    lines = [
        f"## {TITLE}",
        "",
        report.stamp(ctx.command("throughput"), f"; {ctx.duration} s per point"),
        "",
        f"Kumo: `{kumo.command}`, app deployed with `kumo deploy --wasm rust-hello.wasm` (standard-1X: one web dyno,",
        "WEB_CONCURRENCY=2). wasmtime: `wasmtime serve -S cli [--max-instance-reuse-count 1000000] --env DYNO=web.1 --env KUMO_RELEASE_VERSION=v1 --addr … rust-hello.wasm`.",
        f"Load: `{wrk_command(64, ctx.duration, host='bench.localhost')}` (`-t1` at c=1), the Host header for Kumo only.",
        "The \"+ router's headers\" row is the reuse server again, with wrk also sending the six headers Kumo's router",
        "adds to every request (" + ", ".join(f"`{h.split(':')[0]}`" for h in FORWARDED) + "), so both guests parse the same request.",
        "",
        report.table(["server", "concurrency", "req/s", "p50 ms", "p99 ms", "non-2xx"], rows),
        "",
        "Ratios (Kumo's req/s divided by the other's, same concurrency):",
        "",
        report.table(["concurrency", "vs wasmtime serve", "vs wasmtime serve with reuse",
                      "vs reuse, same request", "vs bare hyper"], ratios),
        "",
        f"Goals at concurrency {at}:",
        "",
        report.goal("Kumo ≥ 1.5× `wasmtime serve` in its best mode (req/s, c=64)", f"{k:.0f} vs {best:.0f} req/s",
                    k / best >= 1.5, f"{k / best:.2f}×"),
        f"- Like for like (wasmtime serve with reuse, sent the request Kumo's dyno sees): {k:.0f} vs {same:.0f} req/s, "
        f"{k / same:.2f}×.",
        report.goal("Kumo ≥ 50% of bare hyper (req/s, c=64)", f"{k:.0f} vs {hyper:.0f} req/s",
                    k / hyper >= 0.5, f"{100 * k / hyper:.0f}%"),
    ]
    return "\n".join(lines)
