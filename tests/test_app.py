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
