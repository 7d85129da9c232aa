"""The hello apps the parts deploy, as slug archives: Rust (`examples/rust-hello`,
packed by `kumo deploy --wasm`), JavaScript and Python (`benches/apps/*-hello`,
built from source by Kumo's own buildpacks). Source builds run on a builder
server with a data folder kept in ~/.cache/kumo/bench-builder (so toolchains
install once), and each built slug is kept in ~/.cache/kumo/bench-slugs, keyed
by the app's files and the builder's sources."""

import hashlib
import shutil

from . import slugs
from .servers import Kumo
from .toolchain import CACHE, ROOT

SOURCES = {"js": ROOT / "benches/apps/js-hello", "python": ROOT / "benches/apps/python-hello"}
LANGUAGES = ["rust", "js", "python"]
LABELS = {"rust": "Rust (wstd)", "js": "JavaScript (componentize-js)", "python": "Python (componentize-py)"}


def _key(lang):
    digest = hashlib.sha256()
    for folder in (SOURCES[lang], ROOT / "builder/src", ROOT / "builder/js", ROOT / "builder/python",
                   ROOT / "builder/wit"):
        if not folder.exists():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class HelloSlugs:
    """Slug archives of the hello apps, built once per run (and cached across runs for source builds)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.builder = None
        self.archives = {}

    def _builder(self):
        if self.builder is None:
            data = CACHE / "bench-builder"
            try:
                self.builder = Kumo(self.ctx.bins, self.ctx.servers, data)
            except SystemExit as e:
                # A data folder from an older Kumo that this one cannot open: start over
                # (it only holds build tools and the hello apps, which are rebuilt).
                print(f"the builder's data folder cannot be used ({e}); starting it afresh", flush=True)
                shutil.rmtree(data)
                self.builder = Kumo(self.ctx.bins, self.ctx.servers, data)
        return self.builder

    def _current_slug(self, kumo, app):
        releases = kumo.api("GET", f"/apps/{app}/releases", ok=(200, 206))
        newest = max(releases, key=lambda r: r["version"])
        return kumo.slug_archive(newest["slug"]["id"])

    def archive(self, lang):
        if lang in self.archives:
            return self.archives[lang]
        if lang == "rust":
            kumo = self._builder()
            kumo.cli("apps:create", "bench-rust-hello", check=False)
            kumo.cli("deploy", "-a", "bench-rust-hello", "--wasm", self.ctx.bins.hello)
            archive = self._current_slug(kumo, "bench-rust-hello")
        else:
            cached = CACHE / "bench-slugs" / f"{lang}-hello-{_key(lang)}.tar.zst"
            if not cached.exists():
                kumo = self._builder()
                app = f"bench-{lang}-hello"
                kumo.cli("apps:create", app, check=False)
                print(f"building {SOURCES[lang]} with Kumo's buildpacks (once per change)", flush=True)
                print(kumo.cli("deploy", "-a", app, SOURCES[lang]), flush=True)
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_bytes(self._current_slug(kumo, app))
            archive = cached.read_bytes()
        self.archives[lang] = archive
        return archive

    def members(self, lang):
        return slugs.unpack(self.archive(lang))

    def done(self):
        if self.builder:
            self.builder.stop()
            self.builder = None
