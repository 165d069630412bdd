"""The diagram model: computed from the graph by SPARQL (checked against independent queries), the
traversal choices, node kinds and labels, folding, and the entity resolver behind `hkgraph diagram NAME`."""

from __future__ import annotations

import textwrap

import pytest

from hkgraph import diagram as dg
from hkgraph.errors import AmbiguousName, BadRequest, NotFound
from hkgraph.resolve import Resolver
from hkgraph.store import Store, file_sources

ID = "https://w3id.org/hkgraph/id/"
ORG = "http://www.w3.org/ns/org#"
HKG = "https://w3id.org/hkgraph/def/"
# A lower node reaches its upper node by one of these steps (support is stated from the upper side).
UP_STEP = "(org:subOrganizationOf|org:unitOf|hkg:subsidiaryOf|hkg:overseenBy|hkg:managedBy|hkg:administeredBy|hkg:fundedBy|^hkg:supportedBy)"


def ids(iris) -> set[str]:
    return {i.removeprefix(ID) for i in iris}


def node_ids(diagram) -> set[str]:
    return {n.id for n in diagram.nodes}


def edge_pairs(diagram) -> set[tuple[str, str]]:
    return {(diagram.node(e.upper).id, diagram.node(e.lower).id) for e in diagram.edges}


# Edges from the graph -----------------------------------------------------------------------------------


def test_every_edge_is_a_triple_of_the_graph_in_the_canonical_direction(store):
    edges = dg.relation_edges(store, dg.RELATIONS)
    assert edges, "the graph has organisation relations"
    for e in edges:
        assert store.ask(f"ASK {{ <{e.subject}> <{e.predicate}> <{e.object}> }}"), e
        assert e.predicate in {
            store.prefixes()[p.split(":")[0]] + p.split(":")[1] for p in dg.RELATIONS[e.relation].predicates
        }
    keys = [(e.upper, e.lower, e.relation) for e in edges]
    assert len(keys) == len(set(keys)), "an edge is drawn once, not again for its inverse or super-property"


@pytest.mark.parametrize("relation", list(dg.RELATIONS))
def test_each_relation_has_exactly_the_pairs_an_independent_query_finds(store, relation):
    predicates = " ".join(dg.RELATIONS[relation].predicates)
    expected = {
        (r["s"], r["o"])
        for r in store.select(
            f"SELECT DISTINCT ?s ?o WHERE {{ VALUES ?p {{ {predicates} }} ?s ?p ?o FILTER(isIRI(?o)) }}"
        )
    }
    got = {(e.subject, e.object) for e in dg.relation_edges(store, [relation])}
    assert got == expected


def test_the_landscape_is_everything_below_the_government(store):
    gov = store.iri(dg.GOVERNMENT)
    below = {r["x"] for r in store.select(f"SELECT DISTINCT ?x WHERE {{ ?x {UP_STEP}+ <{gov}> }}")}
    diagram = dg.build_diagram(store)
    assert diagram.landscape and diagram.root == gov and diagram.direction == "down"
    assert {n.iri for n in diagram.nodes} == below | {gov}
    assert diagram.nodes[0].iri == gov


def test_the_trees_the_landscape_does_not_reach_are_named(store):
    landscape = {n.iri for n in dg.build_diagram(store).nodes}
    edges = dg.relation_edges(store, dg.RELATIONS)
    everything = {e.upper for e in edges} | {e.lower for e in edges}
    tops = dg.unlinked_tops(store)
    assert not set(tops) & landscape
    below_tops = {n.iri for top in tops for n in dg.build_diagram(store, top, direction="down").nodes}
    assert landscape | below_tops == everything, "the landscape and the unlinked trees hold every node"


@pytest.mark.parametrize("root", ["org/itib", "org/itc", "org/hkstp"])
def test_one_step_down_is_exactly_the_direct_lower_neighbours(store, root):
    iri = ID + root
    lower = {r["x"] for r in store.select(f"SELECT DISTINCT ?x WHERE {{ ?x {UP_STEP} <{iri}> }}")}
    diagram = dg.build_diagram(store, iri, direction="down", depth=1)
    assert {n.iri for n in diagram.nodes} == lower | {iri}
    assert all(e.upper in lower | {iri} and e.lower in lower | {iri} for e in diagram.edges)


def test_itib_oversees_itc_and_dpo_under_the_government(store):
    diagram = dg.build_diagram(store, ID + "org/itib")
    pairs = edge_pairs(diagram)
    assert {("org/itib", "org/itc"), ("org/itib", "org/dpo"), ("org/hksar-government", "org/itib")} <= pairs
    relations = {(diagram.node(e.upper).id, diagram.node(e.lower).id): e.relation for e in diagram.edges}
    assert relations[("org/itib", "org/itc")] in ("oversight", "support")
    assert relations[("org/hksar-government", "org/itib")] == "hierarchy"


def test_hkstp_manages_the_parks_and_owns_the_hsitp_company(store):
    diagram = dg.build_diagram(store, ID + "org/hkstp", direction="down")
    pairs = edge_pairs(diagram)
    assert ("org/hkstp", "facility/science-park") in pairs
    assert ("org/hkstp", "org/hsitp-ltd") in pairs
    assert ("org/hsitp-ltd", "facility/hsitp") in pairs
    assert diagram.node(ID + "facility/science-park").kind == "park"


def test_up_reaches_the_government_and_nothing_below(store):
    diagram = dg.build_diagram(store, ID + "org/itc", direction="up")
    assert {"org/itc", "org/itib", "org/hksar-government"} <= node_ids(diagram)
    assert not any(n.kind in ("fund", "scheme", "division") for n in diagram.nodes)


def test_both_is_what_lies_above_and_below_not_the_siblings(store):
    diagram = dg.build_diagram(store, ID + "org/itc")
    assert diagram.direction == "both"
    got = node_ids(diagram)
    assert {"org/itib", "org/hksar-government", "org/scl", "programme/itvf"} <= got
    assert "org/investhk" not in got, "a sibling under the government is neither above nor below ITC"


def test_depth_limits_the_steps(store):
    one = dg.build_diagram(store, None, depth=1)
    everything = dg.build_diagram(store)
    assert node_ids(one) < node_ids(everything)
    assert "org/itc" in node_ids(one) and "org/scl" not in node_ids(one)


def test_relations_choose_the_edges(store):
    diagram = dg.build_diagram(store, ID + "org/itc", relations="hierarchy")
    assert {e.relation for e in diagram.edges} == {"hierarchy"}
    assert "programme/itvf" not in node_ids(diagram)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: dg.build_diagram(s, relations="hierarchy,friendship"), "unknown relation friendship"),
        (lambda s: dg.build_diagram(s, direction="sideways"), "unknown direction"),
        (lambda s: dg.build_diagram(s, lang="fr"), "unknown language"),
        (lambda s: dg.parse_depth("0"), "depth must be"),
        (lambda s: dg.parse_format("gif"), "unknown diagram format"),
    ],
)
def test_bad_choices_say_what_is_wrong(store, call, message):
    with pytest.raises(BadRequest, match=message):
        call(store)


def test_an_unknown_root_is_not_found(store):
    with pytest.raises(NotFound):
        dg.build_diagram(store, ID + "org/no-such-body")


def test_a_change_in_the_data_changes_the_diagram(tmp_path):
    data = tmp_path / "tiny.ttl"
    prefixes = f"@prefix org: <{ORG}> . @prefix hkg: <{HKG}> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
    body = textwrap.dedent(f"""
        <{ID}org/hksar-government> a hkg:Government ; rdfs:label "Government"@en .
        <{ID}org/b> a hkg:Bureau ; rdfs:label "A Bureau"@en ; org:subOrganizationOf <{ID}org/hksar-government> .
        <{ID}org/d> a hkg:Department ; rdfs:label "A Department"@en ; hkg:overseenBy <{ID}org/b> .
    """)
    data.write_text(prefixes + body)
    before = dg.build_diagram(Store.load(file_sources([data])))
    assert node_ids(before) == {"org/hksar-government", "org/b", "org/d"}
    data.write_text(
        prefixes
        + body
        + f'<{ID}facility/f> a hkg:Facility ; rdfs:label "A Lab Building"@en ; hkg:managedBy <{ID}org/d> .\n'
    )
    after = dg.build_diagram(Store.load(file_sources([data])))
    assert node_ids(after) == node_ids(before) | {"facility/f"}
    assert ("org/d", "facility/f") in edge_pairs(after)
    assert after.node(ID + "facility/f").kind == "facility"
    assert "A Lab Building" in dg.to_dot(after)


# Nodes: kinds and labels -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, kind",
    [
        ("org/hksar-government", "government"),
        ("org/itib", "bureau"),
        ("org/itc", "department"),
        ("org/dpo", "office"),
        ("org/scl", "division"),
        ("org/hkstp", "statutory"),
        ("org/hsitp-ltd", "company"),
        ("facility/science-park", "park"),
        ("programme/itvf", "fund"),
        ("programme/tsssu", "scheme"),
    ],
)
def test_kind_follows_the_most_specific_type(store, path, kind):
    assert dg.node_details(store, [ID + path])[ID + path].kind == kind


@pytest.mark.parametrize("lang", ["en", "zh-Hans", "zh-Hant"])
def test_labels_are_the_graphs_labels_in_the_language(store, lang):
    diagram = dg.build_diagram(store, ID + "org/itc", lang=lang)
    for node in diagram.nodes:
        rows = store.select(
            f'SELECT ?l WHERE {{ <{node.iri}> rdfs:label ?l FILTER(langMatches(lang(?l), "{lang}")) }}'
        )
        if rows:
            assert node.label(lang) == rows[0]["l"]


def test_wrapped_labels_fit_the_width_and_keep_every_character():
    for text in [
        "Hong Kong Science and Technology Parks Corporation",
        "香港科技园公司科技企业投资基金",
        "InnoHK创新香港研发平台",
    ]:
        lines = dg.wrap(text, dg.WRAP)
        assert all(dg.columns(line) <= dg.WRAP for line in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert dg.wrap("科技園公司科技企業投資基金", dg.WRAP) == ["科技園公司科技", "企業投資基金"], (
        "lines about equally long"
    )


def test_many_leaves_under_one_node_are_folded_into_one_list_box(store):
    diagram = dg.build_diagram(store)
    folded = dg.folds(diagram)
    assert folded, "the landscape has a node with many leaves"
    uppers = {e.upper for e in diagram.edges}
    dot = dg.to_dot(diagram)
    for (upper, relation), leaves in folded.items():
        assert len(leaves) >= dg.FOLD_AT
        assert f'"{diagram.node(upper).id}" -> "{dg.fold_id(diagram.node(upper), relation)}" [' in dot
        for leaf in leaves:
            assert leaf not in uppers, "only leaves fold"
            assert any(e.upper == upper and e.lower == leaf and e.relation == relation for e in diagram.edges)
            assert f'ID="{diagram.node(leaf).id}"' in dot
    in_list = {leaf for leaves in folded.values() for leaf in leaves}
    for e in diagram.edges:
        drawn = f'"{diagram.node(e.upper).id}" -> "{diagram.node(e.lower).id}" ['
        assert (drawn in dot) == (e.lower not in in_list)


# Resolving names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        ID + "org/itc",
        "org/itc",
        "id/org/itc",
        "/doc/org/itc",
        "itc",
        "ITC",
        "创新科技署",
        "創新科技署",
        "Innovation and Technology Commission",
        "innovation and technology commission",
    ],
)
def test_itc_is_found_by_iri_path_slug_abbreviation_and_name(store, text):
    assert Resolver.build(store).resolve(text) == ID + "org/itc"


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> Store:
    """A graph where two things share a slug and a name, and a third is spelled like them."""
    data = tmp_path_factory.mktemp("twins") / "twins.ttl"
    data.write_text(
        textwrap.dedent(f"""
        @prefix hkg: <{HKG}> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
        <{ID}org/harbour> a hkg:Company ; rdfs:label "Harbour Company"@en, "海港公司"@zh-Hans ; hkg:abbreviation "HC" .
        <{ID}facility/harbour> a hkg:Facility ; rdfs:label "Harbour"@en, "海港"@zh-Hans .
        <{ID}facility/harbor-view> a hkg:Facility ; rdfs:label "Harbour View"@en .
        """)
    )
    return Store.load(file_sources([data]))


def test_an_ambiguous_name_lists_every_match(twins):
    with pytest.raises(AmbiguousName) as caught:
        Resolver.build(twins).resolve("harbour")
    assert "org/harbour" in caught.value.message and "facility/harbour" in caught.value.message
    assert {iri for _, iri in caught.value.links} == {ID + "org/harbour", ID + "facility/harbour"}
    assert Resolver.build(twins).resolve("org/harbour") == ID + "org/harbour"
    assert Resolver.build(twins).resolve("HC") == ID + "org/harbour"


def test_an_unknown_name_gets_close_matches(twins, store):
    with pytest.raises(NotFound) as caught:
        Resolver.build(twins).resolve("harbor")
    assert ID + "facility/harbor-view" in {iri for _, iri in caught.value.links}
    with pytest.raises(NotFound) as caught:
        Resolver.build(store).resolve("ITX")
    assert ID + "org/itc" in {iri for _, iri in caught.value.links}
    assert "org/itc" in caught.value.message


def test_no_name_is_a_bad_request(store):
    with pytest.raises(BadRequest):
        Resolver.build(store).resolve("  ")
