#!/usr/bin/env bash
# Builds Kumo's PHP: Zend PHP 8.2's php-cgi as a wasm32-wasip1 core module
# that Wizer can pre-initialise (see README.md beside this file).
#
# Usage: builder/php/build.sh DEST       (or --prepare: packages and sources only)
#
# Everything comes from Debian: clang/lld 22 (bookworm-security), wasi-libc
# (bookworm-backports, for setjmp/longjmp), and the php8.2 and sqlite3 source
# packages. The build happens in DEST.partial, which becomes DEST only when
# everything is in it; a run that stops half-way leaves no DEST.
set -euo pipefail

# The Debian source packages, pinned (the newest php8.2 in bookworm-security,
# 8.2.36, was 404 on the mirror; the bookworm point release's is used).
PHP_DEB_VERSION=8.2.32-1~deb12u1
SQLITE_DEB_VERSION=3.40.1-2+deb12u2
LLVM=22
PACKAGES="clang-$LLVM lld-$LLVM libclang-rt-$LLVM-dev-wasm32 llvm-$LLVM dpkg-dev patch autoconf
  bison re2c make pkg-config xz-utils tcl gcc libc6-dev python3"

# `build.sh --prepare` only installs the packages and downloads the sources
# (the test runner does it before tests that compile C run beside it).
prepare=false
if [ "${1:-}" = --prepare ]; then
  prepare=true
  set -- "$HOME/.cache/kumo/php-wasi/prepare"
fi
dest=${1:?usage: build.sh DEST | build.sh --prepare}
dest=$(realpath -m "$dest")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
partial=$dest.partial
cache=$HOME/.cache/kumo/php-wasi
log=$partial/build.log
started=$SECONDS

say() { echo "php-wasi: $*"; }
die() { echo "php-wasi: error: $*" >&2; exit 1; }
# Runs a command with its output in the log; on failure shows the log's end.
run() {
  if ! "$@" >>"$log" 2>&1; then
    echo "php-wasi: failed: $*" >&2
    echo "php-wasi: last 40 lines of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

rm -rf "$partial"
mkdir -p "$partial" "$cache"
: >"$log"

# --- Debian packages ---------------------------------------------------------

missing=()
for p in $PACKAGES; do installed "$p" || missing+=("$p"); done
# bookworm's own wasi-libc (2022) has no libsetjmp.a; backports' has.
need_wasi_libc=false
[ -f /usr/lib/wasm32-wasi/libsetjmp.a ] || need_wasi_libc=true

# The version of source package $1 in the cache: the pinned one ($2), else
# one an earlier run fell back to (see below); empty if there is none.
cached_version() {
  if [ -f "$cache/src/$1_$2.dsc" ]; then echo "$2"; return; fi
  ls "$cache/src" 2>/dev/null | sed -n "s/^$1_\(.*\)\.dsc\$/\1/p" | sort -V | tail -n 1 || true
}
php_deb=$(cached_version php8.2 "$PHP_DEB_VERSION")
sqlite_deb=$(cached_version sqlite3 "$SQLITE_DEB_VERSION")
src_missing=false
[ -n "$php_deb" ] && [ -n "$sqlite_deb" ] || src_missing=true

if [ ${#missing[@]} -gt 0 ] || $need_wasi_libc || { $src_missing && [ "$(id -u)" = 0 ]; }; then
  if [ "$(id -u)" != 0 ]; then
    [ ${#missing[@]} -eq 0 ] || echo "php-wasi: missing packages: ${missing[*]}" >&2
    ! $need_wasi_libc || echo "php-wasi: missing wasi-libc with libsetjmp.a (from bookworm-backports)" >&2
    echo "php-wasi: run this script once as root, or as root:" >&2
    echo "php-wasi:   apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    ! $need_wasi_libc || echo "php-wasi:   apt-get install -y --no-install-recommends -t bookworm-backports wasi-libc" \
      "(after adding bookworm-backports to apt's sources)" >&2
    die "cannot install packages as $(id -un)"
  fi
  if ! grep -rqsE '^[[:space:]]*(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding Debian source lines (/etc/apt/sources.list.d/kumo-php-src.sources)"
    cat >/etc/apt/sources.list.d/kumo-php-src.sources <<'EOF'
# Added by Kumo's builder/php/build.sh: Debian's php8.2 and sqlite3 sources.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  if ! grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding bookworm-backports (/etc/apt/sources.list.d/kumo-php-backports.sources)"
    cat >/etc/apt/sources.list.d/kumo-php-backports.sources <<'EOF'
# Added by Kumo's builder/php/build.sh: wasi-libc with setjmp/longjmp.
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  say "apt-get update"
  run apt-get update
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  fi
  if $need_wasi_libc; then
    say "installing wasi-libc from bookworm-backports"
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -t bookworm-backports wasi-libc
  fi
fi
[ -f /usr/lib/wasm32-wasi/libsetjmp.a ] || die "wasi-libc has no libsetjmp.a (install it from bookworm-backports)"

# --- Sources (downloaded once, kept in the cache) ----------------------------

# Downloads source package $1 into the cache: version $2, or, when the mirror
# no longer has it (Debian keeps only the current versions), the newest that
# apt lists. Sets fetched to the version.
fetch_source() {
  local v
  for v in "$2" $(apt-cache showsrc "$1" 2>/dev/null | sed -n 's/^Version: //p' | sed 's/^[0-9]*://' | sort -rV); do
    say "downloading Debian source $1 $v"
    rm -rf "$cache/src.partial"
    mkdir -p "$cache/src.partial" "$cache/src"
    if (cd "$cache/src.partial" && apt-get source --download-only "$1=$v") >>"$log" 2>&1; then
      mv "$cache/src.partial"/* "$cache/src/"
      rmdir "$cache/src.partial"
      fetched=$v
      return 0
    fi
    say "$1 $v could not be downloaded"
  done
  tail -n 40 "$log" >&2
  die "could not download the $1 source (apt needs deb-src lines for bookworm; run this script once as root to add them)"
}
if [ -z "$php_deb" ]; then fetch_source php8.2 "$PHP_DEB_VERSION"; php_deb=$fetched; fi
if [ -z "$sqlite_deb" ]; then fetch_source sqlite3 "$SQLITE_DEB_VERSION"; sqlite_deb=$fetched; fi
if $prepare; then
  rm -rf "$partial"
  say "packages and sources ready"
  exit 0
fi

work=$partial/work
mkdir -p "$work"
say "unpacking php8.2 $php_deb and sqlite3 $sqlite_deb"
# dpkg-source checks the files against the .dsc. Only the upstream tarball is
# used: Debian's own patches are about Debian's file layout and packaging.
run dpkg-source -x --skip-debianization "$cache/src/php8.2_$php_deb.dsc" "$work/php"
run dpkg-source -x --skip-debianization "$cache/src/sqlite3_$sqlite_deb.dsc" "$work/sqlite"
php_version=$(sed -n 's/^#define PHP_VERSION "\(.*\)"/\1/p' "$work/php/main/php_version.h")
[ -n "$php_version" ] || die "no PHP_VERSION in main/php_version.h"

# --- Toolchain -----------------------------------------------------------------

# Debian keeps wasi-libc in /usr/{include,lib}/wasm32-wasi; a sysroot of
# symlinks lets clang find it under both target names, and nothing from the
# host's /usr/include.
sysroot=$work/sysroot
mkdir -p "$sysroot/include" "$sysroot/lib" "$work/pkgconfig-empty"
for t in wasm32-wasi wasm32-wasip1; do
  ln -s /usr/include/wasm32-wasi "$sysroot/include/$t"
  ln -s /usr/lib/wasm32-wasi "$sysroot/lib/$t"
done
export CC=clang-$LLVM AR=llvm-ar-$LLVM RANLIB=llvm-ranlib-$LLVM NM=llvm-nm-$LLVM
wasi_defs="-D_WASI_EMULATED_MMAN -D_WASI_EMULATED_GETPID -D_WASI_EMULATED_SIGNAL -D_WASI_EMULATED_PROCESS_CLOCKS"
# setjmp/longjmp (zend_try, zend_bailout) as Wasm exception handling, in the
# standard (exnref) encoding that wasmtime runs by default.
sjlj="-mllvm -wasm-enable-sjlj -mllvm -wasm-use-legacy-eh=false"
target="--target=wasm32-wasip1 --sysroot=$sysroot"
wasi_libs="-lsetjmp -lwasi-emulated-mman -lwasi-emulated-getpid -lwasi-emulated-signal -lwasi-emulated-process-clocks"
shim="-I$here/compat/include -include $here/compat/wasi_compat.h"
compat=$work/compat
mkdir -p "$compat"

say "compiling the WASI compat shim"
run nice -n 10 "$CC" $target -O2 $wasi_defs -c "$here/compat/wasi_compat.c" -o "$compat/wasi_compat.o"
run "$AR" rcs "$compat/libwasi_compat.a" "$compat/wasi_compat.o"

# --- SQLite --------------------------------------------------------------------

sqlite_version=${sqlite_deb%%-*}
say "building SQLite $sqlite_version for wasm32-wasip1"
# The amalgamation (sqlite3.c) is generated with the host's compiler and tclsh.
mkdir -p "$work/sqlite/host"
(cd "$work/sqlite/host" && run env -u CC -u AR -u RANLIB -u NM nice -n 10 ../configure --disable-tcl \
  && run nice -n 10 make sqlite3.c)
mkdir -p "$work/sqlite-wasm/include" "$work/sqlite-wasm/lib"
cp "$work/sqlite/host/sqlite3.h" "$work/sqlite-wasm/include/"
run nice -n 10 "$CC" $target -O2 $wasi_defs $shim -I"$work/sqlite/host" \
  -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_WAL -DSQLITE_MAX_MMAP_SIZE=0 \
  -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_EXTRA_INIT=kumo_sqlite_init \
  -c "$here/compat/sqlite_kumo.c" -o "$work/sqlite-wasm/sqlite3.o"
run "$AR" rcs "$work/sqlite-wasm/lib/libsqlite3.a" "$work/sqlite-wasm/sqlite3.o"

# --- PHP -------------------------------------------------------------------------

cd "$work/php"
for p in "$here"/patches/*.patch; do
  say "applying $(basename "$p")"
  run patch -p1 -i "$p"
done

say "configuring PHP $php_version"
export PKG_CONFIG_LIBDIR=$work/pkgconfig-empty PKG_CONFIG_PATH=
export CFLAGS="$target -O2 $wasi_defs $sjlj -Wno-unused-command-line-argument"
export CPPFLAGS="$wasi_defs"
export LDFLAGS="$target -Wl,-z,stack-size=8388608"
export LIBS="$wasi_libs"
export SQLITE_CFLAGS="-I$work/sqlite-wasm/include" SQLITE_LIBS="-L$work/sqlite-wasm/lib -lsqlite3 $compat/libwasi_compat.a"
export PHP_UNAME="WASI wasm32-wasip1" PHP_BUILD_SYSTEM="$(uname -srm)"
# configure.ac is patched (fibers, PHP_OS), so configure is generated anew.
run nice -n 10 ./buildconf --force
run nice -n 10 ./configure --host=wasm32-wasi --build="$(uname -m)-pc-linux-gnu" \
  --disable-all --disable-cli --enable-cgi --disable-phpdbg --disable-fpm \
  --enable-ctype --enable-tokenizer --enable-mbstring --disable-mbregex \
  --enable-session --enable-filter --enable-pdo --with-pdo-sqlite --without-sqlite3 \
  --without-pcre-jit --disable-fiber-asm --without-pear --disable-opcache --disable-opcache-jit \
  --disable-zend-signals --without-valgrind --disable-ipv6 --disable-rpath --without-libxml
# libtool's -export-dynamic would export all 2000-odd functions and make a
# request several times slower; php-cgi needs only _start and wizer-initialize.
sed -i 's/--mode=link $(CC) -export-dynamic /--mode=link $(CC) /' Makefile
if grep -q '^BUILD_CGI.*-export-dynamic' Makefile; then die "could not drop -export-dynamic from BUILD_CGI"; fi
# The shim goes last on the link line (after -lsqlite3, which needs it too).
sed -i "s|^EXTRA_LIBS = .*|& $compat/libwasi_compat.a|" Makefile

jobs=$(nproc)
say "compiling (about 3 minutes on 2 idle cores, longer on a busy machine)"
run nice -n 10 make -j"$jobs" cgi EXTRA_CFLAGS="$shim"

# --- Result ----------------------------------------------------------------------

say "collecting the result"
cp sapi/cgi/php-cgi "$partial/php-cgi.wasm"
echo "$php_version" >"$partial/VERSION"
cp "$here/php.ini" "$partial/php.ini"
# What `php -m` prints: the built-in modules, sorted case-insensitively. The
# names come from main/internal_functions.c, which lists what was compiled in.
python3 - "$work/php/main/internal_functions.c" >"$partial/extensions.txt" <<'EOF'
import re, sys
names = {"date": "date", "pcre": "pcre", "ctype": "ctype", "filter": "filter", "hash": "hash",
         "json": "json", "mbstring": "mbstring", "pdo": "PDO", "pdo_sqlite": "pdo_sqlite",
         "random": "random", "reflection": "Reflection", "session": "session", "spl": "SPL",
         "standard": "standard", "tokenizer": "tokenizer"}
found = re.findall(r"phpext_(\w+)_ptr", open(sys.argv[1]).read())
unknown = [f for f in found if f not in names]
if unknown:
    sys.exit("build.sh: add the module name of " + ", ".join(unknown))
for name in sorted({names[f] for f in found} | {"Core", "cgi-fcgi"}, key=str.lower):
    print(name)
EOF
# The module must export memory, _start and wizer-initialize, and no more.
python3 - "$partial/php-cgi.wasm" <<'EOF' || die "php-cgi.wasm does not have the expected exports"
import sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\0asm\1\0\0\0", "not a core wasm module"
def leb(i):
    n = shift = 0
    while True:
        b = data[i]; i += 1; n |= (b & 0x7f) << shift; shift += 7
        if b < 0x80: return n, i
i, exports = 8, []
while i < len(data):
    sid = data[i]; size, i = leb(i + 1); end = i + size
    if sid == 7:
        count, i = leb(i)
        for _ in range(count):
            ln, i = leb(i); exports.append(data[i:i + ln].decode()); i += ln + 1; _, i = leb(i)
    i = end
print("php-wasi: php-cgi.wasm exports", " ".join(exports))
sys.exit(sorted(exports) != ["_start", "memory", "wizer-initialize"])
EOF
rm -rf "$work"   # build.log stays

if [ -e "$dest" ]; then
  rm -rf "$dest.old"
  mv "$dest" "$dest.old"
fi
mv "$partial" "$dest"
rm -rf "$dest.old"
size=$(stat -c %s "$dest/php-cgi.wasm")
elapsed=$((SECONDS - started))
say "done in $((elapsed / 60)) min $((elapsed % 60)) s: $dest/php-cgi.wasm (PHP $php_version, $size bytes)"
