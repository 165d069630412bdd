"""Coverage-guided fuzzing (atheris) of the SPARQL request path up to and through pyoxigraph's parser.

Whatever bytes come in as a /sparql request, reading it (hkgraph.sparql_protocol), the guard, choosing the
result format and running the query (hkgraph.sparql_runner.execute: pyoxigraph's parser, the message that
points at a syntax error) raise only HkgraphError subclasses with a message, never anything else: so the
endpoint answers a 4xx that says what was wrong, or a result.

An input is a request: byte 0 picks how the rest is sent (GET, POST form, POST sparql-query with one of
several Content-Types, percent-encoded or raw), byte 1 the Accept header; the rest is the query's bytes.
Queries run on an empty store with no file or socket free, so none can be slow or reach anything.

Run: .venv/bin/python fuzz/fuzz_syntax.py [libFuzzer options] [corpus dir]; `make fuzz` runs it for
FUZZ_SECONDS with a corpus seeded from queries/*.rq (seed() below).
"""

from __future__ import annotations

import io
import os
import sys
from urllib.parse import quote_from_bytes

from flask import request

sys.path.insert(0, os.path.dirname(__file__))
from corpus import instrumented, no_new_descriptors, seed_corpus  # noqa: E402

with instrumented(__name__):  # coverage of hkgraph's code when run as a fuzzer
    from hkgraph.app import create_app
    from hkgraph.blueprints.sparql import make_job
    from hkgraph.config import Config
    from hkgraph.errors import HkgraphError
    from hkgraph.queries import named_queries
    from hkgraph.sparql_formats import HTML, JSON, NTRIPLES, choose_format
    from hkgraph.sparql_guard import inspect_query
    from hkgraph.sparql_protocol import read_request
    from hkgraph.sparql_runner import execute
    from hkgraph.store import Store

    CONFIG = Config(testing=True, max_rows=20, max_result_bytes=4096)
    STORE = Store()  # empty, with the endpoint's preset prefixes
    APP = create_app(CONFIG, store=STORE)  # imports the blueprints

from fuzz_guard import NEAR_THE_LIMITS  # noqa: E402  (after the block, which instruments what it imports)

FORM = "application/x-www-form-urlencoded"
QUERY = "application/sparql-query"
# (method, Content-Type, where the query goes: "url" percent-encoded, "raw" as is, or the "body";
# and a second parameter whose value follows the first NUL of the input)
TRANSPORTS = [
    ("GET", None, "url", None),
    ("GET", None, "raw", None),
    ("POST", FORM, "url", None),
    ("POST", FORM, "raw", None),
    ("POST", QUERY, "body", None),
    ("POST", QUERY + "; charset=utf-8", "body", None),
    ("POST", QUERY + "; charset=latin-1", "body", None),
    ("POST", "application/sparql-update", "body", None),
    ("POST", "text/plain", "body", None),
    ("POST", None, "body", None),
    ("GET", None, "url", "format"),
    ("GET", None, "url", "timeout"),
    ("GET", None, "url", "default-graph-uri"),
    ("POST", FORM, "url", "named-graph-uri"),
    ("GET", None, "url", "query"),
    ("POST", QUERY, "body", "format"),
]
ACCEPTS = [None, "application/sparql-results+json", "text/turtle", "text/html", "*/*", "text/csv", "image/png",
           "application/ld+json;q=0.5, text/html;q=0.9", "application/json", "text/plain;q=nan"]  # fmt: skip


def environ(data: bytes) -> dict:
    """The WSGI environ of the request an input describes (as a server builds it from the raw bytes)."""
    method, content_type, where, name = TRANSPORTS[data[0] % len(TRANSPORTS)]
    accept = ACCEPTS[data[1] % len(ACCEPTS)]
    query, _, value = data[2:].partition(b"\x00") if name else (data[2:], b"", b"")
    parameters = {"url": b"query=" + percent(query), "raw": b"query=" + query, "body": b""}[where]
    if name:
        parameters += (b"&" if parameters else b"") + name.encode() + b"=" + percent(value)
    body = query if where == "body" else b""
    if method == "POST" and content_type == FORM:
        body, parameters = parameters, b""
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/sparql",
        "QUERY_STRING": parameters.decode("latin-1"),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
    }
    if content_type:
        env["CONTENT_TYPE"] = content_type
    if accept:
        env["HTTP_ACCEPT"] = accept
    return env


def percent(raw: bytes) -> bytes:
    return quote_from_bytes(raw, safe="").encode("ascii")


def handle(data: bytes) -> None:
    """What the endpoint does with the request up to its result (but rendering the HTML page)."""
    with APP.request_context(environ(data)):
        req = read_request(request, CONFIG.query_timeout, CONFIG.max_request_bytes)
        if req.query is None:
            return
        shape = inspect_query(req.query)
        fmt = choose_format(shape.kind, request.environ.get("HTTP_ACCEPT"), req.format, html=True)
        if fmt is HTML:  # the page runs the query for its table in these formats
            fmt = NTRIPLES if shape.kind == "graph" else JSON
        job = make_job(req, shape.has_dataset_clause, fmt.key, CONFIG)
        with no_new_descriptors():
            execute(STORE, job)


def check(data: bytes) -> None:
    """Fail if anything but an HkgraphError with a message comes out."""
    if len(data) < 2:
        return
    try:
        handle(data)
    except HkgraphError as err:
        assert err.message.strip(), f"{type(err).__name__} without a message for {data!r}"


def seed(query: bytes) -> list[bytes]:
    """Inputs that send a real query in a few ways."""
    return [bytes([transport, accept]) + query for transport, accept in ((0, 0), (2, 1), (4, 2), (1, 3))]


def main() -> None:
    import atheris

    queries = [q.text.encode() for q in named_queries()] + [q.encode() for q in NEAR_THE_LIMITS]
    seed_corpus(sys.argv, [data for query in queries for data in seed(query)])
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
