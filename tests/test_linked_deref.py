"""Dereferencing: IRIs answer 303 to their documents, which answer in five formats by Accept or suffix."""

import json

import pyoxigraph as ox
import pytest
import rdflib
from rdflib.namespace import RDFS

from hkgraph.app import create_app
from hkgraph.config import Config

ITC = "id/org/itc"
RDF_SYNTAX = {
    "text/turtle": "turtle",
    "application/ld+json": "json-ld",
    "application/n-triples": "nt",
    "application/rdf+xml": "xml",
}


def parse(response) -> rdflib.Graph:
    """The RDF of a response, parsed by rdflib in the syntax its Content-Type names."""
    return rdflib.Graph().parse(data=response.data, format=RDF_SYNTAX[response.mimetype])


def base_iris(store) -> list[str]:
    """Every IRI under the store's base, wherever it occurs: subject, predicate, object or graph name."""
    found = set()
    for q in store.quads():
        for term in (q.subject, q.predicate, q.object, q.graph_name):
            if isinstance(term, ox.NamedNode) and term.value.startswith(store.base):
                found.add(term.value)
    return sorted(found)


@pytest.mark.parametrize(
    "path, document",
    [
        ("/id/org/itc", "/doc/org/itc"),
        ("/id/obs/science-park-gross-floor-area-2024", "/doc/obs/science-park-gross-floor-area-2024"),
        ("/id/source/hkyb2024/ch16/p/7", "/doc/source/hkyb2024/ch16/p/7"),
        ("/id/period/2024", "/doc/period/2024"),
        ("/def/Bureau", "/doc/def/Bureau"),
        ("/def/", "/doc/def/"),
        ("/def/measure/gross-floor-area", "/doc/def/measure/gross-floor-area"),
        ("/shapes/", "/doc/shapes/"),
        ("/graph/sources", "/doc/graph/sources"),
    ],
)
def test_iri_answers_303_to_its_document(client, path, document):
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["Location"] == document
    assert "Accept" in response.headers["Vary"]


def test_303_keeps_the_query_string(client):
    response = client.get("/id/org/itc?lang=zh-Hant")
    assert response.headers["Location"] == "/doc/org/itc?lang=zh-Hant"


@pytest.mark.parametrize(
    "accept, media",
    [
        ("text/html", "text/html"),
        ("text/turtle", "text/turtle"),
        ("application/ld+json", "application/ld+json"),
        ("application/n-triples", "application/n-triples"),
        ("application/rdf+xml", "application/rdf+xml"),
        ("application/x-turtle", "text/turtle"),
        ("application/json", "application/ld+json"),
        ("text/plain", "application/n-triples"),
        ("*/*", "text/html"),
        ("", "text/html"),
        ("text/turtle;q=0.5, application/rdf+xml;q=0.9", "application/rdf+xml"),
        ("text/html;q=0.1, application/ld+json", "application/ld+json"),
        ("image/png, text/*;q=0.5", "text/html"),
        ("application/*", "application/ld+json"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
        ("application/rdf+xml, text/turtle, application/n-triples, application/ld+json", "text/turtle"),
    ],
)
def test_document_format_by_accept(client, accept, media):
    response = client.get("/doc/org/itc", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.mimetype == media
    assert "Accept" in response.headers["Vary"]
    suffix = {"text/html": "html", "text/turtle": "ttl", "application/ld+json": "jsonld"}.get(media)
    if suffix:
        assert response.headers["Content-Location"] == f"/doc/org/itc.{suffix}"


@pytest.mark.parametrize(
    "suffix, media",
    [
        ("html", "text/html"),
        ("ttl", "text/turtle"),
        ("jsonld", "application/ld+json"),
        ("nt", "application/n-triples"),
        ("rdf", "application/rdf+xml"),
    ],
)
def test_document_format_by_suffix_wins_over_accept(client, store, suffix, media):
    response = client.get(f"/doc/org/itc.{suffix}", headers={"Accept": "text/html;q=0.1, image/png"})
    assert response.status_code == 200
    assert response.mimetype == media
    if media != "text/html":
        graph = parse(response)
        itc = rdflib.URIRef(store.iri(ITC))
        assert (itc, RDFS.label, rdflib.Literal("创新科技署", lang="zh-hans")) in graph


def test_link_header_names_every_format_and_the_licence(client):
    links = client.get("/doc/org/itc.ttl").headers["Link"]
    for suffix, media in [
        ("html", "text/html"),
        ("ttl", "text/turtle"),
        ("jsonld", "application/ld+json"),
        ("nt", "application/n-triples"),
        ("rdf", "application/rdf+xml"),
    ]:
        assert f'</doc/org/itc.{suffix}>; rel="alternate"; type="{media}"' in links
    assert '<https://creativecommons.org/licenses/by/4.0/>; rel="license"' in links


def test_ontology_iri_with_trailing_slash_has_suffixed_documents(client, store):
    response = client.get("/doc/def.ttl")
    assert response.status_code == 200
    graph = parse(response)
    ontology = rdflib.URIRef(store.iri("def/"))
    assert (ontology, rdflib.RDF.type, rdflib.OWL.Ontology) in graph
    assert (rdflib.URIRef(store.iri("def/Bureau")), rdflib.RDF.type, rdflib.OWL.Class) in graph


def test_named_graph_document_is_its_content(client, store):
    graph = parse(client.get("/doc/graph/periods.ttl"))
    assert len(graph) == sum(1 for _ in store.quads(store.iri("graph/periods")))
    assert (rdflib.URIRef(store.iri("id/period/2024")), rdflib.RDF.type, None) in graph


def test_406_names_what_can_be_served(client):
    response = client.get("/doc/org/itc", headers={"Accept": "image/png"})
    assert response.status_code == 406
    body = response.get_data(as_text=True)
    assert "text/turtle" in body and "application/ld+json" in body and ".ttl" in body


def test_406_page_links_to_every_format(client):
    response = client.get(
        "/doc/org/itc", headers={"Accept": "application/json;q=0, image/png, text/html;q=0"}
    )
    assert response.status_code == 406


def test_404_suggests_close_matches_by_path_and_name(client, store):
    response = client.get("/id/org/itcc", headers={"Accept": "application/json"})
    assert response.status_code == 404
    body = json.loads(response.data)
    assert "id/org/itcc" in body["error"]
    assert {"label": "Innovation and Technology Commission", "href": "/doc/org/itc"} in body["see"]


def test_404_page_is_html_with_links_and_no_traceback(client):
    response = client.get("/doc/org/innovation-technology-commision", headers={"Accept": "text/html"})
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert 'href="/doc/org/itc"' in page
    assert "Traceback" not in page


@pytest.mark.parametrize(
    "path",
    [
        "/doc/org/itc.xyz",
        "/doc/org/itc.ttl.ttl",
        "/id/org/<script>x</script>",
        "/doc/%00",
        "/id/org/a b",
        "/def/NoSuch",
    ],
)
def test_bad_or_unknown_paths_are_404_not_500(client, path):
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "<script>x</script>" not in response.get_data(as_text=True)


def test_every_iri_in_the_dataset_dereferences(client, store):
    """Entities, observations, paragraphs, periods, ontology terms, measures, shapes and graphs: 303 then 200."""
    iris = base_iris(store)
    kinds = {iri[len(store.base) :].split("/")[0] for iri in iris}
    assert {"id", "def", "shapes", "graph"} <= kinds
    failures = []
    for iri in iris:
        redirect = client.get("/" + iri[len(store.base) :])
        if redirect.status_code != 303:
            failures.append((iri, "IRI", redirect.status_code))
            continue
        location = redirect.headers["Location"]
        page = client.get(location, headers={"Accept": "text/html"})
        turtle = client.get(location, headers={"Accept": "text/turtle"})
        xml = client.get(location, headers={"Accept": "application/rdf+xml"})
        for kind, response in (("html", page), ("turtle", turtle), ("rdfxml", xml)):
            if response.status_code != 200:
                failures.append((iri, kind, response.status_code))
        if turtle.status_code == 200:
            graph = parse(turtle)
            node = rdflib.URIRef(iri)
            if (
                iri not in store.graphs()
                and not any(True for _ in graph.triples((node, None, None)))
                and not any(True for _ in graph.triples((None, None, node)))
            ):
                failures.append((iri, "turtle does not mention the IRI", 200))
    assert not failures, failures[:20]
    assert len(iris) > 500


def test_local_links_when_served_under_another_base(store, dumps_dir):
    """With the default base but served from elsewhere, pages link to their own /doc/ paths."""
    app = create_app(Config(testing=True, dumps_dir=str(dumps_dir)), store=store)
    page = app.test_client().get("/doc/org/itc", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'href="/doc/org/itib"' in page
    assert 'href="https://w3id.org/hkgraph/id/org/itib"' not in page


def test_rebased_store_mints_its_own_iris(dumps_dir):
    base = "http://127.0.0.1:9/"
    app = create_app(Config(testing=True, base_uri=base, dumps_dir=str(dumps_dir)))
    client = app.test_client()
    graph = parse(client.get("/doc/org/itc.ttl"))
    itc = rdflib.URIRef(base + ITC)
    assert (itc, RDFS.label, None) in graph
    assert not [t for t in graph if any(str(term).startswith("https://w3id.org/hkgraph/") for term in t)]
