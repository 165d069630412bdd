"""Every diagram format parses with a real reader and holds the model's nodes and edges: SVG as XML,
GraphML with networkx, JSON against its schema, DOT by Graphviz, Mermaid by the real Mermaid parser.
The rendered layout is checked (no overlaps, Chinese glyphs from a CJK font, readable on A4) and the
landscape's DOT is compared with a golden file, so the picture never drifts silently."""

from __future__ import annotations

import difflib
import io
import json
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import networkx as nx
import pytest
from conftest import mermaid_decode

from hkgraph import diagram as dg
from hkgraph.store import Store, file_sources

ID = "https://w3id.org/hkgraph/id/"
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
GRAPHML = "http://graphml.graphdrawing.org/xmlns"
GOLDEN = Path(__file__).parent / "golden" / "landscape.dot"
A4_PRINTABLE = (538.6, 785.2)  # points: 190 mm × 277 mm, A4 portrait less 10 mm margins
A4_MIN_POINTS = 6.0  # the smallest type a printed label may shrink to
CASES = {  # name: (root path or None for the landscape, language)
    "landscape": (None, "en"),
    "landscape-zh-Hans": (None, "zh-Hans"),
    "itib": ("org/itib", "en"),
    "hkstp": ("org/hkstp", "en"),
    "hkstp-zh-Hant": ("org/hkstp", "zh-Hant"),
    "itc-zh-Hans": ("org/itc", "zh-Hans"),
}


def link(iri: str) -> str:
    return "https://example.org/page/" + iri.removeprefix(ID)


@pytest.fixture(scope="module")
def diagrams(store) -> dict[str, dg.Diagram]:
    return {
        name: dg.build_diagram(store, ID + root if root else None, lang=lang)
        for name, (root, lang) in CASES.items()
    }


@pytest.fixture(scope="module")
def svgs(diagrams) -> dict[str, ET.Element]:
    return {name: ET.fromstring(dg.render(d, "svg", link)) for name, d in diagrams.items()}


def model_ids(diagram) -> set[str]:
    return {n.id for n in diagram.nodes}


def model_pairs(diagram) -> set[tuple[str, str]]:
    return {(diagram.node(e.upper).id, diagram.node(e.lower).id) for e in diagram.edges}


def model_edges(diagram) -> set[tuple[str, str, str]]:
    """(upper id, lower id, relation): two bodies may be linked by two relations (oversight and support)."""
    return {(diagram.node(e.upper).id, diagram.node(e.lower).id, e.relation) for e in diagram.edges}


# SVG ------------------------------------------------------------------------------------------------------


def svg_nodes(svg: ET.Element) -> dict[str, ET.Element]:
    """What the SVG shows of each entity, by its id: its node, or its row in a list box (legend left out)."""
    out = {}
    for g in svg.iter(f"{SVG}g"):
        classes = g.get("class", "").split()
        if "node" in classes and "fold" in classes:
            out.update(
                {row.get("id")[2:]: row for row in g.iter(f"{SVG}g") if row.get("id", "").startswith("a_")}
            )
        elif "node" in classes and "legend" not in classes:
            out[g.find(f"{SVG}title").text] = g
    return out


def svg_edges(svg: ET.Element) -> set[tuple[str, str, str]]:
    """Graphviz SVG edges as (upper, lower, relation), the relation read from the edge's class."""
    out = set()
    for g in svg.iter(f"{SVG}g"):
        classes = g.get("class", "").split()
        if "edge" in classes:
            upper, _, lower = g.find(f"{SVG}title").text.partition("->")
            if not upper.startswith("legend_"):
                out.add((upper, lower, *(c.removeprefix("rel-") for c in classes if c.startswith("rel-"))))
    return out


def drawn_edges(diagram) -> set[tuple[str, str, str]]:
    """The model's edges as drawn: an edge to a folded leaf is the edge to its list box."""
    in_list = {leaf for leaves in dg.folds(diagram).values() for leaf in leaves}
    return {
        (
            diagram.node(e.upper).id,
            dg.fold_id(diagram.node(e.upper), e.relation) if e.lower in in_list else diagram.node(e.lower).id,
            e.relation,
        )
        for e in diagram.edges
    }


@pytest.mark.parametrize("name", list(CASES))
def test_svg_has_the_models_nodes_and_edges_with_links(diagrams, svgs, name):
    diagram, svg = diagrams[name], svgs[name]
    nodes = svg_nodes(svg)
    assert set(nodes) == model_ids(diagram)
    assert svg_edges(svg) == drawn_edges(diagram)
    for node in diagram.nodes:
        anchor = nodes[node.id] if nodes[node.id].tag == f"{SVG}a" else nodes[node.id].find(f".//{SVG}a")
        assert anchor.get(f"{XLINK}href") == link(node.iri)
        assert anchor.get("target") == "_top"
        assert f"kind-{node.kind}" in nodes[node.id].get("class", f"kind-{node.kind}")


def svg_text(g: ET.Element) -> str:
    return " ".join(t.text or "" for t in g.iter(f"{SVG}text"))


def test_svg_of_itib_shows_its_place_and_what_it_oversees(svgs):
    nodes, edges = svg_nodes(svgs["itib"]), svg_edges(svgs["itib"])
    assert {"org/itib", "org/itc", "org/dpo", "org/hksar-government"} <= set(nodes)
    assert {
        ("org/hksar-government", "org/itib", "hierarchy"),
        ("org/itib", "org/itc", "oversight"),
        ("org/itib", "org/dpo", "oversight"),
        ("org/itib", "org/itc", "support"),
    } <= edges
    assert "ITIB" in svg_text(nodes["org/itib"]) and "Innovation, Technology" in svg_text(nodes["org/itib"])


@pytest.mark.parametrize("name", ["hkstp", "hkstp-zh-Hant"])
def test_svg_of_hkstp_shows_its_parks_and_subsidiary(svgs, name):
    nodes, edges = svg_nodes(svgs[name]), svg_edges(svgs[name])
    assert {"facility/science-park", "org/hsitp-ltd", "facility/hsitp"} <= set(nodes)
    assert {
        ("org/hkstp", "org/hsitp-ltd", "hierarchy"),
        ("org/hsitp-ltd", "facility/hsitp", "manages"),
    } <= edges
    managed = [lower for upper, lower, relation in edges if upper == "org/hkstp" and relation == "manages"]
    assert managed == ["org/hkstp#manages"], "the parks and centres HKSTP manages are folded into one list"
    box = next(g for g in svgs[name].iter(f"{SVG}g") if g.findtext(f"{SVG}title") == "org/hkstp#manages")
    assert nodes["facility/science-park"] in list(box.iter(f"{SVG}g"))
    expected = "Science Park" if name == "hkstp" else "香港科學園"
    assert expected in svg_text(nodes["facility/science-park"])


def test_svg_has_a_legend_of_the_kinds_and_relations_shown(diagrams, svgs):
    svg, diagram = svgs["landscape"], diagrams["landscape"]
    legend = " ".join(svg_text(g) for g in svg.iter(f"{SVG}g") if "legend" in g.get("class", ""))
    for kind in {n.kind for n in diagram.nodes}:
        assert dg.KINDS_BY_NAME[kind].words[0] in legend
    for relation in {e.relation for e in diagram.edges}:
        assert dg.RELATIONS[relation].words[0] in legend


# DOT, GraphML, JSON, Mermaid --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_dot_is_read_by_graphviz_without_a_warning(diagrams, name):
    done = subprocess.run(
        ["dot", "-Tsvg"], input=dg.to_dot(diagrams[name]).encode(), capture_output=True, check=False
    )
    assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
    assert done.stdout.startswith(b"<?xml")


@pytest.mark.parametrize("name", list(CASES))
def test_graphml_is_read_by_networkx(diagrams, name, tmp_path):
    diagram = diagrams[name]
    path = tmp_path / "d.graphml"
    path.write_bytes(dg.render(diagram, "graphml", link))
    graph = nx.read_graphml(path)
    assert set(graph.nodes) == model_ids(diagram)
    assert {(u, v, data["relation"]) for u, v, data in graph.edges(data=True)} == model_edges(diagram)
    for node in diagram.nodes:
        data = graph.nodes[node.id]
        # networkx prefers the yEd label (lines as drawn) to the plain label data Gephi reads
        assert data["label"] == "\n".join(sum(dg.label_lines(node, diagram.lang), []))
        assert data[f"label_{diagram.lang}"] == node.labels[diagram.lang.lower()]
        assert (data["kind"], data["iri"], data["url"]) == (node.kind, node.iri, link(node.iri))
    plain = {  # the label data Gephi shows, one line
        el.get("id"): el.find("g:data[@key='label']", {"g": GRAPHML}).text
        for el in ET.parse(path).getroot().iter(f"{{{GRAPHML}}}node")
    }
    assert plain == {n.id: n.label(diagram.lang) for n in diagram.nodes}
    predicates = {(u, v, data["relation"]): data["predicate"] for u, v, data in graph.edges(data=True)}
    for e in diagram.edges:
        assert predicates[diagram.node(e.upper).id, diagram.node(e.lower).id, e.relation] == e.predicate


@pytest.mark.parametrize("name", list(CASES))
def test_json_follows_its_schema_and_holds_the_model(diagrams, name):
    diagram = diagrams[name]
    doc = json.loads(dg.render(diagram, "json", link))
    jsonschema.Draft202012Validator.check_schema(dg.JSON_SCHEMA)
    jsonschema.Draft202012Validator(dg.JSON_SCHEMA).validate(doc)
    assert {n["id"] for n in doc["nodes"]} == model_ids(diagram)
    assert {(e["source"], e["target"]) for e in doc["edges"]} == model_pairs(diagram)
    by_id = {n["id"]: n for n in doc["nodes"]}
    for e in doc["edges"]:
        subject, obj = ID + e["subject"], ID + e["object"]
        assert {e["subject"], e["object"]} == {e["source"], e["target"]}
        assert by_id[e["subject"]]["iri"] == subject and by_id[e["object"]]["iri"] == obj
    assert doc["lang"] == diagram.lang and doc["root"] == diagram.root


def test_mermaid_is_read_by_the_real_mermaid_parser(diagrams, mermaid_parse):
    names = list(CASES)
    results = mermaid_parse(
        [dg.to_mermaid(diagrams[n], link) for n in names] + ['flowchart TD\n  a["broken --> b\n']
    )
    assert not results[-1]["ok"], "the parser rejects what is not Mermaid"
    for name, result in zip(names, results, strict=False):
        diagram = diagrams[name]
        assert result["ok"], result.get("error")
        assert result["type"].startswith("flowchart")
        by_id = {v["id"]: v for v in result["vertices"]}
        assert set(by_id) == {dg.mermaid_id(i) for i in model_ids(diagram)}
        arrows = {  # an arrow points at what is supported, at the lower node otherwise
            (e.lower, e.upper) if dg.RELATIONS[e.relation].points_up else (e.upper, e.lower)
            for e in diagram.edges
        }
        assert {(e["start"], e["end"]) for e in result["edges"]} == {
            (dg.mermaid_id(diagram.node(a).id), dg.mermaid_id(diagram.node(b).id)) for a, b in arrows
        }
        for node in diagram.nodes:
            vertex = by_id[dg.mermaid_id(node.id)]
            assert mermaid_decode(vertex["text"]).replace("<br>", " ") == " ".join(
                sum(dg.label_lines(node, diagram.lang), [])
            )
            assert vertex["link"] == link(node.iri)
            assert node.kind in vertex["classes"]
        strokes = {e["stroke"] for e in result["edges"]}
        relations = {e.relation for e in diagram.edges}
        assert ("dotted" in strokes) == bool(relations & {"oversight", "support"})
        assert ("thick" in strokes) == ("funding" in relations)


# The drawn picture ------------------------------------------------------------------------------------------


def layout(diagram) -> dict:
    """Graphviz's layout of the diagram (positions and sizes in points) as JSON."""
    done = subprocess.run(
        ["dot", "-Tjson"], input=dg.to_dot(diagram).encode(), capture_output=True, check=True
    )
    return json.loads(done.stdout)


def boxes(graph: dict) -> tuple[dict[str, tuple], dict[str, tuple], dict[str, set[str]]]:
    """Node boxes, cluster boxes (x0, y0, x1, y1) and each cluster's member node names."""
    objects = graph["objects"]
    nodes, clusters, members = {}, {}, {}
    for obj in objects:
        if "pos" in obj and "width" in obj:
            x, y = (float(v) for v in obj["pos"].split(","))
            w, h = float(obj["width"]) * 36, float(obj["height"]) * 36
            nodes[obj["name"]] = (x - w, y - h, x + w, y + h)
        elif obj["name"].startswith("cluster") and "bb" in obj:
            clusters[obj["name"]] = tuple(float(v) for v in obj["bb"].split(","))
            members[obj["name"]] = {objects[i]["name"] for i in obj.get("nodes", [])}
    return nodes, clusters, members


GAP = 6.0  # points: boxes closer than this look as if they touch


def overlap(a: tuple, b: tuple, gap: float = GAP) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


@pytest.mark.parametrize("name", list(CASES))
def test_nothing_overlaps(diagrams, name):
    nodes, clusters, members = boxes(layout(diagrams[name]))
    names = sorted(nodes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not overlap(nodes[a], nodes[b]), f"{a} overlaps {b}"
        for cluster, box in clusters.items():
            if a not in members[cluster]:
                assert not overlap(nodes[a], box, 0), f"{a} lies on {cluster}"
    cluster_names = sorted(clusters)
    for i, a in enumerate(cluster_names):
        for b in cluster_names[i + 1 :]:
            assert not overlap(clusters[a], clusters[b], 0), f"{a} overlaps {b}"


@pytest.mark.parametrize("name", ["landscape", "landscape-zh-Hans"])
def test_the_landscape_is_readable_on_a4(diagrams, name):
    x0, y0, x1, y1 = (float(v) for v in layout(diagrams[name])["bb"].split(","))
    scale = min(1.0, A4_PRINTABLE[0] / (x1 - x0), A4_PRINTABLE[1] / (y1 - y0))
    smallest = 10 * scale  # the bold first line of a label is 10 pt
    assert smallest >= A4_MIN_POINTS, (
        f"{x1 - x0:.0f}×{y1 - y0:.0f} pt: labels print at {smallest:.1f} pt on A4"
    )


@pytest.mark.parametrize("name", ["landscape-zh-Hans", "hkstp-zh-Hant", "itc-zh-Hans"])
def test_chinese_labels_are_drawn_with_a_font_that_has_their_glyphs(diagrams, name):
    diagram = diagrams[name]
    font = dg.FONTS[diagram.lang]
    verbose = subprocess.run(["dot", "-v", "-Tpng", "-o", "/dev/null"], input=dg.to_dot(diagram).encode(),
                             capture_output=True, check=True).stderr.decode()  # fmt: skip
    resolved = [line for line in verbose.splitlines() if line.startswith(f'fontname: "{font}" resolved to')]
    assert resolved and "NotoSansCJK" in resolved[0], verbose[-2000:]
    chars = {c for n in diagram.nodes for c in n.label(diagram.lang) if ord(c) > 0x2E80}
    assert chars, "the labels are in Chinese"
    charset = " ".join(f"{ord(c):x}" for c in sorted(chars))
    found = subprocess.run(
        ["fc-list", f"{font}:charset={charset}", "family"], capture_output=True, check=True
    )
    assert font in found.stdout.decode(), f"{font} lacks some of {''.join(sorted(chars))}"


def test_png_and_pdf_are_drawn(diagrams, tmp_path):
    png = dg.render(diagrams["landscape-zh-Hans"], "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width > 800 and height > 800, "150 dpi: large enough to read"
    (tmp_path / "landscape-zh-Hans.png").write_bytes(png)
    pdf = dg.render(diagrams["itib"], "pdf")
    assert pdf.startswith(b"%PDF-") and b"/Type /Page" in pdf


def test_the_landscape_matches_the_golden_dot(store):
    """If the data changed on purpose: regenerate with `make diagram-golden`, then look at the PNG."""
    got = dg.to_dot(dg.build_diagram(store))
    want = GOLDEN.read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "golden", "now", n=1))
    assert got == want, (
        f"the landscape changed (regenerate with `make diagram-golden` and look at it):\n{diff[:4000]}"
    )


def test_labels_with_markup_stay_text_in_every_format(tmp_path, mermaid_parse):
    nasty = 'Gov <script>alert(1)</script> & "quoted" #35; {x} \\ ]] |pipe|'
    data = tmp_path / "nasty.ttl"
    data.write_text(
        "@prefix hkg: <https://w3id.org/hkgraph/def/> . @prefix org: <http://www.w3.org/ns/org#> .\n"
        "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        f"<{ID}org/hksar-government> a hkg:Government ; rdfs:label {json.dumps(nasty)}@en .\n"
        f'<{ID}org/b> a hkg:Bureau ; rdfs:label "<b>B</b>"@en ; org:subOrganizationOf <{ID}org/hksar-government> .\n',
        encoding="utf-8",
    )
    diagram = dg.build_diagram(Store.load(file_sources([data])))
    svg = ET.fromstring(dg.render(diagram, "svg"))
    assert not list(svg.iter(f"{SVG}script"))
    texts = " ".join(t.text or "" for t in svg.iter(f"{SVG}text"))
    assert "<script>alert(1)</script>" in texts and "<b>B</b>" in texts
    graph = nx.read_graphml(io.BytesIO(dg.render(diagram, "graphml")))
    assert graph.nodes["org/hksar-government"]["label_en"] == nasty
    assert json.loads(dg.render(diagram, "json"))["nodes"][0]["label"] == nasty
    (parsed,) = mermaid_parse([dg.to_mermaid(diagram)])
    assert parsed["ok"], parsed.get("error")
    shown = {v["id"]: mermaid_decode(v["text"]).replace("<br>", " ") for v in parsed["vertices"]}
    assert shown[dg.mermaid_id("org/hksar-government")] == " ".join(
        sum(dg.label_lines(diagram.nodes[0], "en"), [])
    )
