"""What the benchmarks run and compare against: wrk, valgrind and perf (Debian), wasmtime-cli
(cargo install into ~/.cache/kumo/tools), PostgreSQL, redis-server and
redis-benchmark (Debian, for `addons`), and release builds of Kumo, the bare
hyper server, examples/rust-hello, the misbehaving test guests of
tests/components (`faults`), the add-on guest and native Postgres client of
benches/ (`addons`) and the syslog receiver benches/syslog-sink (`drains`) in
~/.cache/kumo/bench-target."""

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
CACHE = Path(os.environ.get("KUMO_CACHE", Path.home() / ".cache/kumo"))
TOOLS = CACHE / "tools"
TARGET = CACHE / "bench-target"
WASMTIME_VERSION = "48.0.8"
# The test guests `faults` and `slowclients` run (package `http-guests` of tests/components).
FAULT_GUESTS = ["spin", "alloc", "trap", "hostile", "stream"]


def run(*args, **kwargs):
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.run([str(a) for a in args], check=True, **kwargs)


class Bins:
    """Paths of the programs and components every part uses."""

    def __init__(self):
        self.wasmtime = TOOLS / "bin/wasmtime"
        self.kumo = TARGET / "release/kumo"
        self.hyper = TARGET / "release/hyper-hello"
        self.hello = TARGET / "wasm32-wasip2/release/rust-hello.wasm"
        # {name: path} of the test guests (`spin`, `alloc`, `trap`, `hostile`, `stream`).
        self.guests = {name: TARGET / f"wasm32-wasip2/release/{name}.wasm" for name in FAULT_GUESTS}
        # `addons`: the timed-loop guest (benches/addons-guest) and its native Postgres peer (benches/pg-native).
        self.addons_guest = TARGET / "wasm32-wasip2/release/addons_guest.wasm"
        self.pg_native = TARGET / "release/pg-native"
        # `drains`: the native syslog receiver (benches/syslog-sink).
        self.syslog_sink = TARGET / "release/syslog-sink"


def install(build=True, wasmtime=True):
    """Installs wrk, valgrind, perf and (unless `wasmtime` is false: no part run needs it) wasmtime if missing
    and (unless `build` is false)
    rebuilds Kumo, the hyper server, the Rust hello app and the fault guests from this checkout."""
    bins = Bins()
    missing = [package for tool, package in [("wrk", "wrk"), ("valgrind", "valgrind"), ("perf", "linux-perf"),
                                             ("redis-server", "redis-server"), ("redis-benchmark", "redis-tools")]
               if not shutil.which(tool)]
    if not pg_bin():
        missing.append("postgresql")
    if missing:
        run("apt-get", "update", "-qq")
        run("apt-get", "install", "-y", "-qq", *missing)
    version = ""
    if bins.wasmtime.exists():
        version = subprocess.run([bins.wasmtime, "--version"], capture_output=True, text=True).stdout
    if wasmtime and WASMTIME_VERSION not in version:
        run("cargo", "install", "--locked", "--root", TOOLS, f"wasmtime-cli@{WASMTIME_VERSION}")
    if build or not bins.kumo.exists():
        env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
        env.pop("RUSTFLAGS", None)
        run("cargo", "build", "--release", "-p", "kumo", cwd=ROOT, env=env)
        run("cargo", "build", "--release", "--manifest-path", ROOT / "benches/hyper-hello/Cargo.toml", env=env)
        run("cargo", "build", "--release", "--target", "wasm32-wasip2", "--manifest-path",
            ROOT / "examples/rust-hello/Cargo.toml", env=env)
        # --locked: the guests' workspace has its own Cargo.lock, which the tests build with too.
        run("cargo", "build", "--release", "--locked", "--target", "wasm32-wasip2", "--manifest-path",
            ROOT / "tests/components/Cargo.toml", "-p", "http-guests",
            *(arg for name in FAULT_GUESTS for arg in ("--bin", name)), env=env)
        # Crates of their own, each with its Cargo.lock (the guest's is the test guests' versions).
        run("cargo", "build", "--release", "--locked", "--target", "wasm32-wasip2", "--manifest-path",
            ROOT / "benches/addons-guest/Cargo.toml", env=env)
        run("cargo", "build", "--release", "--locked", "--manifest-path", ROOT / "benches/pg-native/Cargo.toml",
            env=env)
        run("cargo", "build", "--release", "--locked", "--manifest-path", ROOT / "benches/syslog-sink/Cargo.toml",
            env=env)
    return bins


def pg_bin():
    """The folder of Debian's initdb and pg_ctl (/usr/lib/postgresql/VERSION/bin), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)])
    return versions[-1].parent if versions else None


def git_revision():
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + (" with uncommitted changes" if dirty else "")
