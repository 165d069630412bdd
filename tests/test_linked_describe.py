"""What a description holds: own triples, figures, sources, labels of what it links to, inbound links."""

import pyoxigraph as ox
import pytest
import rdflib
from rdflib.namespace import RDF, RDFS

from hkgraph import describe as d

PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")
QUDT = rdflib.Namespace("http://qudt.org/schema/qudt/")
SCHEMA = rdflib.Namespace("https://schema.org/")
UNIT = rdflib.Namespace("http://qudt.org/vocab/unit/")
DCT = rdflib.Namespace("http://purl.org/dc/terms/")
OBS = "id/obs/science-park-gross-floor-area-2024"


def fetch(client, rel: str, accept: str = "text/turtle") -> rdflib.Graph:
    response = client.get("/doc/" + rel.removeprefix("id/"), headers={"Accept": accept})
    assert response.status_code == 200
    fmt = {"text/turtle": "turtle", "application/ld+json": "json-ld", "application/n-triples": "nt"}[accept]
    return rdflib.Graph().parse(data=response.data, format=fmt)


def triples(store, sparql: str) -> set[tuple]:
    return {(r["s"], r["p"], r["o"]) for r in store.select(sparql)}


@pytest.mark.parametrize("accept", ["text/turtle", "application/ld+json", "application/n-triples"])
def test_document_holds_every_triple_about_the_entity(client, store, accept):
    itc = store.iri("id/org/itc")
    graph = fetch(client, "id/org/itc", accept)
    for q in store.match(itc):
        obj = q.object
        term = rdflib.URIRef(obj.value) if isinstance(obj, ox.NamedNode) else None
        if term is not None:
            assert (rdflib.URIRef(itc), rdflib.URIRef(q.predicate.value), term) in graph
    assert len(set(graph.triples((rdflib.URIRef(itc), None, None)))) == len(
        {(q.predicate, q.object) for q in store.match(itc)}
    )


def test_document_holds_inbound_links_and_the_labels_of_everything_linked(client, store):
    itc = rdflib.URIRef(store.iri("id/org/itc"))
    graph = fetch(client, "id/org/itc")
    inferred = store.inferred_graph
    inbound = {
        (q.subject.value, q.predicate.value) for q in store.match(None, None, itc) if q.graph_name != inferred
    }
    assert len(inbound) >= 5
    for subject, predicate in inbound:
        assert (rdflib.URIRef(subject), rdflib.URIRef(predicate), itc) in graph
        assert (rdflib.URIRef(subject), RDFS.label, None) in graph, f"no label for {subject}"
    for _, _, obj in graph.triples((itc, None, None)):
        if isinstance(obj, rdflib.URIRef) and str(obj).startswith(store.base):
            assert (obj, RDFS.label, None) in graph, f"no label for {obj}"


def test_document_holds_the_entitys_observations_with_values_units_dates_and_sources(client, store):
    park = rdflib.URIRef(store.iri("id/facility/science-park"))
    obs = rdflib.URIRef(store.iri(OBS))
    paragraph = rdflib.URIRef(store.iri("id/source/hkyb2024/ch16/p/7"))
    graph = fetch(client, "id/facility/science-park")
    assert (obs, SCHEMA.observationAbout, park) in graph
    assert float(graph.value(obs, QUDT.numericValue)) == 400000
    assert graph.value(obs, QUDT.hasUnit) == UNIT.M2
    assert str(graph.value(obs, rdflib.URIRef(store.iri("def/asOf")))) == "2024-12-31"
    assert graph.value(obs, PROV.wasDerivedFrom) == paragraph
    assert str(graph.value(obs, rdflib.URIRef(store.iri("def/quote")))) == "香港科学园总楼面面积约40万平方米"
    # the labels of the measure, unit and paragraph travel with it
    for linked in (UNIT.M2, rdflib.URIRef(store.iri("def/measure/gross-floor-area")), paragraph):
        assert (linked, RDFS.label, None) in graph


def test_document_names_the_section_of_each_cited_paragraph(client, store):
    graph = fetch(client, OBS)
    paragraph = rdflib.URIRef(store.iri("id/source/hkyb2024/ch16/p/7"))
    section = graph.value(paragraph, DCT.isPartOf)
    assert section == rdflib.URIRef(store.iri("id/source/hkyb2024/ch16/s/infrastructure/hkstp"))
    assert (section, RDFS.label, rdflib.Literal("香港科技园公司", lang="zh-hans")) in graph
    assert int(graph.value(paragraph, rdflib.URIRef(store.iri("def/paragraphNumber")))) == 7


def test_describe_groups_outbound_inbound_and_figures(store):
    desc = d.describe(store, store.iri("id/facility/science-park"))
    assert store.iri("def/Facility") in desc.types or store.iri("def/Park") in desc.types
    figure = next(f for f in desc.figures if f.iri == store.iri(OBS))
    assert figure.value.value in ("400000", "400000.0")
    assert figure.unit == "http://qudt.org/vocab/unit/M2"
    assert figure.unit_symbol == "m²"
    assert figure.qualifier == store.iri("def/approximately")
    assert figure.as_of.value == "2024-12-31"
    assert figure.sources == [store.iri("id/source/hkyb2024/ch16/p/7")]
    assert store.iri(OBS) in desc.inbound[d.SCHEMA + "observationAbout"]


def test_describe_places_each_quote_in_the_paragraph_that_contains_it(store):
    texts = {7: "香港科技园公司……香港科学园总楼面面积约40万平方米，……"}
    desc = d.describe(store, store.iri(OBS), texts)
    assert [(c.number, c.quotes) for c in desc.citations] == [(7, ["香港科学园总楼面面积约40万平方米"])]
    assert desc.unplaced_quotes == []
    unplaced = d.describe(store, store.iri(OBS), {})
    assert unplaced.unplaced_quotes == ["香港科学园总楼面面积约40万平方米"]


def test_describe_gives_an_organisations_parents_and_children(store):
    desc = d.describe(store, store.iri("id/org/itc"))
    assert desc.structure is not None
    assert store.iri("id/org/hksar-government") in desc.structure.parents
    assert store.iri("id/org/itib") in desc.structure.overseen_by
    units = {
        q.subject.value for q in store.match(None, "http://www.w3.org/ns/org#unitOf", store.iri("id/org/itc"))
    }
    assert units and units <= set(desc.structure.children)


def test_describe_follows_blank_nodes_of_shapes(store):
    shape = store.iri("shapes/EntityShape")
    desc = d.describe(store, shape)
    property_shapes = desc.outbound["http://www.w3.org/ns/shacl#property"]
    blank = [p for p in property_shapes if isinstance(p, ox.BlankNode)]
    assert blank and all(p.value in desc.blank for p in blank)
    paths = {str(v[0].value) for p in blank for k, v in desc.blank[p.value].items() if k.endswith("#path")}
    assert "http://www.w3.org/ns/prov#wasDerivedFrom" in paths


def test_rdf_of_a_shape_document_parses_with_its_property_shapes(client, store):
    graph = fetch(client, "shapes/EntityShape")
    shape = rdflib.URIRef(store.iri("shapes/EntityShape"))
    sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
    paths = {graph.value(node, sh.path) for node in graph.objects(shape, sh.property)}
    assert PROV.wasDerivedFrom in paths
    assert (shape, RDF.type, sh.NodeShape) in graph
