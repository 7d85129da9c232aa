"""The Python hello app of Kumo's benchmarks (scripts/bench languages): a
wasi:http handler of its own, built by Kumo's Python buildpack with
componentize-py, answering as the Rust and JavaScript hello apps do."""

import os

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports.types import Fields, OutgoingBody, OutgoingResponse, ResponseOutparam


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request, response_out):
        found = request.path_with_query() in ("/", None)
        response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
        if found:
            text = f"Hello from Kumo! Served by {os.environ.get('DYNO')} of release {os.environ.get('KUMO_RELEASE_VERSION')}.\n"
        else:
            response.set_status_code(404)
            text = "Not found.\n"
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        stream = body.write()
        stream.blocking_write_and_flush(text.encode())
        stream.__exit__(None, None, None)
        OutgoingBody.finish(body, None)
