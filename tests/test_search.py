"""/search: names in three languages, Simplified and Traditional finding each other, ranked, HTML and JSON."""

import json

import pytest

from hkgraph.search import SearchIndex, normalise


def search_json(client, q: str, **params) -> dict:
    response = client.get("/search", query_string={"q": q, "format": "json", **params})
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.data)


def rels(store, body) -> list[str]:
    return [r["iri"][len(store.base) :] for r in body["results"]]


@pytest.mark.parametrize(
    "query, expected_first",
    [
        ("科技園", "id/org/hkstp"),  # Traditional finds the Simplified short form 科技园公司
        ("科技园", "id/org/hkstp"),
        ("創新科技署", "id/org/itc"),  # Traditional name
        ("创新科技署", "id/org/itc"),  # Simplified name
        ("itc", "id/org/itc"),  # abbreviation, any case
        ("ITC", "id/org/itc"),
        ("innovation and technology commission", "id/org/itc"),
        ("INNOVATION AND TECHNOLOGY COMMISSION", "id/org/itc"),
        ("Science Park", "id/facility/science-park"),
        ("數碼港", "id/facility/cyberport"),
        ("一带一路倡议", "id/concept/belt-and-road"),  # punctuation in the name (“一带一路”倡议) is ignored
    ],
)
def test_search_finds_across_languages_and_scripts(client, store, query, expected_first):
    body = search_json(client, query)
    assert body["results"], query
    found = rels(store, body)
    assert expected_first in found[:2], found[:5]


def test_simplified_and_traditional_find_the_same_things(client, store):
    assert set(rels(store, search_json(client, "科技园"))) == set(rels(store, search_json(client, "科技園")))


def test_exact_name_ranks_before_names_that_contain_it(client, store):
    found = rels(store, search_json(client, "InnoHK"))
    assert found[0] == "id/programme/innohk"
    assert len(found) > 3


def test_entities_rank_before_their_observations(client, store):
    found = rels(store, search_json(client, "Hong Kong Science Park"))
    assert found.index("id/facility/science-park") < min(
        i for i, r in enumerate(found) if r.startswith("id/obs/")
    )


def test_json_result_has_names_type_and_link(client, store):
    body = search_json(client, "創新科技署")
    first = body["results"][0]
    assert first["labels"] == {
        "en": "Innovation and Technology Commission",
        "zh-Hans": "创新科技署",
        "zh-Hant": "創新科技署",
    }
    assert first["href"].endswith("/doc/org/itc")
    assert store.iri("def/Department") in first["types"]
    assert body["total"] >= 1 and body["query"] == "創新科技署"


def test_result_label_follows_the_page_language(client):
    body = search_json(client, "itc", lang="zh-Hant")
    assert body["results"][0]["label"] == "創新科技署"


def test_json_by_accept_header(client):
    response = client.get("/search?q=itc", headers={"Accept": "application/json"})
    assert response.mimetype == "application/json"


def test_limit_caps_results_and_total_counts_all(client):
    body = search_json(client, "hong kong", limit=3)
    assert len(body["results"]) == 3 and body["total"] > 3


@pytest.mark.parametrize(
    "params, message",
    [
        ({"format": "json"}, "q="),
        ({"q": "x", "limit": "0"}, "limit"),
        ({"q": "x", "limit": "many"}, "limit"),
        ({"q": "x", "limit": "²"}, "limit"),  # a digit to str.isdigit(), not to int(): was a 500 (fuzzing)
        ({"q": "x", "limit": "9" * 5000}, "limit"),  # more digits than int() reads: was a 500 (fuzzing)
        ({"q": "x", "format": "xml"}, "format"),
        ({"q": "x" * 201}, "at most 200"),
    ],
)
def test_bad_requests_say_what_is_wrong(client, params, message):
    response = client.get("/search", query_string=params, headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert message in json.loads(response.data)["error"]


def test_unservable_accept_is_406(client):
    assert client.get("/search?q=itc", headers={"Accept": "image/png"}).status_code == 406


def test_html_results_page_escapes_the_query_and_links_results(client):
    page = client.get("/search?q=<b>itc</b>", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "<b>itc</b>" not in page and "&lt;b&gt;itc&lt;/b&gt;" in page
    page = client.get("/search?q=科技園", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'href="http://localhost/doc/org/hkstp"' in page


def test_search_box_is_on_every_page(client):
    for path in ("/", "/doc/org/itc", "/doc/def/", "/dumps/", "/.well-known/void"):
        page = client.get(path, headers={"Accept": "text/html"}).get_data(as_text=True)
        assert 'role="search"' in page and 'name="q"' in page, path


def test_normalise_folds_script_case_width_and_punctuation():
    assert normalise("科技園") == normalise("科技园")
    assert normalise("ＩＴＣ") == "itc"
    assert normalise("“一带一路”倡议") == normalise("「一帶一路」倡議")
    assert normalise("Hong Kong-Shenzhen") == "hong kong shenzhen"


def test_index_finds_typos_by_spelling(store):
    index = SearchIndex.build(store)
    assert store.iri("id/org/itc") in index.similar("Innovation and Technology Commision")


@pytest.mark.parametrize("q", ["itc\x00", "\x00", "\u202eitc", "it\u200bc"])
def test_control_and_invisible_characters_are_ignored(client, q):
    """A NUL ended SQLite's full-text query: a 500 on /search and on every 404 of /id/ (found by fuzzing)."""
    body = search_json(client, q)
    assert body["query"] == q
    assert q.strip("\x00") == "" or body["results"][0]["iri"].endswith("/id/org/itc")
    missing = client.get("/id/org/itc%00", headers={"Accept": "text/plain"})
    assert missing.status_code == 404 and "/doc/org/itc" in missing.get_data(as_text=True)
