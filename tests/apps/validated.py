"""An app wrapped in wsgiref.validate.validator: any PEP 3333 breach by the
server raises AssertionError inside the worker (and shows in the server log).

Runs in: worker interpreters.
"""

from __future__ import annotations

from wsgiref.validate import validator


def _app(environ, start_response):
    method = environ["REQUEST_METHOD"]
    if method == "POST":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        reply = b"got %d bytes: %s" % (len(body), body)
    else:
        reply = f"{method} {environ['PATH_INFO']}?{environ['QUERY_STRING']}".encode()
    environ["wsgi.errors"].flush()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(reply)))])
    return [reply]


app = validator(_app)
