"""The servers a benchmark starts (Kumo, wasmtime serve, bare hyper), each on
free loopback ports and each killed with its process group when the run ends,
and a small Platform API client for Kumo."""

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, host=None, timeout=120, expect=None):
    """Waits until `url` answers 200 (and, with `expect`, a body containing it)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            request = urllib.request.Request(url, headers={"Host": host} if host else {})
            with urllib.request.urlopen(request, timeout=5) as response:
                body = response.read().decode(errors="replace")
                if response.status == 200 and (expect is None or expect in body):
                    return body
                last = body
        except Exception as e:
            last = e
        time.sleep(0.1)
    raise SystemExit(f"{url} (Host: {host}) never answered 200{' with ' + expect if expect else ''}: {last}")


class Servers:
    """Every server process of a run; `stop_all` kills each one's process group."""

    def __init__(self):
        self.children = []

    def start(self, args, log=None, **kwargs):
        out = open(log, "w") if log else subprocess.DEVNULL
        child = subprocess.Popen([str(a) for a in args], stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True, **kwargs)
        self.children.append(child)
        return child

    def stop(self, child):
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait()
        if child in self.children:
            self.children.remove(child)

    def stop_all(self):
        for child in list(self.children):
            self.stop(child)


class Kumo:
    """A `kumo server` on free loopback ports with its own data folder."""

    def __init__(self, bins, servers, data, flags=(), direct=False, env=None):
        self.bins, self.servers, self.data = bins, servers, Path(data)
        self.data.mkdir(parents=True, exist_ok=True)
        self.api_port, self.router_port = free_port(), free_port()
        self.direct_port = free_port() if direct else None
        args = [bins.kumo, "server", "--data-dir", self.data, "--api-listen", f"127.0.0.1:{self.api_port}",
                "--router-listen", f"127.0.0.1:{self.router_port}", *flags]
        if direct:
            args += ["--direct-listen", f"127.0.0.1:{self.direct_port}"]
        # As BENCHMARKS.md shows it: the binary and the scratch data folder by name.
        self.command = " ".join(str(a) for a in args).replace(str(bins.kumo), "kumo").replace(str(self.data), "$DATA")
        self.child = servers.start(args, log=self.data / "server.log", env=env)
        deadline = time.time() + 60
        while not (self.data / "admin-token").exists() and time.time() < deadline:
            if self.child.poll() is not None:
                raise SystemExit(f"kumo server exited: {(self.data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.05)
        wait_http(f"http://127.0.0.1:{self.api_port}/health")
        self.token = (self.data / "admin-token").read_text().strip()
        self.env = dict(os.environ, KUMO_HOST=f"http://127.0.0.1:{self.api_port}", KUMO_API_KEY=self.token)
        self._local = threading.local()

    @property
    def pid(self):
        return self.child.pid

    def stop(self):
        self.servers.stop(self.child)

    def router_url(self, path="/"):
        return f"http://127.0.0.1:{self.router_port}{path}"

    # --- the CLI, as a user types it ---

    def cli(self, *args, check=True):
        """Runs `kumo ARGS` against this server and returns its stdout."""
        done = subprocess.run([str(self.bins.kumo), *map(str, args)], env=self.env, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise SystemExit(f"kumo {' '.join(map(str, args))} failed: {done.stdout}{done.stderr}")
        return done.stdout

    # --- the Platform API, for what would take thousands of CLI runs ---

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=300)
            self._local.conn = conn
        return conn

    def api(self, method, path, body=None, content_type="application/json", ok=(200, 201, 202)):
        """One Platform API call on this thread's keep-alive connection; returns the decoded JSON."""
        if body is not None and not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/vnd.heroku+json; version=3"}
        if body is not None:
            headers["Content-Type"] = content_type
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        if response.status not in ok:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:500]!r}")
        return json.loads(data) if data else None

    def create_app(self, name):
        return self.api("POST", "/apps", {"name": name})

    def upload_slug(self, app, archive):
        """POST /apps/{app}/slugs with a slug archive; returns its id (`sha256:…`)."""
        return self.api("POST", f"/apps/{app}/slugs", archive, content_type="application/zstd")["id"]

    def release(self, app, slug_id):
        return self.api("POST", f"/apps/{app}/releases", {"slug": slug_id})["version"]

    def formation(self, app, process_type="web", quantity=None, size=None):
        update = {"type": process_type}
        if quantity is not None:
            update["quantity"] = quantity
        if size is not None:
            update["size"] = size
        return self.api("PATCH", f"/apps/{app}/formation", {"updates": [update]})

    def deploy_archive(self, app, archive, size=None, quantity=None):
        """Creates `app`, sets its web formation first (so no dyno of another size ever
        starts), uploads the slug archive and releases it; returns the release version."""
        self.create_app(app)
        if size is not None or quantity is not None:
            self.formation(app, "web", quantity=1 if quantity is None else quantity, size=size)
        return self.release(app, self.upload_slug(app, archive))

    def dynos(self, app):
        return self.api("GET", f"/apps/{app}/dynos")

    def slug_archive(self, digest):
        """The archive the slug store holds for `digest` (a local slug store only)."""
        return (self.data / "slug-store/slugs" / f"{digest.split(':', 1)[1]}.tar.zst").read_bytes()

    def memory(self):
        """The server's resident memory now and at its peak, in MiB (from /proc)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        values = {}
        for line in status.splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)

    def threads_and_fds(self):
        fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        threads = len(os.listdir(f"/proc/{self.pid}/task"))
        return threads, fds
