"""The floor of the benchmark: gunicorn answering every request with the same two bytes, no Flask, no query.

No server run by gunicorn with these options answers faster on this machine, so its rate bounds what a
cached answer or a 304 can reach (and any ratio to rdflib-endpoint). Served with the same options as
`hkgraph serve`. Usage: python bench/floor.py PORT WORKERS
"""

from __future__ import annotations

import sys

from hkgraph.server import GunicornApp, gunicorn_options

BODY = b"{}"


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    GunicornApp(app, gunicorn_options("127.0.0.1", port, workers, 10.0)).run()
