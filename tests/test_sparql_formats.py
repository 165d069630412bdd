"""Result formats: chosen by Accept (q-values, wildcards) or format=, written by pyoxigraph, parsed back here."""

from __future__ import annotations

import io

import pyoxigraph as ox
import pytest

SELECT = "SELECT ?s ?label WHERE { ?s rdfs:label ?label FILTER(?s = <%s>) } ORDER BY ?label"
DESCRIBE = "DESCRIBE <%s>"
CONSTRUCT = "CONSTRUCT { ?s rdfs:label ?label } WHERE { ?s rdfs:label ?label FILTER(?s = <%s>) }"

SOLUTION_ACCEPT = [
    # Accept header -> media type served
    (None, "application/sparql-results+json"),
    ("*/*", "application/sparql-results+json"),
    ("application/sparql-results+json", "application/sparql-results+json"),
    ("application/json", "application/sparql-results+json"),
    ("application/sparql-results+xml", "application/sparql-results+xml"),
    ("application/xml", "application/sparql-results+xml"),
    ("text/csv", "text/csv"),
    ("text/tab-separated-values", "text/tab-separated-values"),
    ("text/csv;q=0.5, text/tab-separated-values;q=0.9", "text/tab-separated-values"),
    ("application/sparql-results+xml;q=0.2, text/*;q=0.8", "text/csv"),
    ("text/turtle, application/sparql-results+xml;q=0.1", "application/sparql-results+xml"),
    ("application/sparql-results+json,application/json,text/javascript,application/javascript",
     "application/sparql-results+json"),  # what SPARQLWrapper sends
    ("text/html, application/sparql-results+json;q=0.9", "text/html"),
]  # fmt: skip

GRAPH_ACCEPT = [
    (None, "text/turtle"),
    ("*/*", "text/turtle"),
    ("text/turtle", "text/turtle"),
    ("application/n-triples", "application/n-triples"),
    ("text/plain", "application/n-triples"),
    ("application/n-quads", "application/n-quads"),
    ("application/trig", "application/trig"),
    ("application/ld+json", "application/ld+json"),
    ("application/json", "application/ld+json"),
    ("application/rdf+xml", "application/rdf+xml"),
    ("application/rdf+xml;q=0.5, text/turtle;q=0.4", "application/rdf+xml"),
    ("application/*;q=0.9, text/turtle;q=0.1", "application/n-triples"),
    ("application/sparql-results+json, application/n-triples;q=0.5", "application/n-triples"),
]

RESULT_FORMATS = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}


@pytest.fixture(scope="module")
def itc(store) -> str:
    return store.iri("id/org/itc")


def expected_labels(store, itc) -> set[tuple[str, str]]:
    return {(r["s"].value, r["label"].value) for r in store.query(SELECT % itc)}


def parsed_solutions(response) -> set[tuple[str, str]]:
    media = response.mimetype
    if media == "text/csv":  # pyoxigraph reads no CSV; the csv module does
        import csv

        reader = csv.DictReader(io.StringIO(response.get_data(as_text=True)))
        return {(row["s"], row["label"]) for row in reader}
    result = ox.parse_query_results(response.data, RESULT_FORMATS[media])
    return {(row["s"].value, row["label"].value) for row in result}


def parsed_graph(response) -> set[ox.Triple]:
    """The triples of an RDF response, parsed back by pyoxigraph in the syntax its Content-Type names."""
    quads = ox.parse(response.data, format=ox.RdfFormat.from_media_type(response.mimetype))
    return {ox.Triple(q.subject, q.predicate, q.object) for q in quads}


LABEL = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")


@pytest.mark.parametrize(("accept", "media"), SOLUTION_ACCEPT)
def test_select_formats_by_accept(client, store, itc, accept, media):
    headers = {"Accept": accept} if accept else {}
    response = client.get("/sparql", query_string={"query": SELECT % itc}, headers=headers)
    assert response.status_code == 200, response.data
    assert response.mimetype == media
    assert "Accept" in response.headers["Vary"]
    if media != "text/html":
        assert parsed_solutions(response) == expected_labels(store, itc)
        assert len(expected_labels(store, itc)) >= 3


@pytest.mark.parametrize(("accept", "media"), GRAPH_ACCEPT)
@pytest.mark.parametrize("form", [DESCRIBE, CONSTRUCT])
def test_graph_formats_by_accept(client, store, itc, form, accept, media):
    headers = {"Accept": accept} if accept else {}
    response = client.get("/sparql", query_string={"query": form % itc}, headers=headers)
    assert response.status_code == 200, response.data
    assert response.mimetype == media
    labels = {(t.subject.value, t.object.value) for t in parsed_graph(response) if t.predicate == LABEL}
    assert labels == expected_labels(store, itc)


@pytest.mark.parametrize(
    ("name", "media"),
    [("json", "application/sparql-results+json"), ("xml", "application/sparql-results+xml"), ("csv", "text/csv"),
     ("tsv", "text/tab-separated-values"), ("application/sparql-results+xml", "application/sparql-results+xml"),
     ("srj", "application/sparql-results+json")],
)  # fmt: skip
def test_format_parameter_beats_accept_for_select(client, store, itc, name, media):
    response = client.get(
        "/sparql", query_string={"query": SELECT % itc, "format": name}, headers={"Accept": "text/turtle"}
    )
    assert response.status_code == 200
    assert response.mimetype == media
    assert parsed_solutions(response) == expected_labels(store, itc)


@pytest.mark.parametrize(
    ("name", "media"),
    [("turtle", "text/turtle"), ("ntriples", "application/n-triples"), ("nquads", "application/n-quads"),
     ("trig", "application/trig"), ("jsonld", "application/ld+json"), ("json", "application/ld+json"),
     ("rdfxml", "application/rdf+xml"), ("xml", "application/rdf+xml"), ("n3", "text/turtle")],
)  # fmt: skip
def test_format_parameter_for_describe(client, store, itc, name, media):
    response = client.post("/sparql", data={"query": DESCRIBE % itc, "format": name})
    assert response.status_code == 200
    assert response.mimetype == media
    assert ox.NamedNode(itc) in {t.subject for t in parsed_graph(response)}


def test_ask_in_every_solution_format(client):
    for name, text in [("json", b'"boolean":true'), ("xml", b"<boolean>true</boolean>"), ("csv", b"true"),
                       ("tsv", b"true")]:  # fmt: skip
        response = client.get("/sparql", query_string={"query": "ASK { ?s a ?c }", "format": name})
        assert response.status_code == 200
        assert text in response.data


def test_describe_result_is_the_entitys_triples(client, store, itc):
    response = client.get(
        "/sparql", query_string={"query": DESCRIBE % itc}, headers={"Accept": "application/n-triples"}
    )
    served = parsed_graph(response)
    assert served == set(store.query(DESCRIBE % itc))
    assert int(response.headers["X-SPARQL-Rows"]) == len(served) > 10


NOT_ACCEPTABLE = [
    ({"query": SELECT}, {"Accept": "text/turtle"}, ["application/sparql-results+json", "text/csv"]),
    ({"query": DESCRIBE}, {"Accept": "text/csv"}, ["text/turtle", "application/ld+json"]),
    ({"query": SELECT, "format": "turtle"}, {}, ["json", "xml", "csv", "tsv"]),
    ({"query": DESCRIBE, "format": "csv"}, {}, ["turtle", "ntriples", "jsonld", "rdfxml"]),
    ({"query": SELECT, "format": "yaml"}, {}, ["json"]),
]


@pytest.mark.parametrize(("params", "headers", "listed"), NOT_ACCEPTABLE)
def test_406_lists_what_can_be_served(client, itc, params, headers, listed):
    params = {k: (v % itc if k == "query" else v) for k, v in params.items()}
    response = client.get("/sparql", query_string=params, headers={**headers})
    assert response.status_code == 406
    text = response.get_data(as_text=True)
    for media in listed:
        assert media in text


def test_results_are_served_by_pyoxigraph_serialisers_byte_for_byte(client, store, itc):
    """The JSON body is exactly what pyoxigraph writes for the same query (no re-encoding on our side)."""
    response = client.get("/sparql", query_string={"query": SELECT % itc, "format": "json"})
    direct = store.query(SELECT % itc).serialize(format=ox.QueryResultsFormat.JSON)
    assert response.data == direct
