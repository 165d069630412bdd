"""The app factory, landing page, health check and error mapping."""

import json


def test_landing_page_lists_counts(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "text/html" in response.content_type
    assert "Observations" in response.get_data(as_text=True)


def test_healthz(client, store):
    body = json.loads(client.get("/healthz").data)
    assert body["status"] == "ok"
    assert body["triples"] == len(store)


def test_unknown_path_is_404_with_message(client):
    response = client.get("/no-such-page", headers={"Accept": "text/plain"})
    assert response.status_code == 404
    assert "not found" in response.get_data(as_text=True).lower()


def test_raw_bytes_in_the_query_string_are_read_as_percent_escapes(client):
    """A query string with raw bytes that are not UTF-8 was a 500 on every page (found by fuzzing)."""
    search = client.get("/search", environ_overrides={"QUERY_STRING": "q=\xff&format=json"})
    assert search.status_code == 200 and search.get_json()["query"] == "%FF"
    lang = client.get("/", environ_overrides={"QUERY_STRING": "lang=\xff"}, headers={"Accept": "text/plain"})
    assert lang.status_code == 400 and "unknown language '%FF'" in lang.get_data(as_text=True)


def test_a_very_long_language_tag_is_read_by_its_start():
    from hkgraph.i18n import language_of_tag

    assert language_of_tag("zh-Hant-" + "x-" * 100_000) == "zh-Hant"  # was n² in the tag's length
    assert language_of_tag("x" * 1_000_000) is None
