"""Checks a php-cgi.wasm built by build.sh, run as a CGI under wasmtime.

Usage: check.py DEST   (DEST holds php-cgi.wasm, php.ini, extensions.txt)

Each request is one fresh instance, as in a dyno: /app (the scripts) and
/tmp are preopened, DEST is preopened as /php and PHPRC=/php. Prints one
line per check and exits 1 if any failed.
"""

import hashlib
import importlib.metadata
import json
import os
import re
import sys
import tempfile
import time

import wasmtime

SCRIPTS = {
    "hello.php": """<?php
echo "Hello ", $_GET['name'] ?? 'nobody', " from PHP ", PHP_VERSION, " on ", PHP_OS, "\\n";
echo json_encode($_GET), "\\n";
""",
    "form.php": """<?php
echo json_encode(['method' => $_SERVER['REQUEST_METHOD'], 'post' => $_POST]);
""",
    "input.php": """<?php
$raw = file_get_contents('php://input');
echo "raw=", $raw, "\\n", "decoded=", json_encode(json_decode($raw, true)), "\\n";
""",
    "headers.php": """<?php
header('X-Kumo: yes');
header('Content-Type: text/plain');
setcookie('flavour', 'oat', ['path' => '/']);
echo "headers set\\n";
""",
    "session.php": """<?php
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
echo "n=", $_SESSION['n'], " id=", session_id(), "\\n";
""",
    "env.php": """<?php
echo "getenv=", getenv('KUMO_CUSTOM'), " env=", $_ENV['KUMO_CUSTOM'] ?? '-', "\\n";
""",
    "funcs.php": """<?php
echo json_encode(['a' => 1, 'b' => [true, null], 'u' => 'ü']), "\\n";
echo mb_strtoupper('grüße'), "\\n";
echo ctype_digit('12345') ? 'digits' : 'no', ' ', ctype_alpha('ab1') ? 'alpha' : 'notalpha', "\\n";
echo var_export(filter_var('dev@example.com', FILTER_VALIDATE_EMAIL), true), ' ',
     var_export(filter_var('nope', FILTER_VALIDATE_EMAIL), true), ' ',
     var_export(filter_var('42', FILTER_VALIDATE_INT), true), "\\n";
echo implode(',', token_get_all('<?php 1;') ? ['tokens'] : []), ' ', hash('sha256', 'kumo'), "\\n";
echo date('Y') >= 2024 ? 'date-ok' : 'date-bad', ' ', date_default_timezone_get(), "\\n";
echo preg_replace('/(\\w+) (\\w+)/', '$2 $1', 'hello world'), "\\n";
""",
    "pdo.php": """<?php
$db = new PDO('sqlite:/tmp/test.db');
$db->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
$db->exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT)');
$st = $db->prepare('INSERT INTO t (name) VALUES (?)');
$db->beginTransaction();
$st->execute([$_GET['name'] ?? 'x']);
$locked = is_dir('/tmp/test.db.lock');  // unix-dotfile VFS: the lock is a directory
$db->commit();
$rows = $db->query('SELECT id, name FROM t ORDER BY id')->fetchAll(PDO::FETCH_ASSOC);
echo json_encode($rows), "\\n", 'sqlite ', $db->query('select sqlite_version()')->fetchColumn(),
  ' locked=', (int) $locked, "\\n";
""",
    "boom.php": """<?php
echo "before\\n";
throw new RuntimeException('boom from Kumo check');
""",
    "exit3.php": """<?php
function f() { echo "exiting\\n"; exit(3); }
f();
""",
    "memory.php": """<?php
$a = [];
for ($i = 0; $i < 100000000; $i++) { $a[] = str_repeat('x', 1024); }
""",
    "upload.php": """<?php
$f = $_FILES['doc'] ?? null;
$moved = $f && move_uploaded_file($f['tmp_name'], '/tmp/uploaded.txt');
echo json_encode(['name' => $f['name'] ?? null, 'size' => $f['size'] ?? null, 'error' => $f['error'] ?? null,
  'tmp' => dirname($f['tmp_name'] ?? ''), 'moved' => $moved,
  'content' => $moved ? file_get_contents('/tmp/uploaded.txt') : null, 'field' => $_POST['field'] ?? null]);
""",
    "random.php": """<?php
echo mt_rand(), ' ', bin2hex(random_bytes(8)), ' ', uniqid(), ' ', lcg_value(), "\\n";
""",
    "info.php": """<?php
echo json_encode(['ext' => get_loaded_extensions(), 'os' => PHP_OS, 'family' => PHP_OS_FAMILY,
  'ini' => php_ini_loaded_file(), 'display' => ini_get('display_errors'),
  'mem' => ini_get('memory_limit'), 'tz' => ini_get('date.timezone'),
  'scanned' => php_ini_scanned_files(), 'extra' => ini_get('kumo.check') ]), "\\n";
""",
}


class Php:
    def __init__(self, dest, work):
        self.dest = os.path.abspath(dest)
        self.work = work
        self.www = os.path.join(work, "www")
        self.tmp = os.path.join(work, "tmp")
        os.makedirs(self.www)
        os.makedirs(self.tmp)
        for name, text in SCRIPTS.items():
            with open(os.path.join(self.www, name), "w") as f:
                f.write(text)
        self.engine = wasmtime.Engine()  # exceptions are on by default
        self.module = self._module(os.path.join(self.dest, "php-cgi.wasm"))
        self.linker = wasmtime.Linker(self.engine)
        self.linker.define_wasi()
        self.n = 0

    def _module(self, path):
        """Compiles the module once per build (cached beside the venv)."""
        data = open(path, "rb").read()
        key = hashlib.sha256(data + importlib.metadata.version("wasmtime").encode()).hexdigest()[:24]
        cache = os.path.join(os.path.expanduser("~/.cache/kumo/php-wasi/check-cache"), key + ".cwasm")
        if os.path.exists(cache):
            return wasmtime.Module.deserialize_file(self.engine, cache)
        print("compiling php-cgi.wasm with Cranelift (once per build) ...", flush=True)
        module = wasmtime.Module(self.engine, data)
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(cache + ".part", "wb") as f:
            f.write(module.serialize())
        os.replace(cache + ".part", cache)
        return module

    def instance(self, script, query="", method="GET", body=b"", content_type=None,
                 cookie=None, extra_env=None, preopens=("app", "tmp", "php")):
        """A fresh store and instance set up for one CGI request."""
        self.n += 1
        base = os.path.join(self.work, f"req{self.n}")
        with open(base + ".in", "wb") as f:
            f.write(body)
        env = {
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_SOFTWARE": "kumo-check",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": method,
            "SCRIPT_FILENAME": "/app/" + script,
            "SCRIPT_NAME": "/" + script,
            "REQUEST_URI": "/" + script + ("?" + query if query else ""),
            "DOCUMENT_ROOT": "/app",
            "REDIRECT_STATUS": "1",
            "QUERY_STRING": query,
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "localhost",
            "PHPRC": "/php",
        }
        if body or method == "POST":
            env["CONTENT_LENGTH"] = str(len(body))
        if content_type:
            env["CONTENT_TYPE"] = content_type
        if cookie:
            env["HTTP_COOKIE"] = cookie
        env.update(extra_env or {})
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["php-cgi"]
        wasi.env = list(env.items())
        wasi.stdin_file = base + ".in"
        wasi.stdout_file = base + ".out"
        wasi.stderr_file = base + ".err"
        dirs = {"app": self.www, "tmp": self.tmp, "php": self.dest}
        for name in preopens:
            wasi.preopen_dir(dirs[name], "/" + name)
        store = wasmtime.Store(self.engine)
        store.set_wasi(wasi)
        inst = self.linker.instantiate(store, self.module)
        return store, inst, base

    @staticmethod
    def call(store, inst, name):
        """Runs an export; returns the exit status (0 when it just returns)."""
        try:
            inst.exports(store)[name](store)
            return 0
        except wasmtime.ExitTrap as e:
            return e.code

    @staticmethod
    def result(base, status):
        out = open(base + ".out", "rb").read()
        err = open(base + ".err", "rb").read().decode(errors="replace")
        head, _, body = out.partition(b"\r\n\r\n")
        headers = [line for line in head.decode(errors="replace").split("\r\n") if line]
        return {"status": status, "headers": headers, "body": body.decode(errors="replace"),
                "stderr": err}

    def request(self, script, preinit=False, **kw):
        store, inst, base = self.instance(script, **kw)
        if preinit:
            code = self.call(store, inst, "wizer-initialize")
            if code:
                raise RuntimeError(f"wizer-initialize exited {code}")
        return self.result(base, self.call(store, inst, "_start"))

    def snapshot(self):
        """What Wizer would keep: the linear memory after wizer-initialize, taken
        in an instance with other preopens (in another order) and another
        environment than the requests that start from it will have. (The
        module's only other mutable global, the stack pointer, is back at its
        initial value when wizer-initialize returns.)"""
        store, inst, base = self.instance("hello.php", preopens=("php", "tmp", "app"),
                                          extra_env={"KUMO_CUSTOM": "build-time"})
        code = self.call(store, inst, "wizer-initialize")
        err = open(base + ".err").read()
        if code or err:
            raise RuntimeError(f"wizer-initialize exited {code}: {err}")
        mem = inst.exports(store)["memory"]
        return mem.read(store, 0, mem.data_len(store))

    def restore(self, snap, script, **kw):
        """A fresh instance whose memory is the snapshot, as a Wizer-made
        module's would be; returns (store, instance, base)."""
        store, inst, base = self.instance(script, **kw)
        mem = inst.exports(store)["memory"]
        pages = len(snap) // 65536
        if mem.size(store) < pages:
            mem.grow(store, pages - mem.size(store))
        mem.write(store, snap, 0)
        return store, inst, base

    def from_snapshot(self, snap, script, **kw):
        store, inst, base = self.restore(snap, script, **kw)
        return self.result(base, self.call(store, inst, "_start"))


failures = []
passed = []


def check(name, ok, detail=""):
    (passed if ok else failures).append(name)
    print(("ok    " if ok else "FAIL  ") + name + ("" if ok else f"  -- {detail}"), flush=True)


def header(r, name):
    name = name.lower() + ":"
    return [h.split(":", 1)[1].strip() for h in r["headers"] if h.lower().startswith(name)]


def main():
    dest = sys.argv[1]
    work = tempfile.mkdtemp(prefix="php-check-")
    php = Php(dest, work)
    clean = []  # every result, for the munmap check at the end

    def req(script, snap=None, **kw):
        r = php.from_snapshot(snap, script, **kw) if snap else php.request(script, **kw)
        clean.append(r)
        return r

    r = req("hello.php", query="name=Kumo&x=1")
    check("hello with $_GET", r["status"] == 0 and "Hello Kumo from PHP 8.2" in r["body"]
          and '{"name":"Kumo","x":"1"}' in r["body"], r)
    check("PHP_OS is WASI", " on WASI" in r["body"], r["body"])

    r = req("info.php")
    info = json.loads(r["body"]) if r["status"] == 0 else {}
    want = [l.strip() for l in open(os.path.join(dest, "extensions.txt")) if l.strip()]
    check("php.ini from PHPRC", info.get("ini") == "/php/php.ini" and info.get("display") in ("0", "")
          and info.get("mem") == "128M" and info.get("tz") == "UTC", info)
    check("extensions.txt matches get_loaded_extensions()",
          sorted(x.lower() for x in info.get("ext", [])) == sorted(x.lower() for x in want),
          (info.get("ext"), want))

    r = req("form.php", method="POST", body=b"a=1&b=two+words&c%5B%5D=x",
            content_type="application/x-www-form-urlencoded")
    check("POST form into $_POST", r["status"] == 0 and json.loads(r["body"] or "{}") ==
          {"method": "POST", "post": {"a": "1", "b": "two words", "c": ["x"]}}, r)

    r = req("input.php", method="POST", body=b'{"k":[1,2,3]}', content_type="application/json")
    check("php://input", r["status"] == 0 and 'raw={"k":[1,2,3]}' in r["body"]
          and 'decoded={"k":[1,2,3]}' in r["body"], r)

    boundary = "kumoBoundary42"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nvalue\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\nuploaded bytes\r\n--{boundary}--\r\n").encode()
    r = req("upload.php", method="POST", body=body, content_type="multipart/form-data; boundary=" + boundary)
    up = json.loads(r["body"]) if r["status"] == 0 and r["body"].startswith("{") else {}
    check("file upload through upload_tmp_dir", up == {"name": "a.txt", "size": 14, "error": 0, "tmp": "/tmp",
          "moved": True, "content": "uploaded bytes", "field": "value"}, r)

    r = req("headers.php")
    check("header() and setcookie() in CGI headers", r["status"] == 0 and header(r, "X-Kumo") == ["yes"]
          and any(c.startswith("flavour=oat") for c in header(r, "Set-Cookie"))
          and header(r, "Content-Type") == ["text/plain;charset=UTF-8"], r["headers"])

    r1 = req("session.php")
    cookies = [c for c in header(r1, "Set-Cookie") if c.startswith("PHPSESSID=")]
    sid = cookies[0].split(";")[0].split("=", 1)[1] if cookies else ""
    stored = os.path.exists(os.path.join(php.tmp, "sess_" + sid))
    r2 = req("session.php", cookie="PHPSESSID=" + sid) if sid else {"body": ""}
    check("session round trip through /tmp", "n=1" in r1["body"] and stored
          and f"n=2 id={sid}" in r2["body"], (r1, r2))

    r = req("env.php", extra_env={"KUMO_CUSTOM": "config-var-value"})
    check("getenv and $_ENV of a config var",
          "getenv=config-var-value env=config-var-value" in r["body"], r)

    r = req("funcs.php")
    lines = r["body"].splitlines()
    check("json, mbstring, ctype, filter, tokenizer, hash, date, pcre", r["status"] == 0 and lines[:4] == [
        '{"a":1,"b":[true,null],"u":"\\u00fc"}', "GRÜSSE", "digits notalpha",
        "'dev@example.com' false 42"] and "date-ok UTC" in r["body"] and "world hello" in r["body"], r)

    r = req("pdo.php", query="name=first")
    r = req("pdo.php", query="name=second")
    check("PDO sqlite create/insert/select on /tmp/test.db", r["status"] == 0
          and '[{"id":1,"name":"first"},{"id":2,"name":"second"}]' in r["body"] and "locked=1" in r["body"]
          and os.path.getsize(os.path.join(php.tmp, "test.db")) > 0
          and not os.path.exists(os.path.join(php.tmp, "test.db.lock")), (r, os.listdir(php.tmp)))

    r = req("boom.php")
    check("uncaught exception: Status 500, error on stderr, exit 1",
          r["status"] == 1 and header(r, "Status")[:1] == ["500 Internal Server Error"]
          and "Uncaught RuntimeException: boom from Kumo check" in r["stderr"]
          and "boom" not in r["body"] and "before" in r["body"], r)

    r = req("exit3.php")
    check("exit(3) gives status 3", r["status"] == 3 and "exiting" in r["body"], r)

    r = req("memory.php")
    check("memory_limit enforced", r["status"] == 1 and "Allowed memory size of 134217728 bytes exhausted"
          in r["stderr"], {k: r[k] for k in ("status", "stderr")})

    ini_dir = os.path.join(php.www, "conf.d")
    os.makedirs(ini_dir)
    with open(os.path.join(ini_dir, "99-app.ini"), "w") as f:
        f.write("memory_limit = 64M\n")
    r = req("info.php", extra_env={"PHP_INI_SCAN_DIR": "/app/conf.d"})
    info = json.loads(r["body"]) if r["status"] == 0 else {}
    check("PHP_INI_SCAN_DIR", info.get("mem") == "64M" and "99-app.ini" in (info.get("scanned") or ""), r)

    r = req("hello.php", preinit=True, query="name=Snapshot")
    check("wizer-initialize then _start on one instance", r["status"] == 0
          and "Hello Snapshot from PHP" in r["body"], r)
    r = req("session.php", preinit=True, cookie="PHPSESSID=" + sid)
    check("pre-initialised: session file and cookie", f"n=3 id={sid}" in r["body"], r)
    r = req("env.php", preinit=True, extra_env={"KUMO_CUSTOM": "after-init"})
    check("pre-initialised: environment read at request time",
          "getenv=after-init env=after-init" in r["body"], r)
    r = req("pdo.php", preinit=True, query="name=third")
    check("pre-initialised: PDO sqlite", '"name":"third"' in r["body"], r)
    r = req("boom.php", preinit=True)
    check("pre-initialised: uncaught exception", r["status"] == 1
          and header(r, "Status")[:1] == ["500 Internal Server Error"], r)

    a = req("random.php", preinit=True)["body"]
    b = req("random.php", preinit=True)["body"]
    check("pre-initialised: mt_rand and random_bytes differ per request", a and b
          and a.split()[0] != b.split()[0] and a.split()[1] != b.split()[1], (a, b))

    snap = php.snapshot()
    r = req("hello.php", snap=snap, query="name=Restored")
    check("snapshot: hello in a fresh instance", r["status"] == 0 and "Hello Restored" in r["body"], r)
    r = req("info.php", snap=snap)
    info = json.loads(r["body"]) if r["status"] == 0 else {}
    check("snapshot: php.ini read at wizer-initialize", info.get("ini") == "/php/php.ini"
          and info.get("display") in ("0", ""), r)
    r = req("env.php", snap=snap, extra_env={"KUMO_CUSTOM": "run-time"})
    check("snapshot: environment of the dyno, not of the build",
          "getenv=run-time env=run-time" in r["body"], r)
    r = req("pdo.php", snap=snap, query="name=fourth")
    check("snapshot: files under /tmp (preopens re-discovered)", '"name":"fourth"' in r["body"], r)
    r = req("session.php", snap=snap, cookie="PHPSESSID=" + sid)
    check("snapshot: session", f"n=4 id={sid}" in r["body"], r)
    r = req("boom.php", snap=snap)
    check("snapshot: uncaught exception, exit 1", r["status"] == 1
          and "Uncaught RuntimeException" in r["stderr"], r)
    a = req("random.php", snap=snap)["body"]
    b = req("random.php", snap=snap)["body"]
    check("snapshot: mt_rand and random_bytes differ per request", a and b
          and a.split()[0] != b.split()[0] and a.split()[1] != b.split()[1], (a, b))

    noisy = [r["stderr"] for r in clean if "munmap" in r["stderr"] or "mmap" in r["stderr"]]
    check("no munmap()/mmap() failures on stderr", not noisy, noisy[:1])

    # Timing: a fresh instance per request, best of 5.
    def best(f):
        times = []
        for _ in range(5):
            times.append(f())
        return min(times)

    def plain():
        t0 = time.perf_counter()
        store, inst, base = php.instance("hello.php", query="name=t")
        php.call(store, inst, "_start")
        return (time.perf_counter() - t0) * 1000

    def started():
        store, inst, base = php.restore(snap, "hello.php", query="name=t")
        t0 = time.perf_counter()
        php.call(store, inst, "_start")
        return (time.perf_counter() - t0) * 1000

    print(f"timing: hello.php, best of 5: {best(plain):.1f} ms per request on a fresh instance "
          f"(instantiate + _start, full start-up); {best(started):.1f} ms for _start on a fresh "
          f"instance holding the wizer-initialize snapshot")
    print(f"{len(passed)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
