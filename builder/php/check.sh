#!/usr/bin/env bash
# Checks a php-cgi built by build.sh: runs it as a CGI under wasmtime (the
# `wasmtime` package from PyPI, in a venv of its own) and exits non-zero if
# any check fails. Usage: builder/php/check.sh DEST
set -euo pipefail

dest=${1:?usage: check.sh DEST (the folder build.sh made)}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=$HOME/.cache/kumo/php-wasi/venv
# 47 and later run Wasm exception handling (exnref) by default.
wasmtime_version=51.0.0

for f in php-cgi.wasm php.ini extensions.txt; do
  [ -f "$dest/$f" ] || { echo "php-wasi check: $dest/$f is missing" >&2; exit 1; }
done
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('wasmtime') != '$wasmtime_version')" 2>/dev/null; then
  echo "php-wasi check: installing wasmtime $wasmtime_version from PyPI into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || {
    echo "php-wasi check: python3 -m venv failed; as root: apt-get install -y python3-venv" >&2; exit 1; }
  "$venv/bin/pip" install --quiet "wasmtime==$wasmtime_version"
fi
exec "$venv/bin/python" "$here/check.py" "$dest"
