"""/search?q=: names in all three languages, ranked, as a page or as JSON for scripts."""

from __future__ import annotations

import re

from flask import Blueprint, jsonify, render_template, request

from hkgraph import describe as d
from hkgraph.app import cached, get_store
from hkgraph.blueprints.linkeddata import local_href
from hkgraph.errors import BadRequest
from hkgraph.i18n import LANGUAGES, current_language, labeller, pick
from hkgraph.negotiation import choose
from hkgraph.search import MAX_QUERY_CHARS, Hit, SearchIndex

bp = Blueprint("search", __name__)

DEFAULT_LIMIT = 20
MAX_LIMIT = 200


def search_index() -> SearchIndex:
    """The app's search index, built on first use."""
    return cached("hkgraph.search_index", lambda: SearchIndex.for_store(get_store()))


def wanted_format() -> str:
    """json or html, from ?format= or else Accept."""
    fmt = request.args.get("format")
    if fmt is not None:
        if fmt not in ("json", "html"):
            raise BadRequest(f"unknown format {fmt!r}: use format=json or format=html")
        return fmt
    return (
        "json"
        if choose(request.headers.get("Accept"), ["text/html", "application/json"]) != "text/html"
        else "html"
    )


def wanted_limit() -> int:
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    if (
        not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_LIMIT
    ):  # not isdigit(): int("²") fails
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {raw!r}")
    return int(raw)


def result(hit: Hit, lang: str) -> dict:
    """One hit with what a person or a script needs: names, type, one-line description, where to go."""
    store = get_store()
    labels = d.labels(store, hit.iri)
    types = d.asserted_types(store, hit.iri)
    descriptions = {
        (q.object.language or "").lower(): q.object.value
        for q in store.match(hit.iri, d.SCHEMA + "description")
    }
    type_names = d.names_of(store, types)
    return {
        "iri": hit.iri,
        "href": request.host_url.rstrip("/") + local_href(hit.iri),
        "label": pick(labels, lang) or hit.matched,
        "labels": {code: labels[code.lower()] for code in LANGUAGES if code.lower() in labels},
        "types": types,
        "type_labels": [labeller(type_names, lang, lambda i: i.rpartition("/")[2])(t) for t in types],
        "description": pick(descriptions, lang),
        "matched": hit.matched,
        "score": round(hit.score, 2),
    }


@bp.get("/search")
def search():
    """Search names; ?q= the words, ?limit= how many, ?format=json (or Accept: application/json)."""
    fmt = wanted_format()
    query = request.args.get("q", "")
    if len(query) > MAX_QUERY_CHARS:
        raise BadRequest(
            f"the search text is {len(query)} characters long; at most {MAX_QUERY_CHARS} are allowed"
        )
    limit = wanted_limit()
    if fmt == "json" and not query.strip():
        raise BadRequest("say what to search for with q=, e.g. /search?q=科技园&format=json")
    lang = current_language()
    hits, total = search_index().search(query, limit) if query.strip() else ([], 0)
    results = [result(hit, lang) for hit in hits]
    if fmt == "json":
        return jsonify({"query": query, "total": total, "limit": limit, "language": lang, "results": results})
    return render_template("search/index.html", query=query, total=total, results=results, limit=limit)
