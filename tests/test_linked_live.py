"""Against a running `hkgraph serve --base-uri http://127.0.0.1:PORT/`: real clients fetch every IRI it mints."""

from collections import deque

import pyoxigraph as ox
import pytest
import rdflib
import requests
from rdflib.namespace import OWL, RDF, RDFS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "rel",
    [
        "id/org/itc",
        "id/facility/science-park",
        "id/obs/science-park-gross-floor-area-2024",
        "id/source/hkyb2024/ch16/p/7",
        "id/period/2024",
        "def/Bureau",
        "def/overseenBy",
        "def/measure/gross-floor-area",
        "shapes/EntityShape",
    ],
)
def test_rdflib_parses_live_iris(live_server, rel):
    iri = rdflib.URIRef(live_server + rel)
    graph = rdflib.Graph().parse(str(iri))
    assert (iri, RDFS.label, None) in graph or (iri, RDF.type, None) in graph
    assert len(graph) > 3


@pytest.mark.parametrize("fmt", ["json-ld", "xml", "turtle", "nt"])
def test_rdflib_parses_each_format_from_a_live_iri(live_server, fmt):
    iri = rdflib.URIRef(live_server + "id/org/itc")
    graph = rdflib.Graph().parse(str(iri), format=fmt)
    assert (iri, RDFS.label, rdflib.Literal("創新科技署", lang="zh-hant")) in graph


def test_rdflib_parses_the_ontology_and_a_named_graph(live_server):
    ontology = rdflib.Graph().parse(live_server + "def/")
    assert (rdflib.URIRef(live_server + "def/"), RDF.type, OWL.Ontology) in ontology
    assert (rdflib.URIRef(live_server + "def/Bureau"), RDF.type, OWL.Class) in ontology
    periods = rdflib.Graph().parse(live_server + "graph/periods")
    assert (rdflib.URIRef(live_server + "id/period/2024"), RDF.type, None) in periods


def test_live_iri_answers_303_with_vary_and_link_headers(live_server):
    response = requests.get(live_server + "id/org/itc", allow_redirects=False, timeout=30)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/doc/org/itc")
    document = requests.get(live_server + "doc/org/itc.ttl", timeout=30)
    assert 'rel="alternate"; type="application/ld+json"' in document.headers["Link"]
    assert 'rel="license"' in document.headers["Link"]


def test_every_iri_in_any_response_can_be_fetched_from_the_server(live_server):
    """Crawl from the landing page, VoID and the service description through every IRI under the base."""
    start = [live_server, live_server + ".well-known/void", live_server + "sparql", live_server + "dumps/"]
    seen = set(start)
    queue = deque(start)
    failures = []
    fetched = 0
    with requests.Session() as session:
        while queue:
            url = queue.popleft()
            response = session.get(url, headers={"Accept": "text/turtle, */*;q=0.1"}, timeout=30)
            fetched += 1
            if response.status_code != 200:
                failures.append((url, response.status_code))
                continue
            if response.headers.get("Content-Type", "").startswith("text/turtle"):
                for quad in ox.parse(response.content, format=ox.RdfFormat.TURTLE, base_iri=response.url):
                    for term in (quad.subject, quad.predicate, quad.object):
                        if isinstance(term, ox.NamedNode) and term.value.startswith(live_server):
                            found = term.value.split("#")[0]
                            if found not in seen:
                                seen.add(found)
                                queue.append(found)
    assert not failures, failures[:20]
    kinds = {url[len(live_server) :].split("/")[0] for url in seen}
    assert {"id", "def", "shapes", "graph", "dumps", "sparql", ".well-known"} <= kinds, kinds
    assert fetched > 500
