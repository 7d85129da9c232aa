"""Slug archives and components on the benchmark's side: read a slug's manifest
and component, make a component distinct with a trailing custom section, and
repack a slug around a different component (so each is compiled on its own)."""

import io
import json
import subprocess
import tarfile

MANIFEST = "kumo-slug.json"


def leb128(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def with_custom_section(component, name, payload):
    """`component` with a custom section appended: id 0, size, name length, name, payload.

    A custom section may trail any module or component, so the result is valid
    and runs the same, but its bytes (and so its slug digest and compiled code) differ."""
    name = name.encode()
    content = leb128(len(name)) + name + payload
    return component + b"\x00" + leb128(len(content)) + content


def unpack(archive):
    """The tar members of a slug archive (a zstd-compressed tar) as (TarInfo, bytes or None)."""
    tar_bytes = subprocess.run(["zstd", "-q", "-d", "-c"], input=archive, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
        return [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]


def manifest(members):
    for info, data in members:
        if info.name == MANIFEST:
            return json.loads(data)
    raise ValueError("the slug has no manifest")


def component(members, process_type="web"):
    """The component the slug's `process_type` runs: (path under app/, bytes)."""
    path = manifest(members)["process_types"][process_type]["component"]
    for info, data in members:
        if info.name.rstrip("/") == f"app/{path}":
            return path, data
    raise ValueError(f"the slug has no app/{path}")


def repack(members, replace):
    """A new slug archive with the files named in `replace` ({"app/x.wasm": bytes}) swapped in;
    the manifest stays the first entry."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            info = _copy(info)
            if info.isfile():
                data = replace.get(info.name, data)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return subprocess.run(["zstd", "-q", "-3", "-c"], input=out.getvalue(), capture_output=True, check=True).stdout


def _copy(info):
    copy = tarfile.TarInfo(info.name)
    for field in ("size", "mtime", "mode", "type", "linkname", "uid", "gid", "uname", "gname"):
        setattr(copy, field, getattr(info, field))
    return copy


def extract_app(members, dest):
    """Writes the slug's app/ files under `dest` (for `wasmtime serve --dir`)."""
    for info, data in members:
        if not info.name.startswith("app/"):
            continue
        path = dest / info.name
        if info.isdir():
            path.mkdir(parents=True, exist_ok=True)
        elif info.isfile():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
