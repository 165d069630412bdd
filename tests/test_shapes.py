"""Every SHACL shape accepts its conforming fixture and rejects its violating one."""

from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef

from hkgraph.store import PROJECT_ROOT
from hkgraph.validate import validate_graphs

FIXTURES = Path(__file__).parent / "fixtures" / "shapes"
SHAPES_NS = "https://w3id.org/hkgraph/shapes/"
SHAPE_NAMES = sorted({p.name.split(".")[0] for p in FIXTURES.glob("*.ttl")})


@pytest.fixture(scope="module")
def shapes() -> Graph:
    return Graph().parse(PROJECT_ROOT / "shapes" / "hkgraph-shapes.ttl")


@pytest.fixture(scope="module")
def background() -> Graph:
    """Ontology, units, measures and the source paragraphs: what every fixture may refer to."""
    g = Graph()
    for path in sorted((PROJECT_ROOT / "ontology").glob("*.ttl")):
        g.parse(path)
    g.parse(PROJECT_ROOT / "data" / "sources.ttl")
    g.parse(PROJECT_ROOT / "data" / "periods.ttl")
    return g


def only(shapes: Graph, name: str) -> Graph:
    """The shapes graph with every node shape but one deactivated, to test that shape alone."""
    g = Graph()
    for triple in shapes:
        g.add(triple)
    shape = URIRef(SHAPES_NS + name)
    users = {
        str(s)[len(SHAPES_NS) :]
        for s in shapes.subjects(URIRef("http://www.w3.org/ns/shacl#property"), shape)
    }
    for other in SHAPE_NAMES:
        if other != name and other not in users:
            g.add(
                (URIRef(SHAPES_NS + other), URIRef("http://www.w3.org/ns/shacl#deactivated"), Literal(True))
            )
    return g


def with_fixture(background: Graph, name: str) -> Graph:
    g = Graph()
    for triple in background:
        g.add(triple)
    return g.parse(FIXTURES / name)


def test_every_shape_has_fixtures(shapes):
    declared = {
        str(s)[len(SHAPES_NS) :]
        for s in shapes.subjects()
        if str(s).startswith(SHAPES_NS) and str(s) != SHAPES_NS
    }
    assert declared == set(SHAPE_NAMES)


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_conforming_fixture_conforms(name, shapes, background):
    report = validate_graphs(with_fixture(background, f"{name}.conforms.ttl"), only(shapes, name))
    assert report.conforms, report.text()


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_violating_fixture_fails_on_its_shape(name, shapes, background):
    report = validate_graphs(with_fixture(background, f"{name}.violates.ttl"), only(shapes, name))
    assert not report.conforms
    assert SHAPES_NS + name in {v.shape for v in report.violations}, report.text()
