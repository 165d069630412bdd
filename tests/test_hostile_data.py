"""Hostile data (tests/fixtures/hostile.ttl, served with the built-in graph) shows escaped and intact on every
page and in every diagram format: HTML through a real HTML parser, SVG and GraphML as XML, DOT by Graphviz,
Mermaid by the real Mermaid parser, JSON with json.loads, RDF parsed back into triples."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from urllib.parse import quote
from xml.etree import ElementTree as ET

import networkx as nx
import pyoxigraph as ox
import pytest
from conftest import (
    HOSTILE_DATA,
    UNSAFE_SCHEMES,
    ParsedHtml,
    assert_nothing_injected,
    hostile_files,
    mermaid_decode,
)

from hkgraph import diagram as dg
from hkgraph.app import create_app
from hkgraph.config import Config

ID = "https://w3id.org/hkgraph/id/"
OFFICE = ID + "org/hostile-office"
GROUP = ID + "group/hostile-group"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SVG = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
LANGS = ("en", "zh-Hans", "zh-Hant")


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    return create_app(
        Config(testing=True, data=hostile_files(), dumps_dir=str(tmp_path_factory.mktemp("dumps")))
    )


@pytest.fixture(scope="module")
def hostile(hostile_app):
    """A test hostile of the app serving the built-in graph plus the hostile fixture."""
    return hostile_app.test_client(use_cookies=False)  # no language remembered from test to test


@pytest.fixture(scope="module")
def fixture_triples() -> list[ox.Triple]:
    return [ox.Triple(q.subject, q.predicate, q.object) for q in ox.parse(path=str(HOSTILE_DATA))]


def literals(triples, subject: str, predicate: str | None = None) -> list[str]:
    return [
        t.object.value
        for t in triples
        if t.subject.value == subject
        and isinstance(t.object, ox.Literal)
        and (predicate is None or t.predicate.value == predicate)
    ]


def label(triples, subject: str, lang: str) -> str:
    (value,) = [
        t.object.value
        for t in triples
        if t.subject.value == subject and t.predicate.value == LABEL and t.object.language == lang.lower()
    ]
    return value


def squeeze(text: str) -> str:
    """Whitespace collapsed, as a drawing shows text (wrapped lines, no tabs)."""
    return " ".join(text.split())


# HTML ---------------------------------------------------------------------------------------------------


def html_page(client, path: str, status: int = 200) -> ParsedHtml:
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    page = ParsedHtml(response.get_data(as_text=True))
    assert_nothing_injected(page)
    return page


@pytest.mark.parametrize("lang", LANGS)
def test_the_entity_page_shows_every_hostile_string_as_text(hostile, fixture_triples, lang):
    page = html_page(hostile, f"/doc/org/hostile-office?lang={lang}")
    for value in literals(fixture_triples, OFFICE):
        assert value in page.all_text, value[:80]
    observation = ID + "obs/hostile-office-project-count-2024"
    assert label(fixture_triples, observation, lang) in page.all_text
    for member in ("org/hostile_member", "org/hostile-member"):
        assert label(fixture_triples, ID + member, lang) in page.all_text
    assert len(max(literals(fixture_triples, OFFICE), key=len)) > 10_000


def test_links_to_javascript_iris_are_not_links(hostile):
    """foaf:homepage <javascript:...> and hkg:supportedBy <javascript:...> show, but never as a live link."""
    page = html_page(hostile, "/doc/org/hostile-office")
    assert "javascript:alert(6)" in page.all_text and "javascript:alert(7)" in page.all_text
    links = page.attribute_values("href")
    assert not [h for h in links if "alert(6)" in h and not h.startswith("/sparql?")]


@pytest.mark.parametrize(
    "iri",
    [
        "org/hostile_member",
        "org/hostile-member",
        "org/o'dd(1)!$&=;,*+@:~x",
        "org/%3Cscript%3E%22%2F..%2F",
        "org/科技\u202e辦公室",
        "org/cafe\u0301",
        "org/caf\u00e9",
        "group/hostile-group",
    ],
)
def test_entities_with_odd_iris_have_their_own_pages(hostile, fixture_triples, iri):
    """Every odd IRI dereferences to its own page (NFC and NFD forms are two entities, not one)."""
    page = html_page(hostile, "/doc/" + quote(iri, safe="/"))
    assert label(fixture_triples, ID + iri, "en") in page.all_text
    assert ID + iri in page.all_text


def test_the_named_graph_page_lists_every_hostile_resource_by_name(hostile, fixture_triples):
    page = html_page(hostile, "/doc/graph/hostile?lang=en")
    for subject in {t.subject.value for t in fixture_triples}:
        assert label(fixture_triples, subject, "en") in page.all_text


def test_search_shows_hostile_labels_as_text(hostile, fixture_triples):
    query = "惡意辦公室"
    page = html_page(hostile, "/search?" + f"q={quote(query)}&lang=zh-Hant")
    assert label(fixture_triples, OFFICE, "zh-Hant") in page.all_text
    found = hostile.get("/search", query_string={"q": query, "format": "json"}).get_json()
    (hit,) = [r for r in found["results"] if r["iri"] == OFFICE]
    assert hit["labels"] == {lang: label(fixture_triples, OFFICE, lang) for lang in LANGS}
    assert hit["description"] == literals(fixture_triples, OFFICE, "https://schema.org/description")[0]


def test_a_hostile_search_text_is_echoed_as_text(hostile):
    text = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    page = html_page(hostile, "/search?" + f"q={quote(text)}")
    assert text in page.attribute_values("value")  # the search box keeps what was asked


def test_the_landing_page_and_a_hostile_language_parameter(hostile):
    assert "Hong Kong" in html_page(hostile, "/").all_text
    lang = '"><script>alert(1)</script>'
    page = html_page(hostile, "/?lang=" + quote(lang), status=400)
    assert lang in page.all_text


@pytest.mark.parametrize("lang", LANGS)
def test_the_diagram_page_shows_hostile_labels_as_text(hostile, fixture_triples, lang):
    page = html_page(hostile, f"/diagram?root=org/hostile-office&lang={lang}")
    shown = squeeze(page.all_text)
    assert squeeze(label(fixture_triples, OFFICE, lang)) in shown
    assert label(fixture_triples, OFFICE, lang) in page.attribute_values("xlink:title")
    options = [attrs.get("value") for tag, attrs in page.elements if tag == "option"]
    assert "org/hostile-office" in options


def test_error_pages_show_hostile_names_and_paths_as_text(hostile, fixture_triples):
    """A 404 names what was asked and links to close matches; both are escaped."""
    page = html_page(hostile, "/doc/org/hostile-offic%3Cscript%3Ealert(1)%3C%2Fscript%3E", status=404)
    assert "<script>alert(1)</script>" in page.all_text
    response = hostile.get("/doc/org/hostile-offic", headers={"Accept": "application/json"})
    assert response.status_code == 404
    labels = [link["label"] for link in response.get_json()["see"]]
    assert label(fixture_triples, OFFICE, "en") in labels
    page = html_page(hostile, "/doc/org/hostile-offic", status=404)
    assert label(fixture_triples, OFFICE, "en") in page.all_text


def test_sparql_results_table_shows_hostile_labels_as_text(hostile, fixture_triples):
    query = f"SELECT ?label ?home WHERE {{ <{OFFICE}> rdfs:label ?label ; foaf:homepage ?home }}"
    page = html_page(hostile, "/sparql?" + f"query={quote(query)}&format=html")
    for value in literals(fixture_triples, OFFICE, LABEL):
        assert value in page.all_text
    assert "javascript:alert(6)" in page.all_text  # the homepage IRI, shown but not a live link


def test_a_query_with_a_script_end_tag_stays_inside_the_pages_json(hostile):
    """The query is echoed in the page's inline JSON and in its form; `</script>` in it ends neither."""
    query = "SELECT * WHERE { ?s ?p ?o } LIMIT 1 # </script><script>alert(1)</script> <!-- ]]>"
    page = html_page(hostile, "/sparql?" + f"query={quote(query)}")
    (config,) = [s for s in page.scripts if s.strip()]
    assert json.loads(config)["query"] == query
    assert query in page.all_text  # the plain form's textarea


# RDF ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix, syntax",
    [
        ("ttl", ox.RdfFormat.TURTLE),
        ("nt", ox.RdfFormat.N_TRIPLES),
        ("jsonld", ox.RdfFormat.JSON_LD),
        ("rdf", ox.RdfFormat.RDF_XML),
    ],
)
def test_rdf_documents_parse_back_to_the_same_triples(hostile, fixture_triples, suffix, syntax):
    response = hostile.get(f"/doc/org/hostile-office.{suffix}")
    assert response.status_code == 200
    got = {ox.Triple(q.subject, q.predicate, q.object) for q in ox.parse(response.data, format=syntax)}
    wanted = {t for t in fixture_triples if t.subject.value == OFFICE}
    assert wanted <= got


@pytest.mark.parametrize("fmt", ["json", "xml", "tsv", "csv"])
def test_sparql_results_parse_back_to_the_same_values(hostile, fixture_triples, fmt):
    query = f"SELECT ?o WHERE {{ <{OFFICE}> ?p ?o FILTER(isLiteral(?o)) }}"
    response = hostile.get("/sparql", query_string={"query": query, "format": fmt})
    assert response.status_code == 200, response.data[:300]
    if fmt == "csv":  # CSV results have no term syntax: values only
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))
        got = {row[0] for row in rows[1:]}
    else:
        syntax = {"json": ox.QueryResultsFormat.JSON, "xml": ox.QueryResultsFormat.XML}
        parsed = ox.parse_query_results(response.data, syntax.get(fmt, ox.QueryResultsFormat.TSV))
        got = {row["o"].value for row in parsed}
    assert set(literals(fixture_triples, OFFICE)) <= got | {"12.0"}


# Diagrams ------------------------------------------------------------------------------------------------------

# (path, language): the hostile office in every language, ITIB above it, and the whole landscape
DIAGRAMS = [
    ("/doc/org/hostile-office/diagram", "en"),
    ("/doc/org/hostile-office/diagram", "zh-Hans"),
    ("/doc/org/hostile-office/diagram", "zh-Hant"),
    ("/doc/org/itib/diagram", "en"),
    ("/diagram", "en"),
]


@pytest.fixture(scope="module")
def models(hostile_app) -> dict[tuple[str, str], dg.Diagram]:
    """The diagram model behind each case, to compare every format's nodes and labels with."""
    store = hostile_app.extensions["hkgraph.store"]
    root = {
        "/doc/org/hostile-office/diagram": OFFICE,
        "/doc/org/itib/diagram": ID + "org/itib",
        "/diagram": None,
    }
    return {(path, lang): dg.build_diagram(store, root[path], lang=lang) for path, lang in DIAGRAMS}


def fetch(client, path: str, lang: str, suffix: str) -> bytes:
    response = client.get(f"{path}.{suffix}?lang={lang}")
    assert response.status_code == 200, response.data[:300]
    return response.data


def node_text(node: dg.Node, lang: str) -> str:
    return " ".join(sum(dg.label_lines(node, lang), []))


def assert_safe_url(url: str) -> None:
    assert not re.sub(r"[\x00-\x20]", "", url).lower().startswith(UNSAFE_SCHEMES), url


@pytest.mark.parametrize("path, lang", DIAGRAMS)
def test_svg_is_xml_with_every_label_as_text_and_no_script(hostile, models, path, lang):
    svg = ET.fromstring(fetch(hostile, path, lang, "svg"))
    assert not list(svg.iter(f"{SVG}script")) and not list(svg.iter(f"{SVG}foreignObject"))
    for element in svg.iter():
        assert not [a for a in element.attrib if a.startswith("on")], element.attrib
        if XLINK_HREF in element.attrib:
            assert_safe_url(element.attrib[XLINK_HREF])
    texts = squeeze(" ".join(t.text or "" for t in svg.iter(f"{SVG}text")))
    titles = {squeeze(a.get("{http://www.w3.org/1999/xlink}title", "")) for a in svg.iter(f"{SVG}a")}
    for node in models[(path, lang)].nodes:
        name = node.label(lang)
        assert squeeze(name) in titles or squeeze(name) in texts, name[:60]


@pytest.mark.parametrize("path, lang", DIAGRAMS)
def test_dot_is_read_by_graphviz_with_safe_links(hostile, models, path, lang):
    dot = fetch(hostile, path, lang, "dot")
    done = subprocess.run(["dot", "-Tcanon"], input=dot, capture_output=True, timeout=60)
    assert done.returncode == 0 and not done.stderr, done.stderr.decode()
    drawn = json.loads(subprocess.run(["dot", "-Tjson"], input=dot, capture_output=True, check=True).stdout)
    urls = [o.get("URL") or o.get("href") for o in drawn.get("objects", [])] + re.findall(
        r'HREF="([^"]*)"', dot.decode()
    )
    for url in filter(None, urls):
        assert_safe_url(url)
        assert url.isascii() and "'" not in url and "&" not in url, (
            url
        )  # cairo (PDF) and SVG need these encoded
    names = {o["name"] for o in drawn["objects"]}
    folded = {leaf for leaves in dg.folds(models[(path, lang)]).values() for leaf in leaves}
    assert {n.id for n in models[(path, lang)].nodes if n.iri not in folded} <= names


def test_mermaid_is_read_by_the_real_parser_with_labels_intact(hostile, models, mermaid_parse):
    texts = [fetch(hostile, path, lang, "mmd").decode() for path, lang in DIAGRAMS]
    for text in texts:
        assert "%%" not in text, "a %%{init}%% directive in a label would reconfigure Mermaid"
    for (path, lang), parsed in zip(DIAGRAMS, mermaid_parse(texts), strict=True):
        assert parsed["ok"], parsed.get("error")
        model = models[(path, lang)]
        by_id = {v["id"]: v for v in parsed["vertices"]}
        assert len(parsed["vertices"]) == len(model.nodes), "one vertex per node: no two ids made one"
        assert set(by_id) == {dg.mermaid_id(n.id) for n in model.nodes}
        assert set(parsed["classes"]) <= {k.name for k in dg.KINDS}
        assert len(parsed["edges"]) == len(model.edges)
        for node in model.nodes:
            vertex = by_id[dg.mermaid_id(node.id)]
            assert mermaid_decode(vertex["text"]).replace("<br>", " ") == node_text(node, lang)
            assert vertex["link"] is None or not vertex["link"].startswith("javascript:"), vertex
            assert set(vertex["classes"]) <= {node.kind, "clickable"}


@pytest.mark.parametrize("path, lang", DIAGRAMS)
def test_graphml_and_json_hold_every_label_exactly(hostile, models, path, lang, tmp_path):
    model = models[(path, lang)]
    graphml = fetch(hostile, path, lang, "graphml")
    ET.fromstring(graphml)
    (tmp_path / "d.graphml").write_bytes(graphml)
    graph = nx.read_graphml(tmp_path / "d.graphml")
    doc = json.loads(fetch(hostile, path, lang, "json"))
    by_id = {n["id"]: n for n in doc["nodes"]}
    for node in model.nodes:
        for code in LANGS:
            if code.lower() in node.labels:
                assert graph.nodes[node.id][f"label_{code}"] == node.labels[code.lower()]
                assert by_id[node.id]["labels"][code] == node.labels[code.lower()]
        assert by_id[node.id]["label"] == node.label(lang)
        assert_safe_url(by_id[node.id]["url"])
        assert_safe_url(graph.nodes[node.id].get("url", ""))


@pytest.mark.parametrize("path, lang", DIAGRAMS[:2] + DIAGRAMS[4:])
def test_png_and_pdf_are_drawn_whole(hostile, path, lang):
    png = fetch(hostile, path, lang, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    pdf = fetch(hostile, path, lang, "pdf")
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert re.search(rb"/Type\s*/Page\b(?!s)", pdf), "a PDF without a page: cairo gave up on the drawing"
