"""The fast path (hkgraph.sparql_fastpath): plain SPARQL GETs answered without Flask get the answer Flask's
endpoint gives, byte for byte but the timing; everything else is left to Flask; errors of a query that ran,
fair use and the access log work as on the Flask path."""

from __future__ import annotations

import gzip
import json

import pytest
from flask import Flask
from werkzeug.test import EnvironBuilder

from hkgraph.app import create_app
from hkgraph.config import Config
from hkgraph.ratelimit import client_key
from hkgraph.sparql_fastpath import FastPath

ITC = "https://w3id.org/hkgraph/id/org/itc"
LABELS = "SELECT ?s ?label WHERE { ?s rdfs:label ?label } ORDER BY ?s ?label"
CLIENT = "203.0.113.7"  # a documentation address: not loopback, so fair use applies


def environ(query_string: dict | None = None, headers: dict | None = None, method: str = "GET", **kwargs):
    builder = EnvironBuilder(
        path="/sparql", method=method, query_string=query_string, headers=headers, **kwargs
    )
    return builder.get_environ()


def call(wsgi, env: dict) -> tuple[str, dict, bytes]:
    """Status, headers (Server-Timing, which holds timings, left out) and body, un-gzipped."""
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer.update(status=status, headers=headers)

    chunks = wsgi(env, start_response)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    headers = {k: v for k, v in answer["headers"] if k != "Server-Timing"}
    if headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
        headers.pop("Content-Length")
    return answer["status"], headers, body


def flask_only(app):
    """Flask's own WSGI app: the endpoint without the fast path or the response cache in front."""
    return lambda env, start_response: Flask.wsgi_app(app, env, start_response)


def fast_only(app):
    """The fast path that fails the test if it leaves the request to Flask."""

    def must_not_reach_flask(env, start_response):
        raise AssertionError(f"the fast path left {env['QUERY_STRING']!r} to Flask")

    return FastPath(app, must_not_reach_flask)


PLAIN = [
    ({"query": LABELS}, {"Accept": "application/sparql-results+json"}),
    ({"query": LABELS}, {"Accept": "application/sparql-results+xml"}),
    ({"query": LABELS, "format": "csv"}, {}),
    ({"query": LABELS, "output": "tsv"}, {}),
    ({"query": LABELS}, {"Accept": "text/csv;q=0.5, text/tab-separated-values"}),
    ({"query": LABELS}, {"Accept": "*/*"}),
    ({"query": LABELS}, {}),
    ({"query": f"ASK {{ <{ITC}> ?p ?o }}"}, {"Accept": "application/sparql-results+json"}),
    ({"query": f"DESCRIBE <{ITC}>"}, {"Accept": "application/ld+json"}),
    ({"query": f"DESCRIBE <{ITC}>"}, {"Accept": "text/turtle"}),
    ({"query": f"CONSTRUCT WHERE {{ <{ITC}> ?p ?o }}", "format": "ntriples"}, {}),
    ({"query": LABELS}, {"Accept": "application/json", "Accept-Encoding": "gzip, deflate"}),
    ({"query": LABELS}, {"Accept": "application/json", "Accept-Encoding": "gzip;q=0, br"}),
    ({"query": "SELECT ?s WHERE { ?s ?p ?o } LIMIT 2", "timeout": "3"}, {}),
    (
        {
            "query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
            "default-graph-uri": "https://w3id.org/hkgraph/graph/data",
        },
        {},
    ),  # fmt: skip
    (
        {"query": "SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g ORDER BY ?g"},
        {"User-Agent": "curl/8"},
    ),
]


@pytest.mark.parametrize(("params", "headers"), PLAIN)
def test_the_fast_path_answers_as_the_flask_endpoint_does(app, params, headers):
    fast = call(fast_only(app), environ(params, headers))
    slow = call(flask_only(app), environ(params, headers))
    assert fast[0] == slow[0] == "200 OK"
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]


def test_a_result_cut_at_the_row_cap_is_a_206_on_both_paths(store, dumps_dir):
    app = create_app(Config(testing=True, dumps_dir=str(dumps_dir), max_rows=3), store=store)
    params = {"query": LABELS, "format": "json"}
    fast = call(fast_only(app), environ(params))
    slow = call(flask_only(app), environ(params))
    assert fast == slow
    assert fast[0] == "206 PARTIAL CONTENT"
    assert fast[1]["X-SPARQL-Truncated"] == "rows"
    assert len(json.loads(fast[2])["results"]["bindings"]) == 3


LEFT_TO_FLASK = [
    ("POST", {"query": LABELS}, {}),
    ("HEAD", {"query": LABELS}, {}),
    ("GET", {}, {"Accept": "text/turtle"}),  # the service description
    ("GET", {"query": LABELS}, {"Accept": "text/html"}),  # the UI
    ("GET", {"query": LABELS}, {"If-None-Match": 'W/"x"'}),
    ("GET", {"query": LABELS, "lang": "en"}, {}),  # a parameter the fast path does not read
    ("GET", {"query": "SELECT * WHERE { SERVICE <http://example.org/> { ?s ?p ?o } }"}, {}),
    ("GET", {"query": "INSERT DATA { <a:b> <a:c> <a:d> }"}, {}),
    ("GET", {"query": LABELS, "update": "CLEAR ALL"}, {}),
    ("GET", [("query", LABELS), ("query", LABELS)], {}),
    ("GET", {"query": "  "}, {}),
    ("GET", {"query": LABELS, "format": "pdf"}, {}),
    ("GET", {"query": LABELS, "timeout": "soon"}, {}),
    ("GET", {"query": LABELS}, {"Accept": "image/png"}),
    ("GET", {"query": LABELS, "default-graph-uri": "not an IRI"}, {}),
    ("GET", "query=SELECT%20%FF", {}),  # not UTF-8
]


@pytest.mark.parametrize(("method", "params", "headers"), LEFT_TO_FLASK)
def test_anything_but_a_plain_query_is_left_to_flask(app, method, params, headers):
    reached = []

    def flask_app(env, start_response):
        reached.append(env["REQUEST_METHOD"])
        start_response("204 NO CONTENT", [])
        return [b""]

    status, _, _ = call(FastPath(app, flask_app), environ(params, headers, method=method))
    assert reached == [method]
    assert status == "204 NO CONTENT"


@pytest.mark.parametrize(
    ("query", "accept", "status", "message"),
    [
        ("SELECT", "application/json", "400 BAD REQUEST", "syntax error"),
        (
            "SELECT ?s WHERE { ?s ?p ?o } LIMIT x",
            "application/sparql-results+json",
            "400 BAD REQUEST",
            "syntax error",
        ),
        ("SELECT ?x WHERE { BIND(<nope> AS ?x) }", "*/*", "400 BAD REQUEST", "nope"),
    ],
)
def test_the_error_of_a_query_that_ran_is_flasks_own_answer(app, query, accept, status, message):
    """A query the fast path took fails when it runs: Flask's error handling answers, the same as when the
    Flask endpoint ran it."""
    params, headers = {"query": query}, {"Accept": accept}
    fast = call(fast_only(app), environ(params, headers))
    slow = call(flask_only(app), environ(params, headers))
    assert fast == slow
    assert fast[0] == status
    assert message in fast[2].decode()


def test_the_access_log_line_is_the_flask_paths_line(store, dumps_dir, capsys):
    config = Config(testing=True, dumps_dir=str(dumps_dir), access_log=True)
    params, headers = {"query": LABELS}, {"User-Agent": "logged/1"}
    for path in (fast_only, flask_only):  # an app each: neither answers from the other's result cache
        call(
            path(create_app(config, store=store)),
            environ(params, headers, environ_base={"REMOTE_ADDR": CLIENT}),
        )
    fast, slow = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    varying = ("time", "ms", "query_ms")
    assert {k: v for k, v in fast.items() if k not in varying} == {
        k: v for k, v in slow.items() if k not in varying
    }
    assert fast["status"] == 200 and fast["agent"] == "logged/1" and fast["remote"] == CLIENT
    assert fast["query_ms"] > 0


def limited(store, dumps_dir, **limits):
    config = Config(testing=True, dumps_dir=str(dumps_dir), **limits)
    app = create_app(config, store=store)
    return app, app.extensions["hkgraph.ratelimit"]


def test_a_query_on_the_fast_path_is_charged_its_query_time(store, dumps_dir):
    app, limiter = limited(store, dumps_dir)
    env = environ({"query": LABELS + " LIMIT 40"}, environ_base={"REMOTE_ADDR": CLIENT})
    fast = FastPath(app, None)
    answer = {}
    b"".join(fast(env, lambda status, headers: answer.update(headers=dict(headers))))
    query_ms = float(answer["headers"]["Server-Timing"].split("dur=")[1].split(",")[0])
    running, seconds, failures = limiter.usage(client_key(CLIENT)[0])
    assert (running, failures) == (0, 0)
    assert seconds == pytest.approx(query_ms / 1000)


def test_failing_queries_on_the_fast_path_count_and_then_flask_refuses(store, dumps_dir):
    app, limiter = limited(store, dumps_dir, errors_per_minute=2)
    client = app.test_client()

    def get(query):
        return client.get(
            "/sparql",
            query_string={"query": query},
            headers={"Accept": "application/json"},
            environ_base={"REMOTE_ADDR": CLIENT},
        )

    assert [get(q).status_code for q in ("SELECT", "ASK {}", "ASK {")] == [400, 200, 400]
    assert limiter.usage(client_key(CLIENT)[0])[2] == 2
    refused = get("ASK { ?s ?p ?o }")
    assert refused.status_code == 429
    assert "at most 2 are allowed per minute" in refused.json["error"]
    assert refused.headers["Retry-After"]


def test_a_client_at_its_concurrency_limit_is_refused_by_flask(store, dumps_dir):
    app, limiter = limited(store, dumps_dir, max_concurrent_per_client=1)
    ticket = limiter.admit(client_key(CLIENT)[0], sparql=True)  # one request of the client still running
    response = app.test_client().get(
        "/sparql", query_string={"query": "ASK {}"}, environ_base={"REMOTE_ADDR": CLIENT}
    )
    assert response.status_code == 429
    assert "RateLimit-Policy" in response.headers
    limiter.finish(ticket, 0.0, failed=False)
