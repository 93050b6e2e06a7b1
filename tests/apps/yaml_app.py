"""A WSGI app that parses YAML: pyyaml loads in a subinterpreter, without libyaml.

Runs in: the server under test (any worker kind).
"""

from __future__ import annotations

import json

import yaml


def app(environ, start_response):
    doc = yaml.safe_load("a: [1, 2]\nb: text\n")
    body = json.dumps({"doc": doc, "libyaml": bool(getattr(yaml, "__with_libyaml__", False))})
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body.encode()]
