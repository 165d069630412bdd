"""Hard limits: a result cap with an explicit truncation signal, a query time limit that stops runaway
queries while others are answered, a memory cap per query, and a request size cap."""

from __future__ import annotations

import csv
import io
import json
import threading

import pyoxigraph as ox
import pytest
import requests
from conftest import in_forked_child

from hkgraph.app import create_app
from hkgraph.config import Config
from hkgraph.sparql_runner import Job, execute
from hkgraph.sparql_watchdog import Watchdog

ALL_LABELS = "SELECT ?s ?label WHERE { ?s rdfs:label ?label } ORDER BY ?s ?label"
ALL_LABEL_TRIPLES = "CONSTRUCT { ?s rdfs:label ?label } WHERE { ?s rdfs:label ?label }"
COUNT_CROSS_JOIN = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
ORDER_CROSS_JOIN = "SELECT ?a ?d WHERE { ?a ?b ?c . ?d ?e ?f } ORDER BY ?c ?f LIMIT 1"


def limited_client(dumps_dir, store, **limits):
    config = Config(testing=True, dumps_dir=str(dumps_dir), **limits)
    return create_app(config, store=store).test_client()


def solution_count(response) -> int:
    if response.mimetype == "text/csv":
        return len(list(csv.DictReader(io.StringIO(response.get_data(as_text=True)))))
    fmt = ox.QueryResultsFormat.from_media_type(response.mimetype)
    return len(list(ox.parse_query_results(response.data, fmt)))


def triple_count(response) -> int:
    return len(list(ox.parse(response.data, format=ox.RdfFormat.from_media_type(response.mimetype))))


@pytest.mark.parametrize("fmt", ["json", "xml", "csv", "tsv"])
def test_rows_over_the_cap_are_cut_with_206_and_headers(dumps_dir, store, fmt):
    assert len(store.select(ALL_LABELS)) > 10
    client = limited_client(dumps_dir, store, max_rows=10)
    response = client.get("/sparql", query_string={"query": ALL_LABELS, "format": fmt})
    assert response.status_code == 206
    assert response.headers["X-SPARQL-Truncated"] == "rows"
    assert response.headers["X-SPARQL-MaxRows"] == "10"
    assert response.headers["X-SPARQL-Rows"] == "10"
    assert response.headers["Cache-Control"] == "no-store"
    assert solution_count(response) == 10  # a complete, parseable document with the first rows


@pytest.mark.parametrize("fmt", ["turtle", "ntriples", "nquads", "trig", "jsonld", "rdfxml"])
def test_triples_over_the_cap_are_cut_with_206(dumps_dir, store, fmt):
    client = limited_client(dumps_dir, store, max_rows=7)
    response = client.get("/sparql", query_string={"query": ALL_LABEL_TRIPLES, "format": fmt})
    assert response.status_code == 206
    assert response.headers["X-SPARQL-Truncated"] == "rows"
    assert triple_count(response) == 7


@pytest.mark.parametrize("fmt", ["json", "xml", "tsv", "turtle"])
def test_bytes_over_the_cap_are_cut_at_a_row_boundary(dumps_dir, store, fmt):
    client = limited_client(dumps_dir, store, max_result_bytes=3000)
    query = ALL_LABEL_TRIPLES if fmt == "turtle" else ALL_LABELS
    response = client.get("/sparql", query_string={"query": query, "format": fmt})
    assert response.status_code == 206
    assert response.headers["X-SPARQL-Truncated"] == "bytes"
    assert len(response.data) <= 3000
    kept = triple_count(response) if fmt == "turtle" else solution_count(response)
    assert 0 < kept == int(response.headers["X-SPARQL-Rows"]) < len(store.select(ALL_LABELS))


# Literals holding what each format's rows are counted by ("},{", "<result", newlines), many times over.
MARKED_ROWS = 'SELECT ?x WHERE { VALUES ?x { "},{},{},{ <result> <result/>\\n\\n\\n" "<result},{\\n},{<result" } } ORDER BY ?x'


@pytest.mark.parametrize("fmt", ["json", "xml", "csv", "tsv"])
def test_rows_that_look_like_many_are_counted_exactly(dumps_dir, store, fmt):
    """A result is written once and its rows bounded by counting marks in it; where literals hold such marks
    the bound is too high, so the rows are counted exactly: two rows under a cap of two are not cut."""
    client = limited_client(dumps_dir, store, max_rows=2)
    response = client.get("/sparql", query_string={"query": MARKED_ROWS, "format": fmt})
    assert response.status_code == 200
    assert "X-SPARQL-Truncated" not in response.headers
    assert solution_count(response) == 2
    cut = limited_client(dumps_dir, store, max_rows=1).get(
        "/sparql", query_string={"query": MARKED_ROWS, "format": fmt}
    )
    assert cut.status_code == 206
    assert cut.headers["X-SPARQL-Truncated"] == "rows"
    assert solution_count(cut) == 1


def test_a_result_that_fits_exactly_is_not_marked(dumps_dir, store):
    client = limited_client(dumps_dir, store, max_rows=10)
    response = client.get("/sparql", query_string={"query": ALL_LABELS + " LIMIT 10", "format": "json"})
    assert response.status_code == 200
    assert "X-SPARQL-Truncated" not in response.headers
    assert solution_count(response) == 10


def test_timeout_parameter_stops_a_runaway_query(client):
    response = client.get("/sparql", query_string={"query": COUNT_CROSS_JOIN, "timeout": "0.5"})
    assert response.status_code == 503
    assert "time limit of 0.5 s" in response.get_data(as_text=True)
    after = client.get("/sparql", query_string={"query": "ASK { ?s ?p ?o }", "format": "json"})
    assert after.json["boolean"] is True  # a fresh runner answers the next query


def test_timeout_parameter_cannot_exceed_the_servers_limit(dumps_dir, store):
    client = limited_client(dumps_dir, store, query_timeout=0.5)
    response = client.get("/sparql", query_string={"query": COUNT_CROSS_JOIN, "timeout": "60"})
    assert response.status_code == 503
    assert "time limit of 0.5 s" in response.get_data(as_text=True)


@pytest.mark.embedded_only(
    "query_memory_bytes caps the address space of the runner process, which only the embedded store has; a "
    "triplestore's queries are bounded by its own memory settings (Virtuoso: MaxQueryMem in virtuoso.ini)"
)
def test_memory_cap_stops_a_query_that_grows(dumps_dir, store):
    client = limited_client(dumps_dir, store, query_memory_bytes=64 * 1024 * 1024, query_timeout=20)
    response = client.get("/sparql", query_string={"query": ORDER_CROSS_JOIN})
    assert response.status_code == 503
    assert "more memory" in response.get_data(as_text=True)


def watchdog_answer(error, seconds: float, environ: dict) -> bytes:
    return f"HTTP/1.1 {error.status} after {seconds:.1f} s\r\n\r\n{error.message}".encode()


@pytest.mark.embedded_only(
    "the watchdog runs queries of the embedded store; a triplestore has its own limits"
)
@pytest.mark.parametrize(
    ("query", "timeout", "memory", "expected"),
    [
        (COUNT_CROSS_JOIN, 0.5, 0, "time limit of 0.5 s"),
        (ORDER_CROSS_JOIN, 30, 64 * 1024 * 1024, "more memory"),
    ],
    ids=["time", "memory"],
)
def test_watchdog_answers_a_runaway_query_and_ends_its_process(store, query, timeout, memory, expected):
    """Under `hkgraph serve` a query runs in its gunicorn worker: past its time limit, or past its memory
    allowance, the watchdog thread writes the answer on the client's socket and ends the process (here a
    forked child; gunicorn would start a fresh worker). The query itself never finishes."""

    def worker(client):
        watchdog = Watchdog(memory, watchdog_answer)
        watchdog.run(timeout, {"gunicorn.socket": client}, lambda: execute(store, Job(query, "json")))
        client.sendall(b"the query finished")

    answer = in_forked_child(worker).decode()
    assert answer.startswith("HTTP/1.1 503 after")
    assert expected in answer
    assert "finished" not in answer


@pytest.mark.parametrize(
    ("runaway", "accept", "method"),
    [
        (COUNT_CROSS_JOIN, "application/sparql-results+json", "POST"),
        (ORDER_CROSS_JOIN, "application/json", "POST"),
        (COUNT_CROSS_JOIN + " # by GET", "application/sparql-results+json", "GET"),  # the fast path
    ],
    ids=["count", "order-by", "count-by-get"],
)
def test_live_server_stops_runaway_query_and_answers_others_meanwhile(sparql_server, runaway, accept, method):
    """Against real gunicorn: the runaway gets an HTTP error (not a hung connection), in the format the
    client reads errors in, with CORS headers and a line in the access log; while it is still running,
    another client's simple query is answered."""
    from conftest import SPARQL_SERVER_TIMEOUT

    outcome = {}

    def slow_client():
        where = {"data": {"query": runaway}} if method == "POST" else {"params": {"query": runaway}}
        outcome["response"] = requests.request(
            method, sparql_server.endpoint, **where, headers={"Accept": accept, "User-Agent": runaway},
            timeout=SPARQL_SERVER_TIMEOUT + 20,
        )  # fmt: skip

    thread = threading.Thread(target=slow_client)
    thread.start()
    simple = requests.get(
        sparql_server.endpoint, params={"query": "SELECT ?s WHERE { ?s rdfs:label ?label } LIMIT 3"},
        headers={"Accept": "application/sparql-results+json"}, timeout=SPARQL_SERVER_TIMEOUT + 20,
    )  # fmt: skip
    answered_while_running = thread.is_alive()
    thread.join()
    assert simple.status_code == 200
    assert len(simple.json()["results"]["bindings"]) == 3
    assert answered_while_running
    response = outcome["response"]
    assert response.status_code == 503
    # the time limit, or for the sort the per-query memory cap, whichever it reaches first
    message = response.json()["error"] if accept == "application/json" else response.text
    assert f"time limit of {SPARQL_SERVER_TIMEOUT:g} s" in message or "more memory" in message
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    logged = [json.loads(line) for line in sparql_server.log.read_text().splitlines() if line.startswith("{")]
    assert [e["status"] for e in logged if e["agent"] == runaway] == [503]
    after = requests.get(sparql_server.endpoint, params={"query": "ASK {}", "format": "json"}, timeout=10)
    assert after.json()["boolean"] is True
