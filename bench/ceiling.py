"""The ceiling of the benchmark: a bare Flask view that runs the query on pyoxigraph and returns JSON.

No guard, no runner process, no limits, no negotiation, cache, log, CORS or gzip: what our endpoint would
cost with nothing but the query. Served by gunicorn with the same options as `hkgraph serve`.
Usage: python bench/ceiling.py PORT WORKERS
"""

from __future__ import annotations

import sys

import pyoxigraph as ox
from flask import Flask, Response, request

from hkgraph.server import GunicornApp, gunicorn_options
from hkgraph.store import Store


def build_app(store: Store) -> Flask:
    app = Flask(__name__)

    @app.route("/sparql", methods=["GET", "POST"])
    def sparql():
        result = store.query(request.values["query"])
        if isinstance(result, ox.QueryTriples):
            return Response(ox.serialize(result, format=ox.RdfFormat.JSON_LD), mimetype="application/ld+json")
        return Response(
            result.serialize(format=ox.QueryResultsFormat.JSON), mimetype="application/sparql-results+json"
        )

    return app


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    GunicornApp(build_app(Store.load()), gunicorn_options("127.0.0.1", port, workers, 10.0)).run()
