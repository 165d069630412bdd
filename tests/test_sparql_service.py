"""The SPARQL 1.1 Service Description at GET /sparql (RDF Accept), with VoID statistics of the dataset."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from hkgraph.sparql_formats import GRAPH_FORMATS, SOLUTION_FORMATS

SD_PREFIXES = """PREFIX sd: <http://www.w3.org/ns/sparql-service-description#>
PREFIX void: <http://rdfs.org/ns/void#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""


def description(client, accept="text/turtle") -> ox.Store:
    response = client.get("/sparql", headers={"Accept": accept})
    assert response.status_code == 200, response.data
    assert response.mimetype == accept
    graph = ox.Store()
    graph.extend(ox.parse(response.data, format=ox.RdfFormat.from_media_type(accept)))
    return graph


def values(graph: ox.Store, query: str) -> list:
    return [[term.value for term in row] for row in graph.query(SD_PREFIXES + query)]


@pytest.mark.parametrize("accept", [f.media_type for f in GRAPH_FORMATS])
def test_description_in_every_rdf_format(client, accept):
    graph = description(client, accept)
    assert values(graph, "SELECT ?e WHERE { ?s a sd:Service ; sd:endpoint ?e }") == [
        ["http://localhost/sparql"]
    ]


def test_description_names_formats_features_and_the_void(client):
    graph = description(client)
    formats = {row[0] for row in values(graph, "SELECT ?f WHERE { ?s sd:resultFormat ?f }")}
    assert formats == {f.iri for f in SOLUTION_FORMATS + GRAPH_FORMATS}
    assert values(graph, "SELECT ?l WHERE { ?s sd:supportedLanguage ?l }") == [
        ["http://www.w3.org/ns/sparql-service-description#SPARQL11Query"]
    ]
    assert ["http://www.w3.org/ns/sparql-service-description#UnionDefaultGraph"] in values(
        graph, "SELECT ?f WHERE { ?s sd:feature ?f }"
    )
    assert values(graph, "SELECT ?v WHERE { ?s sd:defaultDataset/rdfs:seeAlso ?v }") == [
        ["http://localhost/.well-known/void"]
    ]


def test_default_dataset_statistics_match_the_graph(client, store):
    graph = description(client)
    stats = dict(
        values(
            graph,
            """SELECT ?p ?n WHERE { ?s sd:defaultDataset/sd:defaultGraph ?g . ?g ?p ?n FILTER(isLiteral(?n)) }""",
        )
    )
    void = "http://rdfs.org/ns/void#"
    union = {(t[0], t[1], t[2]) for t in store.query("SELECT ?s ?p ?o WHERE { ?s ?p ?o }")}
    assert int(stats[void + "triples"]) == len(union)
    assert int(stats[void + "properties"]) == len({p for _, p, _ in union})
    assert int(stats[void + "distinctSubjects"]) == len({s for s, _, _ in union})
    rdf_type = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    assert int(stats[void + "classes"]) == len({o for _, p, o in union if p == rdf_type})
    entities = {s for s, p, _ in union if p == rdf_type and s.value.startswith(store.iri("id/"))}
    assert int(stats[void + "entities"]) == len(entities) > 100


def test_named_graphs_are_listed_with_their_sizes(client, store):
    graph = description(client)
    listed = dict(
        values(
            graph, "SELECT ?name ?n WHERE { ?s sd:namedGraph [ sd:name ?name ; sd:graph/void:triples ?n ] }"
        )
    )
    assert {k: int(v) for k, v in listed.items()} == {
        g: sum(1 for _ in store.quads(g)) for g in store.graphs()
    }


def test_example_resource_is_an_entity(client, store):
    graph = description(client)
    assert values(graph, "SELECT ?r WHERE { ?d void:exampleResource ?r }") == [[store.iri("id/org/itc")]]


def test_browser_gets_the_ui_and_json_only_client_a_hint(client):
    page = client.get("/sparql", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    hint = client.get("/sparql", headers={"Accept": "application/sparql-results+json"})
    assert hint.status_code == 400
    assert "query=" in hint.get_data(as_text=True)


def test_description_revalidates_with_304(client):
    first = client.get("/sparql", headers={"Accept": "text/turtle"})
    again = client.get("/sparql", headers={"Accept": "text/turtle", "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
