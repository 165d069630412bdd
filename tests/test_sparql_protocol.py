"""The W3C SPARQL 1.1 Protocol at /sparql: GET, POST form, POST sparql-query, datasets, and 4xx for bad requests."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote

import pyoxigraph as ox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hkgraph.sparql_protocol import percent_decoded

LABELS = "SELECT ?s ?label WHERE { ?s rdfs:label ?label } ORDER BY ?s ?label LIMIT 5"
JSON_ACCEPT = {"Accept": "application/sparql-results+json"}


def rows(response) -> list[dict]:
    """SPARQL JSON results parsed back by pyoxigraph, as dicts of variable -> term."""
    result = ox.parse_query_results(response.data, ox.QueryResultsFormat.JSON)
    names = [v.value for v in result.variables]
    return [{n: row[n] for n in names if row[n] is not None} for row in result]


def test_get_post_form_and_post_query_give_the_same_results(client, store):
    expected = [{"s": r["s"], "label": r["label"]} for r in store.query(LABELS)]
    get = client.get("/sparql", query_string={"query": LABELS}, headers=JSON_ACCEPT)
    form = client.post("/sparql", data={"query": LABELS}, headers=JSON_ACCEPT)
    direct = client.post(
        "/sparql", data=LABELS.encode(), content_type="application/sparql-query", headers=JSON_ACCEPT
    )
    for response in (get, form, direct):
        assert response.status_code == 200, response.data
        assert rows(response) == expected
        assert len(expected) == 5


def test_sparql_query_body_with_charset_parameter(client):
    response = client.post(
        "/sparql", data=b"ASK {}", content_type="application/sparql-query; charset=UTF-8", headers=JSON_ACCEPT
    )
    assert response.status_code == 200
    assert bool(ox.parse_query_results(response.data, ox.QueryResultsFormat.JSON)) is True


def test_preset_prefixes_need_no_declaration_and_unicode_is_kept(client, store):
    query = 'SELECT ?s WHERE { ?s rdfs:label "创新科技署"@zh-Hans }'
    response = client.post("/sparql", data={"query": query}, headers=JSON_ACCEPT)
    assert response.status_code == 200
    assert [r["s"].value for r in rows(response)] == [store.iri("id/org/itc")]


def test_percent_signs_and_plus_in_a_get_query_are_kept(client):
    query = 'SELECT ?x WHERE { BIND(CONCAT("100%", " a+b ", "%E4") AS ?x) }'
    response = client.get("/sparql?query=" + quote(query, safe=""), headers=JSON_ACCEPT)
    assert response.status_code == 200
    assert rows(response)[0]["x"].value == "100% a+b %E4"


def test_default_graph_is_the_union_of_all_named_graphs(client, store):
    query = (
        "SELECT (COUNT(DISTINCT ?g) AS ?graphs) WHERE { GRAPH ?g { ?s ?p ?o } FILTER EXISTS { ?s ?p ?o } }"
    )
    response = client.get("/sparql", query_string={"query": query}, headers=JSON_ACCEPT)
    assert int(rows(response)[0]["graphs"].value) == len(store.graphs())


def count_query(graph_pattern: str = "?s ?p ?o") -> str:
    return f"SELECT (COUNT(*) AS ?n) WHERE {{ {graph_pattern} }}"


def count(response) -> int:
    assert response.status_code == 200, response.data
    return int(rows(response)[0]["n"].value)


def graph_size(store, name: str) -> int:
    return sum(1 for _ in store.quads(store.iri(name)))


def test_default_graph_uri_selects_the_default_graph(client, store):
    response = client.get(
        "/sparql",
        query_string={"query": count_query(), "default-graph-uri": store.iri("graph/periods")},
        headers=JSON_ACCEPT,
    )
    assert count(response) == graph_size(store, "graph/periods")


def test_default_graph_uri_overrides_from(client, store):
    query = f"SELECT (COUNT(*) AS ?n) FROM <{store.iri('graph/ontology')}> WHERE {{ ?s ?p ?o }}"
    with_from = client.get("/sparql", query_string={"query": query}, headers=JSON_ACCEPT)
    assert count(with_from) == graph_size(store, "graph/ontology")
    overridden = client.get(
        "/sparql",
        query_string={"query": query, "default-graph-uri": store.iri("graph/periods")},
        headers=JSON_ACCEPT,
    )
    assert count(overridden) == graph_size(store, "graph/periods")


def test_named_graph_uri_restricts_graph_and_overrides_from_named(client, store):
    query = (
        f"SELECT ?g (COUNT(*) AS ?n) FROM NAMED <{store.iri('graph/ontology')}> "
        "WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"
    )
    response = client.post(
        "/sparql", data={"query": query, "named-graph-uri": store.iri("graph/periods")}, headers=JSON_ACCEPT
    )
    assert response.status_code == 200
    assert [(r["g"].value, int(r["n"].value)) for r in rows(response)] == [
        (store.iri("graph/periods"), graph_size(store, "graph/periods"))
    ]
    # only named graphs given: the default graph is empty, as the protocol says
    default = client.post(
        "/sparql",
        data={"query": count_query(), "named-graph-uri": store.iri("graph/periods")},
        headers=JSON_ACCEPT,
    )
    assert count(default) == 0


def test_several_default_graph_uris_are_merged(client, store):
    graphs = [store.iri("graph/periods"), store.iri("graph/ontology")]
    response = client.post(
        "/sparql", data={"query": count_query(), "default-graph-uri": graphs}, headers=JSON_ACCEPT
    )
    assert count(response) == graph_size(store, "graph/periods") + graph_size(store, "graph/ontology")


def test_graph_uris_go_in_the_url_for_a_direct_post(client, store):
    response = client.post(
        "/sparql",
        query_string={"default-graph-uri": store.iri("graph/periods")},
        data=count_query(),
        content_type="application/sparql-query",
        headers=JSON_ACCEPT,
    )
    assert count(response) == graph_size(store, "graph/periods")


def message(response) -> str:
    return response.get_data(as_text=True)


BAD_REQUESTS = [
    # (description, request kwargs, status, words the message must contain)
    ("two queries in the URL", {"query_string": "query=ASK%7B%7D&query=ASK%7B%7D"}, 400, ["2 queries"]),
    (
        "query in URL and form body",
        {"method": "POST", "query_string": "query=ASK%7B%7D", "data": {"query": "ASK {}"}},
        400,
        ["2 queries"],
    ),
    (
        "query in URL and as the body",
        {"method": "POST", "query_string": "query=ASK%7B%7D", "data": b"ASK {}",
         "content_type": "application/sparql-query"},
        400,
        ["2 queries"],
    ),
    ("empty query", {"query_string": "query=%20"}, 400, ["empty"]),
    ("POST without query", {"method": "POST", "data": {"default-graph-uri": "http://x/"}}, 400, ["no query"]),
    ("missing Content-Type", {"method": "POST", "data": b"ASK {}"}, 415, ["Content-Type"]),
    (
        "wrong media type",
        {"method": "POST", "data": b'{"query": "ASK {}"}', "content_type": "application/json"},
        415,
        ["application/json", "application/sparql-query"],
    ),
    (
        "non-UTF-8 body",
        {"method": "POST", "data": "ASK { ?s ?p 'é' }".encode("latin-1"), "content_type": "application/sparql-query"},
        400,
        ["UTF-8", "0xe9"],
    ),
    (
        "non-UTF-8 form body",
        {"method": "POST", "data": b"query=ASK%7B%FF%7D", "content_type": "application/x-www-form-urlencoded"},
        400,
        ["UTF-8", "0xff"],
    ),
    ("non-UTF-8 URL", {"query_string": "query=ASK%7B%FF%7D"}, 400, ["UTF-8", "0xff"]),
    # found by fuzzing (tests/test_fuzz.py): raw bytes were a 500; a name was quoted as mojibake
    ("raw non-UTF-8 bytes in the URL", {"environ_overrides": {"QUERY_STRING": "query=ASK\xff{}"}}, 400, ["UTF-8", "0xff"]),
    ("non-UTF-8 value of a UTF-8 name", {"query_string": "query=ASK%7B%7D&%C3%A9=%FF"}, 400, ["parameter 'é'", "0xff"]),
    (
        "other charset",
        {"method": "POST", "data": b"ASK {}", "content_type": "application/sparql-query; charset=latin-1"},
        415,
        ["UTF-8"],
    ),
    ("syntax error, with line and column", {"query_string": {"query": "SELECT *\nWHERE { ?s ?p }"}}, 400,
     ["syntax error", "line 2, column 16", "WHERE { ?s ?p }", "^"]),
    ("bad graph IRI", {"query_string": {"query": "ASK {}", "default-graph-uri": "not an iri"}}, 400, ["IRI"]),
    ("bad timeout", {"query_string": {"query": "ASK {}", "timeout": "soon"}}, 400, ["timeout"]),
    ("negative timeout", {"query_string": {"query": "ASK {}", "timeout": "-1"}}, 400, ["timeout"]),
    ("PUT", {"method": "PUT", "data": b"ASK {}"}, 405, ["method"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "kwargs", "status", "words"), BAD_REQUESTS, ids=[r[0] for r in BAD_REQUESTS]
)
def test_bad_requests_get_4xx_saying_what_is_wrong(client, what, kwargs, status, words):
    response = client.open("/sparql", headers={"Accept": "text/plain, */*;q=0.1"}, **kwargs)
    assert response.status_code == status
    text = message(response)
    for word in words:
        assert word.lower() in text.lower(), text
    assert "Traceback" not in text


def test_request_body_over_the_cap_is_413(dumps_dir, store):
    from hkgraph.app import create_app
    from hkgraph.config import Config

    small = create_app(Config(testing=True, dumps_dir=str(dumps_dir), max_request_bytes=200), store=store)
    query = "ASK { " + "?s ?p ?o . " * 40 + "}"
    body = small.test_client().post("/sparql", data=query.encode(), content_type="application/sparql-query")
    assert body.status_code == 413
    url = small.test_client().get("/sparql", query_string={"query": query})
    assert url.status_code == 413
    assert "200" in message(url)


def test_errors_never_leak_a_traceback_and_json_clients_get_json(client):
    response = client.get(
        "/sparql", query_string={"query": "SELEC *"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 400
    assert response.json["status"] == 400
    assert "syntax error" in response.json["error"]


def test_head_request_has_no_body(client):
    response = client.head("/sparql", query_string={"query": "ASK {}"}, headers=JSON_ACCEPT)
    assert response.status_code == 200
    assert response.data == b""


# Parameters are decoded as urllib's parse_qsl decodes them ---------------------------------------------


def parse_qsl_bytes(raw: bytes) -> list[tuple[bytes, bytes]]:
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs]


def decoded_bytes(raw: bytes) -> list[tuple[bytes, bytes]]:
    pairs = (pair.partition(b"=") for pair in raw.split(b"&") if pair)
    return [(percent_decoded(k), percent_decoded(v)) for k, _, v in pairs]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"query",
                b"=",
                b"&",
                b"+",
                b"%",
                b"%2",
                b"%2B",
                b"%zz",
                b"%E5%88%9B",
                b"%5c",
                b"\\",
                b"\\x41",
                b"\\u0041",
                b"a",
                b" ",
                b"\xff",
                b"%FF",
                b"%0A",
                b";",
                b"#",
            ]
        ),  # fmt: skip
        max_size=16,
    ).map(b"".join)
)
def test_parameters_decode_as_parse_qsl_does(raw):
    assert decoded_bytes(raw) == parse_qsl_bytes(raw)
