"""The landing page (what this is, counts, example questions, where to go next) and the health check."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, current_app, jsonify, render_template, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from hkgraph.app import cached, get_store
from hkgraph.describe import SCHEMA, asserted_types, names_of
from hkgraph.i18n import current_language, labeller, pick
from hkgraph.queries import named_queries
from hkgraph.search import to_traditional
from hkgraph.stats import graph_stats
from hkgraph.void import DESCRIPTION, TITLE, example_resources

bp = Blueprint("home", __name__)


def cached_stats(store) -> dict:
    """The graph's counts, computed once per app (the graph is read-only)."""
    return cached("hkgraph.stats", lambda: graph_stats(store))


def route_exists(path: str) -> bool:
    """Whether this app answers GET path (other areas, such as /sparql or /diagram, may not be there)."""
    try:
        current_app.url_map.bind("localhost").match(path, method="GET")
    except (RequestRedirect, MethodNotAllowed):
        return True
    except NotFound:
        return False
    return True


def question(q, lang: str) -> str:
    """A named query's question in the page language (Traditional converted from Simplified)."""
    if lang == "en" or not q.question_zh:
        return q.question_en or q.question_zh or q.name
    if lang == "zh-Hant":
        return to_traditional().convert(q.question_zh)
    return q.question_zh


@bp.get("/")
def index():
    """What this is, in numbers and examples, with links to every way in."""
    store = get_store()
    lang = current_language()
    examples = cached("hkgraph.example_resources", lambda: example_resources(store))
    types = {iri: asserted_types(store, iri)[:1] for iri in examples}
    names = names_of(store, [*examples, *(t for ts in types.values() for t in ts)])
    descriptions = {
        iri: {
            (q.object.language or "").lower(): q.object.value
            for q in store.match(iri, SCHEMA + "description")
        }
        for iri in examples
    }
    sparql = request.script_root + "/sparql"
    questions = [
        (question(q, lang), sparql + "?query=" + quote(q.text, safe=""), q.name) for q in named_queries()
    ]
    return render_template(
        "home/index.html",
        stats=cached_stats(store),
        title=TITLE[lang],
        description=DESCRIPTION[lang],
        examples=[(iri, types[iri], pick(descriptions[iri], lang)) for iri in examples],
        name=labeller(names, lang, lambda iri: iri.rpartition("/")[2]),
        questions=questions,
        has_sparql=route_exists("/sparql"),
        has_diagrams=route_exists("/diagram"),
    )


@bp.get("/healthz")
def healthz():
    store = get_store()
    return jsonify({"status": "ok", "triples": len(store), "version": store.version})
