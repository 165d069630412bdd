"""Entity, ontology, shape and graph pages: language, sections, escaping, links, no external assets."""

from html.parser import HTMLParser
from urllib.parse import unquote

import pytest

from hkgraph.app import create_app
from hkgraph.config import Config
from hkgraph.i18n import choose_language, language_from_accept


class Page(HTMLParser):
    """The parts of an HTML page the tests look at: title, h1, links, asset URLs, section headings."""

    def __init__(self, html: str):
        super().__init__()
        self.h1 = ""
        self.lang = ""
        self.links: list[str] = []
        self.assets: list[str] = []
        self.headings: list[str] = []
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang", "")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag in ("script", "img", "iframe") and a.get("src"):
            self.assets.append(a["src"])
        if tag == "link" and a.get("rel") == "stylesheet":
            self.assets.append(a["href"])
        if tag in ("h1", "h2", "h3"):
            self._in = tag
            if tag != "h1":
                self.headings.append("")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "h1":
            self.h1 += data
        elif self._in:
            self.headings[-1] += data


def page(client, path: str, **headers) -> tuple[Page, str]:
    response = client.get(path, headers={"Accept": "text/html", **headers})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    html = response.get_data(as_text=True)
    return Page(html), html


@pytest.mark.parametrize(
    "headers, query, title, lang",
    [
        ({}, "", "Innovation and Technology Commission", "en"),
        ({"Accept-Language": "zh-CN,zh;q=0.9"}, "", "创新科技署", "zh-Hans"),
        ({"Accept-Language": "zh-HK"}, "", "創新科技署", "zh-Hant"),
        ({"Accept-Language": "zh-TW,en;q=0.5"}, "", "創新科技署", "zh-Hant"),
        ({"Accept-Language": "fr, en-GB;q=0.8"}, "", "Innovation and Technology Commission", "en"),
        ({"Accept-Language": "zh-Hant"}, "?lang=zh-Hans", "创新科技署", "zh-Hans"),
        ({"Accept-Language": "zh-CN"}, "?lang=en", "Innovation and Technology Commission", "en"),
        ({}, "?lang=zh-hant", "創新科技署", "zh-Hant"),
    ],
)
def test_title_in_the_chosen_language(client, headers, query, title, lang):
    p, _ = page(client, "/doc/org/itc" + query, **headers)
    assert p.h1.strip() == title
    assert p.lang == lang


def test_language_switch_is_remembered(client):
    page(client, "/doc/org/itc?lang=zh-Hant")
    p, _ = page(client, "/doc/org/itib", **{"Accept-Language": "en"})
    assert p.h1.strip() == "創新科技及工業局"


def test_page_offers_the_other_languages(client):
    p, _ = page(client, "/doc/org/itc?lang=en")
    assert "/doc/org/itc?lang=zh-Hans" in p.links and "/doc/org/itc?lang=zh-Hant" in p.links


def test_unknown_language_is_a_400_that_says_which_exist(client):
    response = client.get("/doc/org/itc?lang=fr", headers={"Accept": "text/plain"})
    assert response.status_code == 400
    assert "fr" in response.get_data(as_text=True) and "zh-Hant" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "header, expected",
    [
        ("zh-SG", "zh-Hans"),
        ("zh-Hant-HK", "zh-Hant"),
        ("zh-MO", "zh-Hant"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("de;q=1, zh-TW;q=0.4, zh-CN;q=0.6", "zh-Hans"),
        ("*", None),
        ("", None),
    ],
)
def test_accept_language_table(header, expected):
    assert language_from_accept(header) == expected


def test_query_parameter_beats_cookie_beats_accept_language():
    assert choose_language("en", "zh-Hant", "zh-CN") == "en"
    assert choose_language(None, "zh-Hant", "zh-CN") == "zh-Hant"
    assert choose_language(None, None, "zh-CN") == "zh-Hans"
    assert choose_language(None, None, None) == "en"


def test_entity_page_has_type_description_sections_and_describe_link(client, store):
    p, html = page(client, "/doc/org/itc")
    assert "government department" in html  # the type, by its label
    assert "Government department that promotes" in html  # the one-line description
    for heading in (
        "Source in the Yearbook",
        "Organisation structure",
        "Names",
        "Relationships",
        "Linked from",
    ):
        assert heading in " ".join(p.headings)
    describe = next(link for link in p.links if link.startswith("/sparql?query="))
    assert unquote(describe.partition("=")[2]) == f"DESCRIBE <{store.iri('id/org/itc')}>"


def test_provenance_box_quotes_the_span_and_names_paragraph_and_section(client):
    _, html = page(client, "/doc/obs/science-park-gross-floor-area-2024")
    box = html[html.index('class="provenance"') : html.index("</aside>")]
    assert "香港科学园总楼面面积约40万平方米" in box
    assert 'href="/doc/source/hkyb2024/ch16/p/7"' in box and "paragraph 7" in box
    assert 'href="/doc/source/hkyb2024/ch16/s/infrastructure/hkstp"' in box


def test_observations_table_shows_value_unit_date_and_source(client):
    _, html = page(client, "/doc/facility/science-park")
    table = html[html.index('class="figures"') :]
    table = table[: table.index("</table>")]
    assert "approximately 400,000 m²" in table
    assert "2024-12-31" in table
    assert 'href="/doc/source/hkyb2024/ch16/p/7"' in table


def test_observation_value_in_chinese_uses_chinese_unit_and_qualifier(client):
    _, html = page(client, "/doc/obs/science-park-gross-floor-area-2024?lang=zh-Hans")
    assert "约 40万平方米" in html  # as the chapter writes it: 约40万平方米


def test_inbound_links_are_grouped_by_property_and_counted(client, store):
    _, html = page(client, "/doc/org/itc")
    units = {
        q.subject.value for q in store.match(None, "http://www.w3.org/ns/org#unitOf", store.iri("id/org/itc"))
    }
    inbound = html[html.index('id="inbound-h"') :]
    assert f'unit of</a> <span class="count">({len(units)})</span>' in inbound
    for unit in units:
        assert f'href="/doc/{unit[len(store.base) + 3 :]}"' in inbound


def test_org_structure_lists_parent_and_children(client):
    _, html = page(client, "/doc/org/itc")
    tree = html[html.index('class="tree"') : html.index("</section>", html.index('class="tree"'))]
    assert tree.index('href="/doc/org/hksar-government"') < tree.index('aria-current="page"')
    assert tree.index('aria-current="page"') < tree.index('href="/doc/org/hkas"')


def test_labels_are_escaped(tmp_path, dumps_dir):
    data = tmp_path / "evil.ttl"
    data.write_text(
        """@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<https://w3id.org/hkgraph/id/org/evil> rdfs:label "<script>alert(1)</script>"@en ;
    rdfs:seeAlso <https://w3id.org/hkgraph/id/org/other> .
<https://w3id.org/hkgraph/id/org/other> rdfs:label "\\"><img src=x onerror=alert(2)>"@en .
""",
        encoding="utf-8",
    )
    app = create_app(Config(testing=True, data=[str(data)], dumps_dir=str(dumps_dir)))
    html = app.test_client().get("/doc/org/evil", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/doc/org/itc",
        "/doc/def/",
        "/doc/def/Bureau",
        "/doc/shapes/",
        "/doc/graph/sources",
        "/search?q=itc",
        "/.well-known/void",
        "/dumps/",
    ],
)
def test_pages_use_no_external_assets(client, path):
    p, _ = page(client, path)
    assert p.assets, "expected at least the stylesheet"
    assert all(url.startswith("/") and not url.startswith("//") for url in p.assets), p.assets


def test_every_link_on_an_entity_page_resolves(client):
    p, _ = page(client, "/doc/org/itc")
    local = {
        link.split("#")[0] for link in p.links if link.startswith("/") and not link.startswith("/sparql")
    }
    for link in sorted(local):
        assert client.get(link, headers={"Accept": "text/html"}).status_code == 200, link


def test_ontology_page_documents_classes_hierarchy_properties_and_measures(client, store):
    p, html = page(client, "/doc/def/")
    for heading in ("Class hierarchy", "Classes", "Properties", "Measures", "Qualifiers", "Units"):
        assert any(h.startswith(heading) for h in p.headings), heading
    hierarchy = html[html.index('class="hierarchy"') :]
    hierarchy = hierarchy[: hierarchy.index("</ul>")]
    # Bureau is drawn under government agency
    assert hierarchy.index('href="#hkg:GovernmentAgency"') < hierarchy.index('href="#hkg:Bureau"')
    assert "The object holds policy responsibility for the subject." in html  # a definition
    assert 'href="/doc/def/measure/gross-floor-area"' in html


def test_class_page_shows_hierarchy_and_examples_from_the_data(client, store):
    p, html = page(client, "/doc/def/Department")
    assert p.h1.strip() == "government department"
    assert 'href="/doc/def/GovernmentAgency"' in html  # superclass
    assert 'href="/doc/org/itc"' in html  # an instance, as an example


def test_property_page_shows_domain_range_inverse_and_examples(client):
    _, html = page(client, "/doc/def/overseenBy")
    assert 'href="/doc/def/oversees"' in html  # inverse
    assert 'href="/doc/def/GovernmentAgency"' in html  # range
    examples = html[html.index("Examples from the data") :]
    assert 'href="/doc/' in examples


def test_shapes_page_lists_every_shape_with_its_targets(client, store):
    _, html = page(client, "/doc/shapes/")
    shapes = {r["s"] for r in store.select("SELECT ?s WHERE { ?s a sh:NodeShape FILTER(isIRI(?s)) }")}
    assert shapes
    for shape in shapes:
        assert f'href="/doc/{shape[len(store.base) :]}"' in html


def test_graph_page_counts_triples_and_lists_subjects(client, store):
    _, html = page(client, "/doc/graph/periods")
    assert 'href="/doc/period/2024"' in html
    assert "data/periods.ttl" in html or "periods.ttl" in html
