"""The API description at /openapi.json: it describes every route and no other, it is valid OpenAPI 3.1,
and a live gunicorn server answers every operation as it says (schemathesis)."""

from __future__ import annotations

import copy
import re
import zlib

import jsonschema
import pytest
import schemathesis
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import JsonSchemaError, UndefinedContentType, UndefinedStatusCode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hkgraph import diagram as dg
from hkgraph.app import create_app
from hkgraph.blueprints.api import load_document
from hkgraph.config import Config

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
AUTOMATIC = {"HEAD", "OPTIONS"}  # Flask answers these on every route; the document says so once
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Bounded (about 500 requests), and the same cases on every run, so `make test` stays quick and a failure
# replays: every documented example, the boundary values of every parameter (coverage), and 10 random cases
# per operation, valid and invalid (fuzzing). A 503 is a documented answer (a query stopped at its limit).
SCHEMATHESIS_CONFIG = {
    "generation": {"max-examples": 10, "deterministic": True, "database": "none"},
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True, "generation": {"mode": "positive"}},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": False},
    },
    "checks": {"not_a_server_error": {"expected-statuses": ["1XX", "2XX", "3XX", "4XX", "503"]}},
}

# A query or an update is sent as its text.
schemathesis.serializer.alias(["application/sparql-query", "application/sparql-update"], "text/plain")


def template(path: str) -> str:
    """A route or an OpenAPI path with its variables unnamed: /doc/<path:doc_rel>/diagram.<suffix> and
    /doc/{path}/diagram.{suffix} both become /doc/{}/diagram.{}."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def operations(document: dict) -> set[tuple[str, str]]:
    return {
        (template(path), method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_route_is_described_and_every_described_path_exists(app):
    routes = {
        (template(rule.rule), method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - AUTOMATIC
    }
    described = operations(load_document())
    assert routes - described == set(), "routes missing from src/hkgraph/openapi.json"
    assert described - routes == set(), "described in src/hkgraph/openapi.json but not routes of the app"


def test_served_document_is_valid_openapi_31_with_this_instance_as_server(client):
    response = client.get("/openapi.json", base_url="http://example.test:8123/prefix")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()
    validate(document)
    assert document["openapi"].startswith("3.1.")
    assert document["servers"] == [{"url": "http://example.test:8123/prefix"}]
    assert {k: v for k, v in document.items() if k != "servers"} == {
        k: v for k, v in load_document().items() if k != "servers"
    }


def test_validator_rejects_a_broken_document():
    broken = copy.deepcopy(load_document())
    broken["paths"]["/healthz"]["get"]["responses"]["200"]["content"] = "application/json"
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_diagram_json_schema_is_the_one_the_renderer_promises():
    described = load_document()["components"]["schemas"]["Diagram"]
    assert described == {k: v for k, v in dg.JSON_SCHEMA.items() if k != "$schema"}


def test_error_schema_matches_a_json_error(client):
    response = client.get("/doc/org/no-such-thing", headers={"Accept": "application/json"})
    assert response.status_code == 404
    jsonschema.validate(response.get_json(), load_document()["components"]["schemas"]["Error"])


# Against a live server -------------------------------------------------------------------------------------


def media_types(document: dict) -> list[str]:
    """Every media type a response in the document may have."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("content"), dict):
                found.update(node["content"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return sorted(found)


# What clients send: each documented type, anything, a browser's header, and a type nothing here serves.
ACCEPTS = [
    *media_types(load_document()),
    "*/*",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "image/gif",
]


def accept_for(case) -> str:
    """The Accept header a case sends, taken from the case itself, so a failing case replays the same way."""
    key = repr((case.method, case.path, case.path_parameters, case.query, case.body)).encode()
    return ACCEPTS[zlib.crc32(key) % len(ACCEPTS)]


# The package's document; the live server serves the same (test_served_document_is_valid_openapi_31_...).
schema = schemathesis.openapi.from_dict(
    load_document(), config=schemathesis.Config.from_dict(SCHEMATHESIS_CONFIG)
)


@pytest.mark.slow
@schema.parametrize()
def test_live_server_answers_as_documented(case, live_server):
    """No 5xx but the documented 503; every status, media type, JSON body and header as documented."""
    case.headers = {**(case.headers or {}), "Accept": accept_for(case)}
    case.call_and_validate(base_url=live_server.rstrip("/"), checks=CHECKS, timeout=60)


# Answers that random requests seldom meet, each checked against the document, from an app with small limits.
SPARQL_GET, SPARQL_POST = ("/sparql", "GET"), ("/sparql", "POST")
CROSS_JOIN = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
RARE = [
    (SPARQL_GET, {"query": {"query": "SELECT ?s WHERE { ?s ?p ?o }"}}, 206),  # over max_rows
    (SPARQL_GET, {"query": {"query": "CONSTRUCT WHERE { ?s ?p ?o }", "format": "jsonld"}}, 206),
    (SPARQL_GET, {"query": {"query": "ASK { ?s ?p ?o }", "format": "turtle"}}, 406),
    (SPARQL_GET, {"query": {"query": "SELECT * {}", "update": "CLEAR ALL"}}, 403),
    (SPARQL_GET, {"query": {"query": "INSERT DATA { <a:b> <a:c> <a:d> }"}}, 403),
    (SPARQL_GET, {"query": {"query": "SELECT * { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }"}}, 400),
    (SPARQL_GET, {"query": {"query": "SELECT * {} # " + "x" * 3000}}, 413),
    (SPARQL_GET, {"query": {"query": CROSS_JOIN, "timeout": 0.2}}, 503),
    (SPARQL_GET, {"headers": {"Accept": "text/turtle"}}, 200),  # the service description
    (SPARQL_POST, {"body": "SELECT * {}", "media_type": "text/plain"}, 415),
    (SPARQL_POST, {"body": "CLEAR ALL", "media_type": "application/sparql-update"}, 403),
    (SPARQL_POST, {"body": "x" * 3000, "media_type": "application/sparql-query"}, 413),
    (
        ("/doc/{path}", "GET"),
        {"path_parameters": {"path": "org/itc"}, "headers": {"Accept": "image/gif"}},
        406,
    ),
    (
        ("/doc/{path}/diagram", "GET"),
        {"path_parameters": {"path": "org/itc"}, "headers": {"Accept": "text/html"}},
        303,
    ),
    (("/diagram.{suffix}", "GET"), {"path_parameters": {"suffix": "json"}, "query": {"root": "itc"}}, 200),
    (("/dumps/{name}", "GET"), {"path_parameters": {"name": "manifest.json"}}, 200),
    (("/search", "GET"), {"query": {"q": "科技" * 101, "format": "json"}}, 400),
]


IN_PROCESS = {"Accept-Encoding": "identity"}  # werkzeug's client would not unzip a gzipped body


@pytest.fixture(scope="module")
def small_limits_app(store, dumps_dir):
    config = Config(testing=True, dumps_dir=str(dumps_dir), max_rows=3, max_request_bytes=2048)
    return create_app(config, store=store)


@pytest.mark.parametrize("operation, request_parts, status", RARE)
def test_rare_answers_are_as_documented(small_limits_app, operation, request_parts, status):
    path, method = operation
    case = schema[path][method].Case(**request_parts)
    response = case.call_and_validate(app=small_limits_app, headers=IN_PROCESS, checks=CHECKS)
    assert response.status_code == status


def test_a_revalidated_result_is_not_modified_as_documented(small_limits_app):
    query = {"query": "ASK { ?s a hkg:Bureau }"}
    first = schema["/sparql"]["GET"].Case(query=query)
    first = first.call_and_validate(app=small_limits_app, headers=IN_PROCESS, checks=CHECKS)
    etag = first.headers["etag"][0]
    again = schema["/sparql"]["GET"].Case(query=query, headers={"If-None-Match": etag})
    assert again.call_and_validate(app=small_limits_app, headers=IN_PROCESS, checks=CHECKS).status_code == 304


def healthz_says_text(document: dict) -> None:
    content = document["paths"]["/healthz"]["get"]["responses"]["200"]["content"]
    content["text/plain"] = content.pop("application/json")


def healthz_says_201(document: dict) -> None:
    responses = document["paths"]["/healthz"]["get"]["responses"]
    responses["201"] = responses.pop("200")


def health_triples_a_string(document: dict) -> None:
    document["components"]["schemas"]["Health"]["properties"]["triples"] = {"type": "string"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "break_it, failure",
    [
        (healthz_says_text, UndefinedContentType),
        (healthz_says_201, UndefinedStatusCode),
        (health_triples_a_string, JsonSchemaError),
    ],
)
def test_checks_catch_a_document_that_is_wrong(break_it, failure, live_server):
    """The same checks fail on a copy of the document made wrong about /healthz; the real one passes."""
    wrong = load_document()
    break_it(wrong)
    case = schemathesis.openapi.from_dict(wrong)["/healthz"]["GET"].Case()
    with pytest.raises(FailureGroup) as caught:
        case.call_and_validate(base_url=live_server.rstrip("/"), checks=CHECKS, timeout=60)
    assert [type(f) for f in caught.value.exceptions] == [failure]
    schema["/healthz"]["GET"].Case().call_and_validate(base_url=live_server.rstrip("/"), checks=CHECKS)
