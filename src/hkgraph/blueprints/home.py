"""The landing page and health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template

from hkgraph.stats import graph_stats

bp = Blueprint("home", __name__)


def cached_stats(store) -> dict:
    """The graph's counts, computed once per app (the graph is read-only)."""
    if "hkgraph.stats" not in current_app.extensions:
        current_app.extensions["hkgraph.stats"] = graph_stats(store)
    return current_app.extensions["hkgraph.stats"]


@bp.get("/")
def index():
    from hkgraph.app import get_store

    return render_template("home/index.html", stats=cached_stats(get_store()))


@bp.get("/healthz")
def healthz():
    from hkgraph.app import get_store

    store = get_store()
    return jsonify({"status": "ok", "triples": len(store), "version": store.version})
