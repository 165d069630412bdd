"""The ontology: header, documented terms, and consistency of ontology plus data under OWL 2 RL."""

from pathlib import Path

import owlrl
import pytest
from rdflib import OWL, RDF, RDFS, Graph, Namespace, URIRef

from hkgraph.store import PROJECT_ROOT

HKG = Namespace("https://w3id.org/hkgraph/def/")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
VANN = Namespace("http://purl.org/vocab/vann/")
ERR = URIRef("http://www.daml.org/2002/03/agents/agent-ont#ErrorMessage")


@pytest.fixture(scope="module")
def ontology() -> Graph:
    g = Graph()
    for path in sorted((PROJECT_ROOT / "ontology").glob("*.ttl")):
        g.parse(path)
    return g


def test_header(ontology):
    onto = URIRef(str(HKG))
    assert (onto, RDF.type, OWL.Ontology) in ontology
    for prop in (DCTERMS.title, DCTERMS.license, OWL.versionIRI, VANN.preferredNamespacePrefix):
        assert ontology.value(onto, prop) is not None, prop


def minted_terms(g: Graph) -> set[URIRef]:
    kinds = (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty)
    return {s for k in kinds for s in g.subjects(RDF.type, k) if str(s).startswith(str(HKG))}


def test_every_term_is_documented(ontology):
    terms = minted_terms(ontology)
    assert len(terms) > 60
    for term in terms:
        langs = {lbl.language for lbl in ontology.objects(term, RDFS.label)}
        assert {"en", "zh-Hans"} <= langs, term
        assert ontology.value(term, SKOS.definition) is not None, term
        assert ontology.value(term, RDFS.isDefinedBy) == URIRef(str(HKG)), term


def test_required_relations_exist(ontology):
    wanted = [
        "subsidiaryOf", "overseenBy", "oversees", "supportedBy", "managedBy", "manages", "administeredBy",
        "administers", "fundedBy", "funds", "locatedIn", "hasParty", "partyTo", "issuedBy", "succeededBy",
        "established", "launched", "expectedCompletion",
    ]  # fmt: skip
    terms = minted_terms(ontology)
    assert {HKG[w] for w in wanted} <= terms


def test_inverses_are_paired(ontology):
    for p, q in ontology.subject_objects(OWL.inverseOf):
        if str(p).startswith(str(HKG)) and str(q).startswith(str(HKG)):
            assert (q, OWL.inverseOf, p) in ontology


def closure_errors(g: Graph) -> list[str]:
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics).expand(g)
    errors = [
        str(g.value(m, URIRef("http://www.daml.org/2002/03/agents/agent-ont#error")))
        for m in g.subjects(RDF.type, ERR)
    ]
    errors += [f"{s} is a member of owl:Nothing" for s in g.subjects(RDF.type, OWL.Nothing)]
    return errors


def test_ontology_and_data_are_consistent_under_owl_rl(store):
    g = store.rdflib_graph(
        graphs=[x for x in store.graphs() if not x.endswith(("graph/shapes", "graph/inferred"))]
    )
    assert closure_errors(g) == []


def test_reasoner_detects_a_disjointness_clash(ontology):
    g = Graph()
    for t in ontology:
        g.add(t)
    thing = URIRef("https://w3id.org/hkgraph/id/org/both")
    g.add((thing, RDF.type, HKG.Bureau))
    g.add((thing, RDF.type, HKG.Fund))
    assert closure_errors(g)


def test_ontology_files_parse_cleanly():
    for path in Path(PROJECT_ROOT / "ontology").glob("*.ttl"):
        Graph().parse(path)
