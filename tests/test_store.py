"""The store: loading, named graphs, inverse materialisation, rebasing, load errors, export round-trip."""

import pyoxigraph as ox
import pytest
from rdflib import Dataset, Graph
from rdflib.compare import isomorphic

from hkgraph.errors import LoadError
from hkgraph.store import DEFAULT_BASE, Store, file_sources, open_graph

ITC = DEFAULT_BASE + "id/org/itc"
ITIB = DEFAULT_BASE + "id/org/itib"


def test_one_named_graph_per_file(store):
    graphs = store.graphs()
    assert DEFAULT_BASE + "graph/ontology" in graphs
    assert DEFAULT_BASE + "graph/shapes" in graphs
    assert DEFAULT_BASE + "graph/sources" in graphs
    assert DEFAULT_BASE + "graph/inferred" in graphs


def test_default_graph_is_the_union(store):
    assert store.ask(f"ASK {{ <{ITC}> a hkg:Department ; hkg:overseenBy <{ITIB}> }}")


def test_inverse_is_materialised(store):
    assert store.ask(f"ASK {{ <{ITIB}> hkg:oversees <{ITC}> }}")
    assert store.ask(f"ASK {{ GRAPH <{DEFAULT_BASE}graph/inferred> {{ <{ITIB}> hkg:oversees <{ITC}> }} }}")


def test_superclass_types_are_materialised(store):
    assert store.ask(f"ASK {{ <{ITC}> a hkg:GovernmentAgency, org:Organization }}")


def test_rebase_mints_iris_under_another_base():
    local = Store.load(base="http://127.0.0.1:9999/")
    assert local.ask("ASK { <http://127.0.0.1:9999/id/org/itc> a <http://127.0.0.1:9999/def/Department> }")
    assert not local.ask(f"ASK {{ <{ITC}> ?p ?o }}")


def test_select_returns_plain_values(store):
    rows = store.select(f'SELECT ?l WHERE {{ <{ITC}> rdfs:label ?l FILTER(langMatches(lang(?l), "en")) }}')
    assert rows == [{"l": "Innovation and Technology Commission"}]


def test_load_error_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.ttl"
    bad.write_text('@prefix x: <http://x/> .\nx:a x:b x:c .\nx:a x:b "open .\n', encoding="utf-8")
    with pytest.raises(LoadError) as err:
        Store.load(file_sources([bad]))
    assert f"{bad}:3" in err.value.message


def test_unknown_file_type_is_a_load_error(tmp_path):
    odd = tmp_path / "data.csv"
    odd.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(LoadError, match="unknown RDF file type"):
        Store.load(file_sources([odd]))


def test_other_files_keep_named_graphs(tmp_path):
    trig = tmp_path / "extra.trig"
    trig.write_text("<http://x/g> { <http://x/a> <http://x/b> <http://x/c> . }\n", encoding="utf-8")
    s = open_graph(trig)
    assert s.ask("ASK { GRAPH ?g { <http://x/a> <http://x/b> <http://x/c> } }")


@pytest.mark.parametrize(
    "fmt",
    [
        ox.RdfFormat.N_QUADS,
        ox.RdfFormat.TRIG,
        ox.RdfFormat.TURTLE,
        ox.RdfFormat.N_TRIPLES,
        ox.RdfFormat.JSON_LD,
    ],
    ids=lambda f: f.name,
)
def test_export_round_trips(store, fmt):
    payload = store.serialize(fmt)
    rdflib_format = {
        "N-Quads": "nquads",
        "TriG": "trig",
        "Turtle": "turtle",
        "N-Triples": "nt",
        "JSON-LD": "json-ld",
    }[fmt.name]
    if fmt.supports_datasets:
        parsed = Dataset()
        parsed.parse(data=payload, format=rdflib_format)
        graphs = {str(g.identifier) for g in parsed.graphs()}
        assert set(store.graphs()) <= graphs
        back = {q for q in ox.parse(payload, format=fmt)}
        assert back == set(store.quads())
    else:
        parsed = Graph().parse(data=payload, format=rdflib_format)
        expected = store.rdflib_graph(include_inferred=True)
        assert isomorphic(parsed, expected)
