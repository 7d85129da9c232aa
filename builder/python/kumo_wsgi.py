"""Kumo's bridge from wasi:http to WSGI (PEP 3333).

The Python buildpack builds a component whose IncomingHandler is made by
`handler("module", "callable")`: each request becomes a WSGI environ, the
app's callable is called, and what it returns becomes the response. Config
vars are in os.environ, as on Heroku; the app's prints go to the logs.
"""

# Modules the standard library imports lazily, which a component cannot load
# later: import them now, while the component is built.
import encodings.idna  # noqa: F401  (host names: werkzeug, urllib)
import encodings.punycode  # noqa: F401
import io
import os
import sys
import traceback
from urllib.parse import unquote

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports.types import (
    Fields,
    Method_Connect,
    Method_Delete,
    Method_Get,
    Method_Head,
    Method_Options,
    Method_Other,
    Method_Patch,
    Method_Post,
    Method_Put,
    Method_Trace,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)

_METHODS = {
    Method_Get: "GET",
    Method_Head: "HEAD",
    Method_Post: "POST",
    Method_Put: "PUT",
    Method_Delete: "DELETE",
    Method_Connect: "CONNECT",
    Method_Options: "OPTIONS",
    Method_Trace: "TRACE",
    Method_Patch: "PATCH",
}

# Headers a wasi:http response may not carry; the router handles them.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "http2-settings",
}


def _method(method):
    if isinstance(method, Method_Other):
        return method.value
    return _METHODS[type(method)]


def _read_body(request):
    body = request.consume()
    stream = body.stream()
    chunks = []
    while True:
        try:
            chunks.append(stream.blocking_read(65536))
        except Err:
            break
    stream.__exit__(None, None, None)
    body.__exit__(None, None, None)
    return b"".join(chunks)


def _environ(request, body):
    path_query = request.path_with_query() or "/"
    path, _, query = path_query.partition("?")
    environ = {
        "REQUEST_METHOD": _method(request.method()),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(path, encoding="latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": os.environ.get("PORT", "80"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)) if body else "",
    }
    for name, value in request.headers().entries():
        value = value.decode("latin-1")
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        if key == "CONTENT_LENGTH":
            continue
        if key == "HOST":
            environ["SERVER_NAME"] = value.split(":")[0]
        if key == "X_FORWARDED_PROTO":
            environ["wsgi.url_scheme"] = value
        key = "HTTP_" + key
        environ[key] = environ[key] + "," + value if key in environ else value
    return environ


def _respond(response_out, status, headers, chunks):
    fields = Fields.from_list(
        [
            (name.lower(), value.encode("latin-1"))
            for name, value in headers
            if name.lower() not in _HOP_BY_HOP
        ]
    )
    response = OutgoingResponse(fields)
    response.set_status_code(status)
    body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    stream = body.write()
    for chunk in chunks:
        for start in range(0, len(chunk), 4096):
            stream.blocking_write_and_flush(chunk[start : start + 4096])
    stream.__exit__(None, None, None)
    OutgoingBody.finish(body, None)


def handler(module_name, callable_name):
    """An IncomingHandler class serving the WSGI callable `module_name:callable_name`."""
    module = __import__(module_name, fromlist=[callable_name])
    app = getattr(module, callable_name)

    class IncomingHandler(exports.IncomingHandler):
        def handle(self, request, response_out):
            environ = _environ(request, _read_body(request))
            started = {}
            written = []

            def start_response(status, headers, exc_info=None):
                if exc_info and started:
                    raise exc_info[1].with_traceback(exc_info[2])
                started["status"] = int(status.split(" ", 1)[0])
                started["headers"] = headers
                return written.append

            try:
                result = app(environ, start_response)
                try:
                    chunks = written + [bytes(chunk) for chunk in result]
                finally:
                    if hasattr(result, "close"):
                        result.close()
                _respond(response_out, started["status"], started["headers"], chunks)
            except Exception:
                traceback.print_exc()
                _respond(
                    response_out,
                    500,
                    [("Content-Type", "text/plain")],
                    [b"Internal Server Error\n"],
                )

    return IncomingHandler
