"""The fast path for the commonest SPARQL request: a GET of /sparql?query=... asking for results.

Flask's request machinery (contexts, hooks, header objects) costs more than a simple query does, so such a
request is answered here in plain WSGI, with the same checks, limits, headers and access log as the
endpoint in hkgraph.blueprints.sparql (tests/test_sparql_fastpath.py compares the two answer by answer).
Everything else goes on to Flask: another method or path, a parameter not read here, a conditional request,
a browser asking for the UI, and any request refused before its query runs (Flask refuses it again, with
its own error page). The error of a query that ran is answered by Flask's error handling, in a request
context made for it then.
"""

from __future__ import annotations

import time

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from hkgraph.access_log import access_entry, write_access_line
from hkgraph.app import COMPRESSIBLE, GZIP_MIN_BYTES, accepts_gzip, data_headers, gzip_body
from hkgraph.blueprints.sparql import (
    cache_and_time,
    error_after_query,
    make_job,
    query_engine,
    results_headers,
)
from hkgraph.errors import RateLimited
from hkgraph.sparql_formats import HTML, choose_format
from hkgraph.sparql_guard import inspect_query
from hkgraph.sparql_protocol import decode_parameters, sparql_request
from hkgraph.sparql_runner import Job

PATH = "/sparql"
PARAMETERS = {"query", "format", "output", "timeout", "default-graph-uri", "named-graph-uri"}


class FastPath:
    """WSGI middleware in front of Flask: answers plain SPARQL GETs itself, passes on everything else."""

    def __init__(self, app: Flask, next_app):
        self.app = app
        self.next = next_app  # Flask's own wsgi_app
        self.config = app.config["HKGRAPH"]
        self.store = app.extensions["hkgraph.store"]
        self.limiter = app.extensions["hkgraph.ratelimit"]
        self.data_headers = data_headers(self.config.cors)

    def __call__(self, environ, start_response):
        if (
            environ["REQUEST_METHOD"] != "GET"
            or environ.get("PATH_INFO") != PATH
            or "HTTP_IF_NONE_MATCH" in environ
        ):
            return self.next(environ, start_response)
        started = time.perf_counter()
        try:
            job = self.plain_job(environ)
        except Exception:  # noqa: BLE001 - Flask reads the request again and answers whatever is wrong
            job = None
        if job is None:
            return self.next(environ, start_response)
        ticket = None
        key = self.limiter.key(environ)
        if key is not None:
            try:
                ticket = self.limiter.admit(key, sparql=True)
            except RateLimited:  # Flask refuses it with its 429 page and headers
                return self.next(environ, start_response)
        query_id = job.digest()
        environ.update(
            {"hkgraph.started": started, "hkgraph.query_id": query_id, "hkgraph.rate_ticket": ticket}
        )
        try:
            outcome, hit = query_engine(self.app).run(job, environ)
        except Exception as error:  # noqa: BLE001 - answered (and charged) by Flask's error handling
            response = error_after_query(self.app, environ, error, time.perf_counter() - started)
            return response(environ, start_response)
        cache, query_ms = cache_and_time(outcome, hit)
        tag = f"{self.store.version}-{query_id}"
        code, headers = results_headers(job, outcome, tag, cache, query_ms, self.config)
        body, content_type = outcome.body, outcome.format.content_type
        headers = [(k, f"{v}, Accept-Encoding" if k == "Vary" else v) for k, v in headers]
        compressible = len(body) >= GZIP_MIN_BYTES and content_type.startswith(COMPRESSIBLE)
        if compressible and accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", "")):
            body = gzip_body(body)
            headers.append(("Content-Encoding", "gzip"))
        headers += [("Content-Type", content_type), ("Content-Length", str(len(body))), *self.data_headers]
        if self.config.access_log:
            write_access_line(
                access_entry(environ, PATH, code, len(body), started, query_ms, cache, query_id)
                | {"limit": None}
            )
        if ticket is not None:
            self.limiter.finish(ticket, query_ms / 1000, failed=False)
        start_response(f"{code} {HTTP_STATUS_CODES[code].upper()}", headers)
        return [body]

    def plain_job(self, environ) -> Job | None:
        """The query job of a plain GET, or None if Flask should read the request."""
        raw = environ.get("QUERY_STRING", "")
        if not raw or len(raw) > self.config.max_request_bytes:
            return None
        params: dict[str, list[str]] = {}
        for name, value in decode_parameters(raw.encode("latin-1"), "URL"):
            if name not in PARAMETERS:
                return None
            params.setdefault(name, []).append(value)
        req = sparql_request(params, None, self.config.query_timeout)
        if req.query is None:
            return None
        shape = inspect_query(req.query)
        fmt = choose_format(shape.kind, environ.get("HTTP_ACCEPT"), req.format, html=True)
        if fmt is HTML:
            return None
        return make_job(req, shape.has_dataset_clause, fmt.key, self.config)
