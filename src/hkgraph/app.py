"""The Flask application factory: one store, one blueprint per area, errors mapped in one place."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from hkgraph.config import Config
from hkgraph.errors import HkgraphError
from hkgraph.store import Store, file_sources


def create_app(config: Config | dict | None = None, store: Store | None = None) -> Flask:
    """Build the app for a config; the store is loaded here unless one is passed in (tests share one)."""
    if not isinstance(config, Config):
        config = Config.from_mapping(config)
    app = Flask(__name__)
    app.config["HKGRAPH"] = config
    app.config["TESTING"] = config.testing
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    if store is None:
        store = Store.load(file_sources(config.data) if config.data else None, base=config.base_uri)
    app.extensions["hkgraph.store"] = store

    from hkgraph.blueprints import home

    app.register_blueprint(home.bp)
    register_error_handlers(app)
    return app


def get_store() -> Store:
    """The store of the current app."""
    from flask import current_app

    return current_app.extensions["hkgraph.store"]


def wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/plain", "text/html"])
    return best == "text/html"


def error_response(status: int, message: str) -> Response:
    """An error as HTML, JSON or plain text, by what the client accepts; always says what was wrong."""
    best = request.accept_mimetypes.best_match(["text/plain", "application/json", "text/html"])
    if best == "application/json":
        response = jsonify({"error": message, "status": status})
    elif best == "text/html":
        response = Response(render_template("error.html", status=status, message=message), mimetype="text/html")
    else:
        response = Response(message.rstrip("\n") + "\n", mimetype="text/plain")
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HkgraphError)
    def handle_hkgraph_error(err: HkgraphError):
        return error_response(err.status, err.message)

    @app.errorhandler(HTTPException)
    def handle_http_error(err: HTTPException):
        return error_response(err.code or 500, err.description or err.name)
