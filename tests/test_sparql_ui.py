"""The query UI at /sparql: YASGUI served by us (no CDN), prefilled from ?query=, the graph's prefixes and
every queries/*.rq as an example, and a plain form that works without JavaScript."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from urllib.parse import quote

import pytest

from hkgraph.queries import named_queries

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class Page(HTMLParser):
    """What the tests look for in a page: asset URLs, the page config, links, and text of table cells."""

    def __init__(self, html: str):
        super().__init__()
        self.assets: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.config: dict | None = None
        self.textarea = ""
        self.cells: list[str] = []
        self._in: str | None = None
        self._href = ""
        self._text = ""
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.assets.append(attrs["src"])
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.assets.append(attrs["href"])
        if tag == "script" and attrs.get("id") == "sparql-config":
            self._in = "config"
        if tag == "textarea":
            self._in = "textarea"
        if tag == "td":
            self._in, self._text = "td", ""
        if tag == "a":
            self._href, self._link_text = attrs.get("href", ""), ""

    def handle_endtag(self, tag):
        if tag == "a" and self._href:
            self.links.append((self._href, self._link_text.strip()))
            self._href = ""
        if tag == "td":
            self.cells.append(self._text.strip())
        if tag in ("script", "textarea", "td"):
            self._in = None

    def handle_data(self, data):
        if self._in == "config":
            self.config = json.loads(data)
        elif self._in == "textarea":
            self.textarea += data
        elif self._in == "td":
            self._text += data
        if self._href:
            self._link_text += data


def page(client, **params) -> Page:
    response = client.get("/sparql", query_string=params, headers=BROWSER)
    assert response.status_code == 200, response.data[:500]
    assert response.mimetype == "text/html"
    return Page(response.get_data(as_text=True))


def test_ui_serves_yasgui_from_our_own_static_folder(client):
    ui = page(client)
    assert "/static/vendor/yasgui/yasgui.min.js" in ui.assets, "run `make vendor` to install YASGUI"
    assert "/static/vendor/yasgui/yasgui.min.css" in ui.assets
    assert all(not a.startswith(("http:", "https:", "//")) for a in ui.assets), ui.assets
    for asset in ui.assets:
        assert client.get(asset).status_code == 200


def test_ui_presets_the_graphs_prefixes_and_a_runnable_default_query(client, store):
    ui = page(client)
    for prefix, namespace in store.prefixes().items():
        assert ui.config["prefixes"][prefix] == namespace
    assert ui.config["endpoint"] == "/sparql"
    assert ui.textarea == ui.config["defaultQuery"]
    response = client.get("/sparql", query_string={"query": ui.config["defaultQuery"], "format": "json"})
    assert response.status_code == 200
    assert len(response.json["results"]["bindings"]) > 5


def test_every_named_query_is_offered_and_runs(client):
    ui = page(client)
    names = [ex["name"] for ex in ui.config["examples"]]
    assert names == [q.name for q in named_queries()]
    assert len(names) > 5
    for example in ui.config["examples"]:
        response = client.post("/sparql", data={"query": example["text"]}, headers={"Accept": "*/*"})
        assert response.status_code == 200, (example["name"], response.data[:300])
    linked = {href for href, _ in ui.links if href.startswith("/sparql?query=")}
    assert len(linked) >= 2 * len(names)  # open in the UI, and run without JavaScript


def test_query_parameter_prefills_both_editors(client, store):
    query = f"DESCRIBE <{store.iri('id/org/itc')}>"
    ui = page(client, query=query)
    assert ui.textarea == query
    assert ui.config["query"] == query


def test_hostile_query_text_stays_text(client):
    query = 'SELECT * { ?s ?p "</textarea></script><script>alert(1)</script>" }'
    response = client.get("/sparql", query_string={"query": query}, headers=BROWSER)
    html = response.get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert Page(html).textarea == query


def test_plain_form_runs_the_query_and_shows_labels_and_entity_links(client, store):
    query = f"DESCRIBE <{store.iri('id/org/itc')}>"
    ui = page(client, query=query, format="html")
    assert ("/id/org/itc", "Innovation and Technology Commission hkid:org/itc") in ui.links
    assert any(href == "/def/administers" for href, _ in ui.links)
    assert "ITC" in ui.cells
    rows = len(list(store.query(query)))
    assert len(ui.cells) == 3 * rows


def test_plain_form_labels_follow_the_language(client, store):
    query = f"SELECT ?org WHERE {{ BIND(<{store.iri('id/org/itc')}> AS ?org) }}"
    for lang, label in [
        ("zh-Hans", "创新科技署"),
        ("zh-HK", "創新科技署"),
        ("en", "Innovation and Technology Commission"),
    ]:
        response = client.get(
            "/sparql",
            query_string={"query": query, "format": "html"},
            headers={**BROWSER, "Accept-Language": lang},
        )
        assert ("/id/org/itc", f"{label} hkid:org/itc") in Page(response.get_data(as_text=True)).links


def test_plain_form_escapes_values(client):
    query = 'SELECT ?x WHERE { BIND("<b>bold</b>" AS ?x) }'
    response = client.get("/sparql", query_string={"query": query, "format": "html"}, headers=BROWSER)
    html = response.get_data(as_text=True)
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<b>bold</b>" not in html


def test_plain_form_shows_errors_next_to_the_query(client):
    response = client.get(
        "/sparql", query_string={"query": "SELECT * WHERE {", "format": "html"}, headers=BROWSER
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "syntax error" in html
    assert Page(html).textarea == "SELECT * WHERE {"


@pytest.mark.slow
def test_yasgui_runs_the_prefilled_query_in_a_real_browser(sparql_server, tmp_path):
    """Headless Chromium opens the UI with ?query= (as entity pages link it): YASGUI runs it and the table
    shows labels and links to entity pages. Any request to a host other than 127.0.0.1 fails."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Chromium is installed by `make test` (Debian package chromium)"
    itc = "https://w3id.org/hkgraph/id/org/itc"
    url = f"{sparql_server.url}sparql?query={quote(f'DESCRIBE <{itc}>')}"
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--virtual-time-budget=15000", "--dump-dom", url],
        capture_output=True, text=True, timeout=90,
    ).stdout  # fmt: skip
    page = Page(dom)
    assert ("/id/org/itc", "Innovation and Technology Commission hkid:org/itc") in page.links, dom[-3000:]
    assert re.search(r'<form[^>]*id="plain-form"[^>]*hidden', dom), "YASGUI replaces the plain form"
