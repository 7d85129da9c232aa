"""Part 1: throughput and latency of the Rust hello app served by Kumo (router →
web dyno, and the same dyno through the direct listener), by `wasmtime serve -S cli`
(a fresh instance per request, and with instance reuse) and by a bare hyper server,
with wrk at c=1/16/64/256. Each point is run ROUNDS times, the servers taking turns
within a round, and the median round is reported: on a shared 2-core machine one
5-second run of a server can be a fifth off the next one."""

import statistics

from . import report
from .load import wrk, wrk_command
from .servers import Kumo, free_port, wait_http

TITLE = "1. Throughput and latency: Rust wstd hello (`examples/rust-hello`)"
CONCURRENCY = [1, 16, 64, 256]
ROUNDS = 3
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
    rounds = 1 if ctx.quick else ROUNDS
    kumo = Kumo(bins, servers, ctx.tmp / "throughput", direct=True)
    deploy_hello(kumo, "bench", bins.hello)
    direct = f"http://127.0.0.1:{kumo.direct_port}/"
    wait_http(direct, host="bench.localhost")
    targets = [("kumo", "Kumo: router → web dyno", kumo.router_url(), "bench.localhost", ()),
               ("kumo-direct", "Kumo: direct listener → same dyno", direct, "bench.localhost", ())]
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

    runs = {(name, c): [] for name, *_ in targets for c in concurrency}
    for c in concurrency:
        for round_ in range(rounds):
            # Each round starts with a different server, so none always runs first.
            turn = targets[round_ % len(targets):] + targets[:round_ % len(targets)]
            for name, label, url, host, headers in turn:
                r = wrk(url, c, ctx.duration, host, headers=headers)
                runs[(name, c)].append(r)
                print(f"{label:42} c={c:<4} round {round_ + 1}: {r['rps']:>8.0f} req/s  p50 {r['p50']:.3f} ms  "
                      f"p99 {r['p99']:.3f} ms", flush=True)
    kumo.stop()
    results = {key: median_run(rs) for key, rs in runs.items()}

    def spread(n, c):
        rps = sorted(r["rps"] for r in runs[(n, c)])
        return f"{rps[0]:.0f}–{rps[-1]:.0f}" if len(rps) > 1 else ""

    rows = [[label, c, f"{results[(n, c)]['rps']:.0f}", spread(n, c), report.ms(results[(n, c)]['p50']),
             report.ms(results[(n, c)]['p99']), sum(r['non2xx'] for r in runs[(n, c)])]
            for n, label, _, _, _ in targets for c in concurrency]
    ratios = [[c] + [f"{results[('kumo', c)]['rps'] / results[(other, c)]['rps']:.2f}×"
                     for other in ("wasmtime", "wasmtime-reuse", "wasmtime-fwd", "hyper")]
              + [f"{results[('kumo-direct', c)]['rps'] / results[('wasmtime-reuse', c)]['rps']:.2f}×"]
              for c in concurrency]
    at = 64
    k = results[("kumo", at)]["rps"]
    best = max(results[("wasmtime", at)]["rps"], results[("wasmtime-reuse", at)]["rps"])
    hyper = results[("hyper", at)]["rps"]
    same = results[("wasmtime-fwd", at)]["rps"]
    dyno = results[("kumo-direct", at)]["rps"]
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
        "The direct listener (`kumo server --direct-listen`, section 2) reaches the same dyno through the same",
        "in-process dispatch without the router's work: no forwarding headers, header or request timers, router line.",
        f"Each point ran {rounds} time{'s' if rounds > 1 else ''}, the servers taking turns within each round; the table gives the median",
        "round (req/s, p50 and p99 each the median) and the spread of req/s across rounds.",
        "",
        report.table(["server", "concurrency", "req/s", "req/s range", "p50 ms", "p99 ms", "non-2xx"], rows),
        "",
        "Ratios (Kumo's req/s through the router divided by the other's, same concurrency; the last column is",
        "the direct listener's):",
        "",
        report.table(["concurrency", "vs wasmtime serve", "vs wasmtime serve with reuse",
                      "vs reuse, same request", "vs bare hyper", "direct listener vs reuse"], ratios),
        "",
        f"Goals at concurrency {at}:",
        "",
        report.goal("Kumo ≥ 1.5× `wasmtime serve` in its best mode (req/s, c=64)", f"{k:.0f} vs {best:.0f} req/s",
                    k / best >= 1.5, f"{k / best:.2f}×"),
        f"- Like for like (wasmtime serve with reuse, sent the request Kumo's dyno sees): {k:.0f} vs {same:.0f} req/s, "
        f"{k / same:.2f}×.",
        f"- Kumo's dyno without the router (direct listener) against wasmtime serve with reuse: {dyno:.0f} vs "
        f"{best:.0f} req/s, {dyno / best:.2f}×.",
        report.goal("Kumo ≥ 50% of bare hyper (req/s, c=64)", f"{k:.0f} vs {hyper:.0f} req/s",
                    k / hyper >= 0.5, f"{100 * k / hyper:.0f}%"),
    ]
    return "\n".join(lines)


def median_run(runs):
    """The median of each of a point's figures across its rounds."""
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50": statistics.median(r["p50"] for r in runs),
        "p99": statistics.median(r["p99"] for r in runs),
    }
