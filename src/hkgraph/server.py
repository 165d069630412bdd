"""Run the app under gunicorn (never Flask's development server).

gunicorn sync workers, one request at a time each; the graph is loaded once in the master and shared
copy-on-write. A query runs in its worker under a watchdog thread (hkgraph.sparql_watchdog): a runaway
query gets a 503 at its time limit and its worker is replaced by a fresh fork of the master, while the
other workers keep answering. gunicorn's own worker timeout is a backstop well above the query limit.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import socket

from gunicorn.app.base import BaseApplication

from hkgraph.app import create_app
from hkgraph.config import Config

GUNICORN_BACKSTOP = 30  # seconds beyond the query limit before gunicorn itself kills a stuck worker


def default_workers() -> int:
    return 2 * (os.cpu_count() or 1) + 1


class GunicornApp(BaseApplication):
    """A gunicorn application serving an app built (and its graph loaded) before the workers fork."""

    def __init__(self, app, options: dict):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings this gunicorn version does not know are skipped
                self.cfg.set(key, value)

    def load(self):
        return self.application


def gunicorn_options(host: str, port: int, workers: int, query_timeout: float) -> dict:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "sync",
        "timeout": math.ceil(query_timeout) + GUNICORN_BACKSTOP,
        "graceful_timeout": 10,
        "preload_app": True,
        "accesslog": None,  # the app writes its own structured access log
        "errorlog": "-",
        "limit_request_line": 8190,  # longest GET; longer queries are POSTed (up to max_request_bytes)
        "proc_name": "hkgraph",
        "control_socket_disable": True,  # no shared ~/.gunicorn socket between instances
    }


def compile_templates(app) -> None:
    """Compile every page template once, in the master: each worker, and each fresh one that replaces a worker
    the watchdog ended, then shares them instead of spending most of its first pages' time compiling."""
    for name in app.jinja_env.list_templates():
        app.jinja_env.get_template(name)


def warm_up_worker(app) -> None:
    """In a fresh worker, before it takes requests: serve itself a health check and a tiny query (under the
    watchdog, a socket pair standing in for the client's), so that copying the pages a request touches from
    the master (some 10 ms) is not left to its first client."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_USER_AGENT": "hkgraph warm-up", "gunicorn.socket": ours}
        client = app.test_client()
        client.get("/healthz", environ_base=environ)
        client.get("/sparql", query_string={"query": "ASK { ?s ?p ?o }"}, environ_base=environ)


def serve(config: Config, host: str, port: int, workers: int) -> None:
    """Load the graph (a load error stops here with its message), then serve it with gunicorn."""
    app = create_app(dataclasses.replace(config, queries_in_worker=True))
    compile_templates(app)
    gc.freeze()  # workers' garbage collection leaves what they inherit alone, so those pages stay shared
    options = gunicorn_options(host, port, workers, config.query_timeout)
    store = app.extensions["hkgraph.store"]
    options["post_fork"] = lambda server, worker: store.after_fork()  # own database handle or connections
    options["post_worker_init"] = lambda worker: warm_up_worker(app)
    GunicornApp(app, options).run()
