"""Diagrams over HTTP: /doc/<path>/diagram.<suffix> beside the entity pages, content negotiation, the
interactive /diagram page (with and without JavaScript, in a real browser) and the embed on entity pages."""

from __future__ import annotations

import json
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

import pytest
import rdflib
from flask import render_template_string

ID = "https://w3id.org/hkgraph/id/"
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
MEDIA = {
    "svg": "image/svg+xml",
    "png": "image/png",
    "pdf": "application/pdf",
    "dot": "text/vnd.graphviz",
    "mmd": "text/vnd.mermaid",
    "graphml": "application/graphml+xml",
    "json": "application/json",
}


def svg_titles(data: bytes, kind: str) -> set[str]:
    svg = ET.fromstring(data)
    return {g.find(f"{SVG}title").text for g in svg.iter(f"{SVG}g") if kind in g.get("class", "").split()}


# Routes beside the linked-data pages ----------------------------------------------------------------


def test_the_diagram_rule_wins_over_the_document_rule(app):
    urls = app.url_map.bind("localhost")
    assert urls.match("/doc/org/itc/diagram.svg") == (
        "diagrams.entity_diagram",
        {"doc_rel": "org/itc", "suffix": "svg"},
    )
    assert urls.match("/doc/org/itc/diagram") == (
        "diagrams.entity_diagram_negotiated",
        {"doc_rel": "org/itc"},
    )
    assert urls.match("/doc/org/itc")[0] == "linked.document"
    assert urls.match("/doc/org/itc.ttl")[0] == "linked.document"


def test_the_entity_documents_still_answer(client):
    page = client.get("/doc/org/itc", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    turtle = client.get("/doc/org/itc.ttl")
    assert turtle.status_code == 200
    graph = rdflib.Graph().parse(data=turtle.data, format="turtle")
    assert (
        rdflib.URIRef(ID + "org/itc"),
        rdflib.RDFS.label,
        rdflib.Literal("创新科技署", lang="zh-hans"),
    ) in graph


@pytest.mark.parametrize("suffix", list(MEDIA))
def test_every_format_of_an_organisations_diagram(client, suffix):
    response = client.get(f"/doc/org/itib/diagram.{suffix}")
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == MEDIA[suffix]
    assert f'filename="org-itib-en.{suffix}"' in response.headers["Content-Disposition"]
    assert response.headers["ETag"]


def test_svg_nodes_link_to_this_servers_entity_pages(client):
    svg = ET.fromstring(client.get("/doc/org/itib/diagram.svg").data)
    links = {a.get(f"{XLINK}href") for a in svg.iter(f"{SVG}a") if a.get(f"{XLINK}href")}
    assert {
        "http://localhost/doc/org/itib",
        "http://localhost/doc/org/itc",
        "http://localhost/doc/org/dpo",
    } <= links
    assert client.get("/doc/org/itc").status_code == 200


def test_a_diagram_is_served_again_as_not_modified(client):
    first = client.get("/doc/org/hkstp/diagram.svg")
    again = client.get("/doc/org/hkstp/diagram.svg", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize(
    "accept, status, media",
    [
        ("image/svg+xml", 200, "image/svg+xml"),
        ("image/png", 200, "image/png"),
        ("application/pdf", 200, "application/pdf"),
        ("text/vnd.graphviz", 200, "text/vnd.graphviz"),
        ("text/vnd.mermaid", 200, "text/vnd.mermaid"),
        ("application/graphml+xml", 200, "application/graphml+xml"),
        ("application/json", 200, "application/json"),
        ("*/*", 200, "image/svg+xml"),
        ("", 200, "image/svg+xml"),
        ("image/*", 200, "image/svg+xml"),
        ("text/html;q=0.5, image/png", 200, "image/png"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 303, None),
        ("application/foo", 406, None),
    ],
)
def test_content_negotiation(client, accept, status, media):
    response = client.get("/doc/org/itc/diagram", headers={"Accept": accept})
    assert response.status_code == status
    if status == 200:
        assert response.mimetype == media
        assert "Accept" in response.vary
        assert response.headers["Content-Location"].startswith("/doc/org/itc/diagram.")
    elif status == 303:
        target = urlsplit(response.headers["Location"])
        assert target.path == "/diagram" and parse_qs(target.query)["root"] == ["org/itc"]


def test_not_acceptable_lists_the_formats(client):
    response = client.get("/doc/org/itc/diagram", headers={"Accept": "application/foo"})
    assert response.status_code == 406
    assert all(media in response.get_data(as_text=True) for media in MEDIA.values())


@pytest.mark.parametrize(
    "url, status, words",
    [
        ("/doc/org/itcc/diagram.svg", 404, "nothing is known about https://w3id.org/hkgraph/id/org/itcc"),
        ("/doc/org/itc/diagram.gif", 404, "no diagram format .gif"),
        ("/diagram.svg?root=nobody-at-all", 404, "no entity is called 'nobody-at-all'"),
        # paths and IRIs that make no valid IRI (found by schemathesis: they were 500s)
        ("/doc/org/a%20b%01/diagram.svg", 404, "nothing is known about https://w3id.org/hkgraph/id/org/a b"),
        ("/doc/org/%E2%80%AE/diagram", 404, "so it has no diagram"),
        ("/diagram.svg?root=org/a%20b", 404, "no entity is called 'org/a b'"),
        ("/diagram?root=https://example.org/a%20b", 404, "no entity is called"),
        ("/diagram.svg?relations=gossip", 400, "unknown relation gossip"),
        ("/diagram.svg?depth=deep", 400, "depth must be"),
        ("/diagram.svg?depth=%C2%B2", 400, "depth must be"),  # ² was a 500 (found by fuzzing)
        ("/diagram.svg?depth=" + "9" * 5000, 400, "depth must be"),  # too long for int(): was a 500
        ("/diagram.svg?direction=sideways", 400, "unknown direction"),
        ("/diagram.svg?lang=fr", 400, "unknown language"),
        ("/diagram?root=", 200, "Organisation diagrams"),
    ],
)
def test_user_mistakes_get_a_4xx_that_says_what_was_wrong(client, url, status, words):
    response = client.get(url, headers={"Accept": "text/html"})
    assert response.status_code == status
    text = unescape(response.get_data(as_text=True))
    assert words in text and "Traceback" not in text


def test_an_unknown_entity_links_to_the_close_matches_diagrams(client):
    response = client.get("/doc/org/itcc/diagram.svg", headers={"Accept": "application/json"})
    error = json.loads(response.data)
    assert error["status"] == 404
    assert {"label": "Innovation and Technology Commission", "href": "/diagram?root=org%2Fitc"} in error[
        "see"
    ]


# Choices in the query string ----------------------------------------------------------------------------------


def test_choices_in_the_query_string(client):
    doc = client.get(
        "/diagram.json",
        query_string={
            "root": "创新科技署",
            "relations": ["hierarchy", "oversight"],
            "depth": "1",
            "direction": "up",
            "lang": "zh-Hans",
        },
    ).get_json()
    assert doc["root"] == ID + "org/itc" and doc["depth"] == 1 and doc["direction"] == "up"
    assert doc["relations"] == ["hierarchy", "oversight"] and doc["lang"] == "zh-Hans"
    assert {n["id"] for n in doc["nodes"]} == {"org/itc", "org/itib", "org/hksar-government"}
    assert doc["nodes"][0]["label"] == "创新科技署"


def test_without_a_root_the_landscape(client):
    doc = client.get("/diagram.json").get_json()
    assert doc["landscape"] and doc["root"] == ID + "org/hksar-government"
    assert client.get("/doc/org/hksar-government/diagram.json").get_json()["landscape"]


# The interactive page without JavaScript --------------------------------------------------------------------


def test_the_page_draws_the_landscape_inline_with_its_choices(client):
    response = client.get("/diagram", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<select name="root">' in html and 'value="org/itc"' in html
    assert all(f'value="{r}" checked' in html for r in ("hierarchy", "oversight", "funding"))
    start = html.index("<svg", html.index('id="diagram-figure"'))  # the picture, not a legend swatch
    svg = html[start : html.index("</svg>", start) + 6]
    assert {"org/hksar-government", "org/itib", "org/itc"} <= svg_titles(svg.encode(), "node")
    assert "/diagram.png?" in html and "/diagram.graphml?" in html
    assert 'src="/static/diagrams/diagram.js"' in html
    assert all(
        url.startswith("/static/")
        for url in re.findall(r'<(?:script|link)[^>]* (?:src|href)="([^"]+)"', html)
    )


def test_the_landscape_page_names_what_the_data_does_not_link_to_the_government(client, store):
    from hkgraph.diagram import unlinked_tops

    html = client.get("/diagram", headers={"Accept-Language": "en"}).get_data(as_text=True)
    unlinked = html[html.index('id="diagram-unlinked"') : html.index('id="diagram-figure"')]
    for top in unlinked_tops(store):
        assert f'href="/diagram?root={top.removeprefix(ID).replace("/", "%2F")}&amp;lang=en"' in unlinked
    assert (
        "hidden"
        in client.get("/diagram?root=ITC").get_data(as_text=True).split('id="diagram-unlinked"')[1][:20]
    )


def test_the_page_for_a_root_in_chinese(client):
    html = client.get("/diagram", query_string={"root": "HKSTP", "lang": "zh-Hant"}).get_data(as_text=True)
    assert '<option value="org/hkstp" selected>' in html
    assert "香港科學園" in html and "組織架構圖" in html


def test_the_site_navigation_links_to_the_diagrams(client):
    html = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<a href="/diagram">Diagrams</a>' in html


# The embed on entity pages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, shown",
    [
        ("org/itc", True),
        ("org/hkstp", True),
        ("org/hksar-government", True),
        ("facility/science-park", False),
        ("programme/itvf", False),
    ],
)
def test_the_embed_shows_for_organisations_only(app, path, shown):
    with app.test_request_context("/doc/" + path):
        app.preprocess_request()
        html = render_template_string('{% include "diagrams/_embed.html" %}', iri=ID + path)
    assert (f'data="/doc/{path}/diagram.svg?lang=en"' in html) == shown
    assert bool(html.strip()) == shown


@pytest.mark.parametrize("path, shown", [("org/itib", True), ("facility/science-park", False)])
def test_an_organisations_page_embeds_its_diagram(client, path, shown):
    html = client.get(f"/doc/{path}", headers={"Accept": "text/html", "Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert (f'<object data="/doc/{path}/diagram.svg?lang=en" type="image/svg+xml"' in html) == shown
    assert (f'href="/diagram?root={path.replace("/", "%2F")}&amp;lang=en"' in html) == shown


# In a real browser --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_choosing_a_root_redraws_the_picture_in_place(chromium, live_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    chromium.delete_all_cookies()
    chromium.get(live_server + "diagram?lang=en")
    wait = WebDriverWait(chromium, 20)
    figure = chromium.find_element(By.ID, "diagram-figure")
    assert figure.find_elements(By.CSS_SELECTOR, "svg g.node")
    assert not chromium.find_element(By.CSS_SELECTOR, "#diagram-form button[type=submit]").is_displayed()
    chromium.execute_script("document.getElementById('diagram-figure').dataset.old = 'yes'")

    Select(chromium.find_element(By.NAME, "root")).select_by_value("org/hkstp")
    wait.until(
        ec.text_to_be_present_in_element((By.ID, "diagram-status"), "Hong Kong Science and Technology Parks")
    )
    titles = {
        t.get_attribute("textContent")
        for t in chromium.find_elements(By.CSS_SELECTOR, "#diagram-figure svg g.node > title")
    }
    assert {"org/hkstp", "org/hkstp#manages"} <= titles, "HKSTP and the list of what it manages"
    assert chromium.find_elements(By.CSS_SELECTOR, "#diagram-figure g[id='a_facility/science-park'] a")
    assert chromium.execute_script("return document.getElementById('diagram-figure').dataset.old") is None, (
        "swapped in place"
    )
    assert "root=org%2Fhkstp" in chromium.current_url

    chromium.find_element(By.CSS_SELECTOR, "input[name=relations][value=manages]").click()
    wait.until(
        lambda d: (
            "facility/science-park" not in d.find_element(By.ID, "diagram-figure").get_attribute("innerHTML")
        )
    )
    downloads = [
        a.get_attribute("href") for a in chromium.find_elements(By.CSS_SELECTOR, "#diagram-downloads a")
    ]
    assert any("/diagram.png?" in h and "relations=" in h and "manages" not in h for h in downloads)

    link = chromium.find_element(By.CSS_SELECTOR, "#diagram-figure svg g.node a")
    href = link.get_attribute("href") or link.get_attribute("xlink:href")
    chromium.get(href)
    assert "/doc/" in chromium.current_url and chromium.find_element(By.TAG_NAME, "h1").text
