"""The W3C SPARQL 1.1 Service Description of the endpoint, with VoID statistics of its default dataset."""

from __future__ import annotations

import pyoxigraph as ox

from hkgraph.sparql_formats import GRAPH_FORMATS, SOLUTION_FORMATS, ResultFormat

SD = "http://www.w3.org/ns/sparql-service-description#"
VOID = "http://rdfs.org/ns/void#"
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS_SEE_ALSO = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#seeAlso")
RDFS_COMMENT = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#comment")
DCTERMS_TITLE = ox.NamedNode("http://purl.org/dc/terms/title")
XSD_INTEGER = ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")


def sd(name: str) -> ox.NamedNode:
    return ox.NamedNode(SD + name)


def void(name: str) -> ox.NamedNode:
    return ox.NamedNode(VOID + name)


def count(n: int) -> ox.Literal:
    return ox.Literal(str(n), datatype=XSD_INTEGER)


def dataset_statistics(store) -> dict:
    """VoID counts of the default graph (the union of all graphs) and the triples of each named graph."""
    # a triple stated in two graphs is one triple of the union (pyoxigraph's union repeats it: DISTINCT)
    totals = store.select(
        """SELECT (COUNT(*) AS ?triples) (COUNT(DISTINCT ?s) AS ?subjects) (COUNT(DISTINCT ?p) AS ?properties)
                  (COUNT(DISTINCT ?o) AS ?objects) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }"""
    )[0]
    classes = store.select("SELECT (COUNT(DISTINCT ?c) AS ?n) WHERE { ?s a ?c }")[0]["n"]
    entities = store.select(
        f"""SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s a ?c FILTER(STRSTARTS(STR(?s), "{store.iri("id/")}")) }}"""
    )[0]["n"]
    graphs = store.select(
        "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g ORDER BY ?g"
    )
    example = store.select(
        f"""SELECT ?s WHERE {{ ?s a ?c FILTER(STRSTARTS(STR(?s), "{store.iri("id/org/")}")) }}
            ORDER BY (?s != <{store.iri("id/org/itc")}>) ?s LIMIT 1"""
    )
    return {
        "triples": totals["triples"],
        "distinctSubjects": totals["subjects"],
        "properties": totals["properties"],
        "distinctObjects": totals["objects"],
        "classes": classes,
        "entities": entities,
        "graphs": {row["g"]: row["n"] for row in graphs},
        "example": example[0]["s"] if example else None,
    }


def service_description(stats: dict, endpoint: str, void_url: str, limits: dict) -> list[ox.Triple]:
    """The description's triples: the service at endpoint, its formats, features, limits and dataset."""
    service = ox.NamedNode(endpoint)
    dataset = ox.BlankNode("dataset")
    default_graph = ox.BlankNode("defaultGraph")
    t = [
        (service, RDF_TYPE, sd("Service")),
        (service, DCTERMS_TITLE, ox.Literal("hkgraph SPARQL endpoint", language="en")),
        (service, sd("endpoint"), service),
        (service, sd("supportedLanguage"), sd("SPARQL11Query")),
        (service, sd("feature"), sd("UnionDefaultGraph")),
        (service, sd("defaultDataset"), dataset),
        (
            service,
            RDFS_COMMENT,
            ox.Literal(
                "Read-only; SERVICE and updates are refused. The default graph is the union of all named graphs. "
                f"Limits: {limits['timeout']:g} s per query, {limits['rows']} rows or {limits['bytes']} bytes per "
                "result (a cut result is answered with status 206 and the header X-SPARQL-Truncated).",
                language="en",
            ),
        ),
    ]
    fmt: ResultFormat
    for fmt in SOLUTION_FORMATS + GRAPH_FORMATS:
        t.append((service, sd("resultFormat"), ox.NamedNode(fmt.iri)))
    t += [
        (dataset, RDF_TYPE, sd("Dataset")),
        (dataset, RDF_TYPE, void("Dataset")),
        (dataset, RDFS_SEE_ALSO, ox.NamedNode(void_url)),
        (dataset, void("sparqlEndpoint"), service),
        (dataset, sd("defaultGraph"), default_graph),
        (default_graph, RDF_TYPE, sd("Graph")),
        (default_graph, void("triples"), count(stats["triples"])),
        (default_graph, void("entities"), count(stats["entities"])),
        (default_graph, void("classes"), count(stats["classes"])),
        (default_graph, void("properties"), count(stats["properties"])),
        (default_graph, void("distinctSubjects"), count(stats["distinctSubjects"])),
        (default_graph, void("distinctObjects"), count(stats["distinctObjects"])),
    ]
    if stats["example"]:
        t.append((dataset, void("exampleResource"), ox.NamedNode(stats["example"])))
    for i, (name, triples) in enumerate(stats["graphs"].items()):
        named, graph = ox.BlankNode(f"named{i}"), ox.BlankNode(f"graph{i}")
        t += [
            (dataset, sd("namedGraph"), named),
            (named, RDF_TYPE, sd("NamedGraph")),
            (named, sd("name"), ox.NamedNode(name)),
            (named, sd("graph"), graph),
            (graph, RDF_TYPE, sd("Graph")),
            (graph, void("triples"), count(triples)),
        ]
    return [ox.Triple(*triple) for triple in t]
