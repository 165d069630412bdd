"""Read-only and safe: updates are refused and change nothing; SERVICE is refused before evaluation and no
connection ever leaves the server (a local socket listener counts them)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import requests
from conftest import in_forked_child
from hypothesis import given, settings
from hypothesis import strategies as st

from hkgraph.errors import QueryFailed
from hkgraph.sparql_guard import (
    first_keyword,
    inspect_query,
    tokenized_first_keyword,
    with_prefix_declarations,
)
from hkgraph.sparql_runner import Job, QueryRunner, execute
from hkgraph.sparql_watchdog import Watchdog


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections made to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/sparql"
        self.connections = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def settled_count(self) -> int:
        time.sleep(0.05)  # let the accept thread count a connection that was just made
        return self.connections


@pytest.fixture(scope="module")
def listener():
    server = Listener()
    yield server
    server.sock.close()


def service_queries(url: str) -> list[str]:
    return [
        f"SELECT * WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
        f"select * where {{ service <{url}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SeRvIcE SILENT <{url}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{\n  SERVICE\n\t<{url}>\n  {{ ?s ?p ?o }}\n}}",
        f"SELECT * WHERE {{ SERVICE# a comment between keyword and IRI\n<{url}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ ?s ?p ?o .SERVICE<{url}>{{?s ?p ?o}} }}",
        f"SELECT * WHERE {{ {{ ?s ?p ?o }}SERVICE<{url}>{{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ ?s ?p 1SERVICE <{url}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ ?s ?p trueSERVICE <{url}> {{ ?s ?p ?o }} }}",
        f'SELECT * WHERE {{ ?s ?p "x"SERVICE <{url}> {{ ?s ?p ?o }} }}',
        f"PREFIX : <{url}#> SELECT * WHERE {{ ?s ?p ?o . SERVICE:x {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ ?s ?p ?o OPTIONAL {{ {{ SELECT * WHERE {{ SERVICE <{url}> {{ ?a ?b ?c }} }} }} }} }}",
        f"SELECT * WHERE {{ ?s ?p ?o FILTER EXISTS {{ SERVICE <{url}> {{ ?s ?p ?o }} }} }}",
        f"SELECT * WHERE {{ {{ ?s ?p ?o }} UNION {{ MINUS {{ SERVICE <{url}> {{ ?s ?p ?o }} }} }} }}",
        f"SELECT * WHERE {{ BIND(<{url}> AS ?x) SERVICE ?x {{ ?s ?p ?o }} }}",
        f"ASK {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
        f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
        f"DESCRIBE ?s WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ \\u0053ERVICE <{url}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ <http://x/\\u0041#frag> ?p ?o SERVICE <{url}> {{ ?s ?p ?o }} }}",
    ]


@pytest.mark.embedded_only(
    "the control runs SERVICE straight on pyoxigraph; a remote store refuses SERVICE itself, so nothing "
    "connects (test_backends.py checks that)"
)
def test_the_listener_sees_what_pyoxigraph_does_without_the_guard(store, listener):
    """The control: run straight on pyoxigraph, SERVICE does connect (so the tests below can fail)."""
    before = listener.connections
    with pytest.raises(Exception):  # noqa: B017 - whatever the engine makes of the closed connection
        list(store.query(service_queries(listener.url)[0]))
    assert listener.settled_count() > before


@pytest.mark.parametrize("index", range(len(service_queries("u"))))
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_service_is_refused_before_evaluation(client, listener, index, method):
    query = service_queries(listener.url)[index]
    before = listener.connections
    if method == "GET":
        response = client.get("/sparql", query_string={"query": query})
    else:
        response = client.post("/sparql", data=query.encode(), content_type="application/sparql-query")
    assert response.status_code == 400, query
    assert "SERVICE is not allowed" in response.get_data(as_text=True)
    assert listener.settled_count() == before


ALLOWED = [
    "SELECT ?service WHERE { ?service a hkg:DigitalService }",
    "SELECT * WHERE { ?s a <http://example.org/SERVICE> }",
    'SELECT * WHERE { ?s rdfs:label "SERVICE <http://127.0.0.1:1/> { }" }',
    "SELECT * WHERE { ?s ?p ?o } LIMIT 1 # SERVICE <http://127.0.0.1:1/> { ?s ?p ?o }",
    "SELECT * WHERE { ?s ?p '''\nSERVICE <http://127.0.0.1:1/> {}\n''' }",
    "SELECT $Service WHERE { $Service a hkg:DigitalService }",
    "PREFIX ex: <http://example.org/> SELECT * WHERE { ?s ex:service ?o }",
]


@pytest.mark.parametrize("query", ALLOWED)
def test_service_in_names_strings_iris_and_comments_is_fine(client, query):
    response = client.get("/sparql", query_string={"query": query})
    assert response.status_code == 200, response.data


@pytest.mark.embedded_only(
    "runner processes exist only for the embedded store; a remote store's SERVICE and "
    "update refusal is tested in test_backends.py"
)
def test_runner_cannot_open_a_socket_even_if_the_guard_is_bypassed(store, listener):
    """Defence in depth: the runner process has no free file descriptor, so SERVICE cannot connect."""
    runner = QueryRunner(store, memory_limit=0)
    try:
        before = listener.connections
        with pytest.raises(QueryFailed, match="the query failed while running"):
            runner.run(Job(query=service_queries(listener.url)[0], format_key="json"))
        assert listener.settled_count() == before
        assert (
            runner.run(Job(query="ASK { ?s ?p ?o }", format_key="json")).body == b'{"head":{},"boolean":true}'
        )
    finally:
        runner.stop()


@pytest.mark.embedded_only(
    "the watchdog runs queries of the embedded store; a remote store's are tested in test_backends.py"
)
def test_worker_cannot_open_a_socket_while_its_query_runs(store, listener):
    """Defence in depth under `hkgraph serve`, where a query runs in its gunicorn worker: while it runs, no
    file descriptor is free (the limit is the lowest free one), so SERVICE cannot connect; afterwards the
    worker opens sockets again. (In a forked child, as the watchdog may end its process.)"""

    def worker(client):
        watchdog = Watchdog(0, None)
        query = Job(query=service_queries(listener.url)[0], format_key="json")
        try:
            watchdog.run(10, {"gunicorn.socket": client}, lambda: execute(store, query))
            client.sendall(b"the query ran")
        except QueryFailed as err:
            client.sendall(err.message.encode())
        socket.socket().close()  # the limit is back once the query has run
        client.sendall(b"; a socket opens after it")

    before = listener.connections
    outcome = in_forked_child(worker).decode()
    assert (
        outcome
        == "the query failed while running: Too many open files (os error 24); a socket opens after it"
    )
    assert listener.settled_count() == before


def test_live_server_refuses_service_and_connects_nowhere(sparql_server, listener):
    """The real gunicorn server refuses SERVICE before evaluation: 400, and the listener sees no connection."""
    before = listener.connections
    for query in service_queries(listener.url)[:3]:
        response = requests.post(sparql_server.endpoint, data={"query": query}, timeout=10)
        assert response.status_code == 400
        assert "SERVICE is not allowed" in response.text
    assert listener.settled_count() == before


def update_requests(url: str) -> list[dict]:
    insert = "INSERT DATA { <http://example.org/s> <http://example.org/p> <http://example.org/o> }"
    return [
        {"method": "GET", "query_string": {"update": insert}},
        {"method": "POST", "data": {"update": insert}},
        {"method": "POST", "data": insert.encode(), "content_type": "application/sparql-update"},
        {"method": "POST", "data": {"query": insert}},
        {
            "method": "POST",
            "data": {"query": "insert data { <http://example.org/s> <http://example.org/p> 1 }"},
        },
        {
            "method": "GET",
            "query_string": {"query": "PREFIX ex: <http://example.org/>\nDELETE WHERE { ?s ?p ?o }"},
        },
        {
            "method": "GET",
            "query_string": {"query": "WITH <http://x/g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }"},
        },
        {"method": "GET", "query_string": {"query": "CLEAR ALL"}},
        {"method": "GET", "query_string": {"query": "DROP SILENT DEFAULT"}},
        {"method": "GET", "query_string": {"query": f"LOAD <{url}>"}},
        {"method": "POST", "data": {"update": f"LOAD <{url}>"}},
        {"method": "GET", "query_string": {"query": "ASK {}", "update": "CLEAR ALL"}},
        {"method": "GET", "query_string": {"query": "ASK {}", "using-graph-uri": "http://x/g"}},
    ]


@pytest.mark.parametrize("index", range(len(update_requests("u"))))
def test_updates_are_refused_and_change_nothing(client, store, listener, index):
    kwargs = update_requests(listener.url)[index]
    size, before = len(store), listener.connections
    response = client.open("/sparql", **kwargs)
    assert response.status_code == 403, response.data
    assert "read-only" in response.get_data(as_text=True)
    assert len(store) == size
    assert listener.settled_count() == before
    check = client.get(
        "/sparql", query_string={"query": "ASK { <http://example.org/s> ?p ?o }", "format": "json"}
    )
    assert check.json["boolean"] is False


def test_guard_reads_form_and_dataset_clause():
    assert inspect_query("PREFIX x: <http://x/> select * { ?s ?p ?o }").form == "SELECT"
    assert inspect_query("BASE <http://x/> DESCRIBE <a>").kind == "graph"
    assert inspect_query("SELECT * FROM <http://x/g> { ?s ?p ?o }").has_dataset_clause
    assert not inspect_query("SELECT ?from { ?from ?p 'FROM' } # FROM").has_dataset_clause


def test_examples_get_the_prefix_lines_they_need():
    prefixes = {"hkg": "https://w3id.org/hkgraph/def/", "rdfs": "http://www.w3.org/2000/01/rdf-schema#"}
    text = with_prefix_declarations("PREFIX rdfs: <x:> SELECT * { ?s a hkg:Fund ; rdfs:label ?l }", prefixes)
    assert text.startswith("PREFIX hkg: <https://w3id.org/hkgraph/def/>\nPREFIX rdfs: <x:>")


# Found by fuzzing: deep nesting or long chains overflow pyoxigraph's stack and end the process running the
# query (a runner, or a gunicorn worker: no answer at all). The guard refuses them before they run.
TOO_DEEP = [
    "SELECT * WHERE " + "{" * 3000,
    "SELECT * WHERE " + "{" * 101 + "}" * 101,
    "ASK { FILTER(" + "CONCAT(" * 1000 + '"a"' + ")" * 1000 + ") }",
    "ASK { FILTER(" + "EXISTS { FILTER(" * 700 + "true" + ") }" * 700 + ") }",
    "ASK { FILTER(1" + " + 1" * 1001 + ") }",
    "ASK { FILTER(?x" + "-1" * 1001 + ") }",
    "ASK { FILTER(" + "!" * 10_000 + "true) }",
    "ASK { {}" + " UNION {}" * 7000 + " }",
    "SELECT * { ?s ?p ?o" + " MINUS { ?s ?p ?o }" * 3000 + " }",
    "SELECT * { ?s ?p ?o" + " OPTIONAL { ?s ?p ?o }" * 7000 + " }",
    "ASK { " + "<< " * 9000 + "<urn:a> <urn:a> <urn:a>" + " >> <urn:a> <urn:a>" * 9000 + " }",
]
WITHIN_LIMITS = [
    "SELECT * WHERE " + "{" * 99 + "}" * 99,
    "ASK { FILTER(" + "CONCAT(" * 98 + '"a"' + ")" * 98 + ") }",
    "ASK { FILTER(1" + " + 1" * 990 + ") }",
    "ASK { {}" + " UNION {}" * 490 + " }",
    "SELECT * { VALUES (?a ?b) { " + "(-1 -2) " * 5000 + "} }",  # long, but flat
    "ASK { FILTER(1 IN (" + ", ".join(["-1"] * 5000) + ")) }",
]


@pytest.mark.parametrize("query", TOO_DEEP, ids=lambda q: q[:30])
def test_queries_nested_too_deep_are_refused_before_they_run(client, query):
    response = client.post("/sparql", data={"query": query}, headers={"Accept": "text/plain"})
    assert response.status_code == 400, response.data[:300]
    assert "not allowed here" in response.get_data(as_text=True)


@pytest.mark.embedded_only("the limits are pyoxigraph's; a triplestore's parser has its own")
@pytest.mark.parametrize("query", WITHIN_LIMITS, ids=lambda q: q[:30])
def test_queries_within_the_nesting_limits_run(client, query):
    response = client.post("/sparql", data={"query": query}, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.data[:300]


def test_live_server_refuses_deep_nesting_and_keeps_its_workers(sparql_server):
    logged = sparql_server.log.stat().st_size
    deep = "SELECT * WHERE " + "{" * 3000 + "}" * 3000
    response = requests.post(sparql_server.endpoint, data={"query": deep}, timeout=30)
    assert response.status_code == 400 and "not allowed here" in response.text
    assert "was sent" not in sparql_server.log.read_text()[logged:]  # no worker died


# The shortcut for the first keyword agrees with the tokenizer ---------------------------------------------

FIRST_KEYWORD_CASES = [
    *(path.read_text(encoding="utf-8") for path in sorted(Path(__file__).parents[1].glob("queries/*.rq"))),
    "prefix ex: <http://x> select * {}",
    "BASE<x>ASK{}",
    "  \n# c\n DESCRIBE <x>",
    "# SELECT \nINSERT DATA { <a:b> <a:c> <a:d> }",
    "# SELECT \nINSERTé",
    "PREFIX ex:a <x> SELECT",
    "PREFIX: <x> SELECT *",
    "PREFIX e: <a b> SELECT",
    "PREFIX e: <x>\nPREFIX f: <y> CONSTRUCT{}",
    "SELECT-x",
    "SELECT:x",
    "SELECT1",
    "\u017fELECT *",  # a long s: upper-cases to S
    "PREFIXES",
    "VERSION '1.2' SELECT",
    "PREFIX x: <\\u0041> SELECT",
    "",
    "#only a comment",
]


@pytest.mark.parametrize("text", FIRST_KEYWORD_CASES)
def test_the_first_keyword_shortcut_agrees_with_the_tokenizer(text):
    assert first_keyword(text) == tokenized_first_keyword(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "PREFIX",
                "prefix",
                "BASE",
                "VERSION",
                " ",
                "\n",
                "\t",
                "\u00a0",
                "#",
                "# SELECT\n",
                "ex:",
                ":",
                "a",
                "<http://x/>",
                "<a b>",
                "'s'",
                "SELECT",
                "select",
                "ASK",
                "INSERT",
                "DESCRIBE",
                "{",
                "*",
                "?x",
                "-",
                "1",
                "é",
                "\u017f",
                "\\u0041",
                ">",
                "<",
            ]
        ),  # fmt: skip
        max_size=12,
    ).map("".join)
)
def test_the_first_keyword_shortcut_agrees_on_any_prologue(text):
    assert first_keyword(text) == tokenized_first_keyword(text)
