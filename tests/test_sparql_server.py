"""The endpoint under real gunicorn (`hkgraph serve`), used by real clients: SPARQLWrapper and rdflib's
SPARQLStore; CORS, gzip, ETag/304, result cache, access log, --data and --base-uri, clean shutdown."""

from __future__ import annotations

import json
import socket

import pyoxigraph as ox
import pytest
import rdflib
import requests
from conftest import serve_process
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import CSV, JSON, JSONLD, TSV, TURTLE, XML, SPARQLWrapper

ITC = "https://w3id.org/hkgraph/id/org/itc"
LABELS = f"SELECT ?label WHERE {{ <{ITC}> rdfs:label ?label }} ORDER BY ?label"


def expected_labels(store) -> list[str]:
    return sorted(r["label"].value for r in store.query(LABELS))


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_sparqlwrapper_select_in_every_format(sparql_server, store, method):
    for fmt in (JSON, XML, CSV, TSV):
        client = SPARQLWrapper(sparql_server.endpoint)
        client.setMethod(method)
        client.setQuery(LABELS)
        client.setReturnFormat(fmt)
        result = client.query().convert()
        if fmt == JSON:
            labels = [b["label"]["value"] for b in result["results"]["bindings"]]
        elif fmt == XML:
            labels = [n.firstChild.firstChild.data for n in result.getElementsByTagName("binding")]
        else:
            lines = result.decode().splitlines()[1:]
            labels = [ln.strip('"').split('"@')[0] if fmt == TSV else ln for ln in lines]
        assert sorted(labels) == expected_labels(store), fmt


def test_sparqlwrapper_ask_and_construct(sparql_server, store):
    client = SPARQLWrapper(sparql_server.endpoint)
    client.setQuery(f"ASK {{ <{ITC}> a ?type }}")
    client.setReturnFormat(JSON)
    assert client.query().convert()["boolean"] is True
    for fmt in (TURTLE, XML, JSONLD):
        client = SPARQLWrapper(sparql_server.endpoint)
        client.setQuery(f"DESCRIBE <{ITC}>")
        client.setReturnFormat(fmt)
        graph = client.query().convert()
        if not isinstance(graph, rdflib.Graph):
            graph = rdflib.Graph().parse(data=graph, format="turtle" if fmt == TURTLE else "json-ld")
        served = {(str(s), str(p), str(o)) for s, p, o in graph}
        direct = {
            (t.subject.value, t.predicate.value, t.object.value) for t in store.query(f"DESCRIBE <{ITC}>")
        }
        assert served == direct, fmt


@pytest.mark.parametrize("return_format", ["xml", "json"])
def test_rdflib_sparqlstore_reads_the_endpoint(sparql_server, store, return_format):
    graph = rdflib.Graph(store=SPARQLStore(sparql_server.endpoint, returnFormat=return_format))
    rows = graph.query(
        f"SELECT ?label WHERE {{ <{ITC}> <http://www.w3.org/2000/01/rdf-schema#label> ?label }}"
    )
    assert sorted(str(r.label) for r in rows) == expected_labels(store)
    assert graph.query(f"ASK {{ <{ITC}> ?p ?o }}").askAnswer is True


def test_rdflib_sparqlstore_describe(sparql_server, store):
    """rdflib's default (xml) asks for RDF/XML for graph results; with json it asks for nothing a graph fits."""
    graph = rdflib.Graph(store=SPARQLStore(sparql_server.endpoint))
    described = graph.query(f"DESCRIBE <{ITC}>")
    assert len(described.graph) == len(list(store.query(f"DESCRIBE <{ITC}>"))) > 10


def test_healthz(sparql_server, store):
    body = requests.get(sparql_server.url + "healthz", timeout=10).json()
    assert body["status"] == "ok"
    assert body["triples"] == len(store)


def test_cors_preflight_and_response_headers(sparql_server):
    preflight = requests.options(
        sparql_server.endpoint,
        headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
        timeout=10,
    )  # fmt: skip
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    response = requests.get(
        sparql_server.endpoint, params={"query": "ASK {}"}, headers={"Origin": "x"}, timeout=10
    )
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-SPARQL-Truncated" in response.headers["Access-Control-Expose-Headers"]


def test_gzip_when_asked(sparql_server):
    query = "SELECT ?s ?label WHERE { ?s rdfs:label ?label } LIMIT 200"
    zipped = requests.get(
        sparql_server.endpoint, params={"query": query, "format": "json"}, headers={"Accept-Encoding": "gzip"},
        timeout=10, stream=True,
    )  # fmt: skip
    raw = zipped.raw.read(decode_content=False)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    plain = requests.get(
        sparql_server.endpoint, params={"query": query, "format": "json"}, headers={"Accept-Encoding": "identity"},
        timeout=10,
    )  # fmt: skip
    assert "Content-Encoding" not in plain.headers
    import gzip

    assert gzip.decompress(raw) == plain.content
    assert len(raw) < len(plain.content) / 3


def test_etag_revalidation_and_cache(sparql_server):
    params = {"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o } # etag test", "format": "json"}
    first = requests.get(sparql_server.endpoint, params=params, timeout=10)
    assert first.status_code == 200
    assert first.headers["ETag"].startswith('W/"')
    assert "max-age" in first.headers["Cache-Control"]
    again = requests.get(sparql_server.endpoint, params=params, headers={"If-None-Match": first.headers["ETag"]},
                         timeout=10)  # fmt: skip
    assert again.status_code == 304
    assert again.content == b""
    other_format = requests.get(
        sparql_server.endpoint, params={**params, "format": "xml"}, headers={"If-None-Match": first.headers["ETag"]},
        timeout=10,
    )  # fmt: skip
    assert other_format.status_code == 200
    # the same query again without a validator: answered from a worker's result cache (3 workers)
    hits = [requests.get(sparql_server.endpoint, params=params, timeout=10) for _ in range(12)]
    assert all(h.content == first.content for h in hits)
    assert any("cache;desc=hit" in h.headers["Server-Timing"] for h in hits)


def access_entries(server) -> list[dict]:
    return [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]


def test_access_log_is_json_with_query_time(sparql_server):
    marker = "SELECT ?s WHERE { ?s a ?c } LIMIT 2 # access log test"
    response = requests.post(sparql_server.endpoint, data={"query": marker}, headers={"User-Agent": "log-test"},
                             timeout=10)  # fmt: skip
    assert response.status_code == 200
    entries = [e for e in access_entries(sparql_server) if e["agent"] == "log-test"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["method"] == "POST" and entry["path"] == "/sparql" and entry["status"] == 200
    assert entry["cache"] == "miss"
    assert isinstance(entry["query_ms"], float) and isinstance(entry["ms"], float)
    assert entry["ms"] >= entry["query_ms"]
    assert entry["bytes"] == len(response.content)


def test_long_get_queries_are_served_and_longer_ones_must_be_posted(sparql_server):
    long_query = "SELECT * WHERE { ?s ?p ?o } LIMIT 1 #" + "x" * 6000
    assert requests.get(sparql_server.endpoint, params={"query": long_query}, timeout=10).status_code == 200
    too_long = "SELECT * WHERE { ?s ?p ?o } LIMIT 1 #" + "x" * 9000
    assert requests.get(sparql_server.endpoint, params={"query": too_long}, timeout=10).status_code >= 400
    assert requests.post(sparql_server.endpoint, data={"query": too_long}, timeout=10).status_code == 200


def port_is_free(url: str) -> bool:
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine; a listener is not
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_serve_other_files_keeping_named_graphs_under_a_local_base(tmp_path, store):
    """--data with N-Quads (named graphs kept) and Turtle; --base-uri makes the graph's IRIs the server's own.
    After the server stops, its port is free: query runners do not hold the listening socket."""
    default = "https://w3id.org/hkgraph/"
    (tmp_path / "two.nq").write_text(
        f'<{default}id/a> <{default}def/p> "in g1" <{default}graph/g1> .\n'
        f'<{default}id/b> <{default}def/p> "in g2" <http://example.org/g2> .\n'
        f'<{default}id/c> <{default}def/p> "default" .\n'
    )
    (tmp_path / "more.ttl").write_text(f'<{default}id/d> <{default}def/p> "turtle" .\n')
    args = ["--data", str(tmp_path / "two.nq"), "--data", str(tmp_path / "more.ttl"), "--base-uri", "{base}"]
    with serve_process(tmp_path / "server.log", *args, "--workers", "1") as (base, _):
        query = "SELECT ?g ?s ?o WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?o"
        response = requests.get(base + "sparql", params={"query": query, "format": "tsv"}, timeout=10)
        rows = [
            [t.value for t in row]
            for row in ox.parse_query_results(response.content, ox.QueryResultsFormat.TSV)
        ]
        assert rows == [
            [base + "graph/two", base + "id/c", "default"],
            [base + "graph/g1", base + "id/a", "in g1"],
            ["http://example.org/g2", base + "id/b", "in g2"],
            [base + "graph/more", base + "id/d", "turtle"],
        ]
        description = requests.get(base + "sparql", headers={"Accept": "application/n-triples"}, timeout=10)
        assert (
            f"<{base}sparql> <http://www.w3.org/ns/sparql-service-description#endpoint>" in description.text
        )
    assert port_is_free(base)


def test_serve_reports_a_bad_data_file_and_exits(tmp_path, runner):
    from hkgraph.cli import main

    bad = tmp_path / "bad.ttl"
    bad.write_text("<a> <b> .\n")
    result = runner.invoke(main, ["serve", "--data", str(bad), "--port", "1"])
    assert result.exit_code == 2
    assert "bad.ttl:1" in result.output


@pytest.mark.parametrize("content_type", ["application/sparql-query", "application/x-www-form-urlencoded"])
def test_a_body_cut_short_is_not_run(sparql_server, content_type):
    """A POST whose body ends before its Content-Length was run as the part that came (found by fuzzing):
    "SELECT ... LIMIT 10" cut after "LIMIT 1" would have answered one row."""
    body = b"ASK {}" if content_type.endswith("query") else b"query=ASK%7B%7D"
    port = int(sparql_server.url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"POST /sparql HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\nContent-Type: "
            + content_type.encode()
            + b"\r\nContent-Length: 50\r\n\r\n"
            + body
        )
        conn.shutdown(socket.SHUT_WR)  # the client gives up sending, but still reads
        answer = b"".join(iter(lambda: conn.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert f"{len(body)} of its 50 bytes arrived".encode() in answer
