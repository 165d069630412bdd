"""The Flask application factory: one store, one blueprint per area, errors mapped in one place."""

from __future__ import annotations

import gzip
import time
from urllib.parse import parse_qsl

from flask import Flask, Response, g, jsonify, render_template, request
from flask import Request as FlaskRequest
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_accept_header
from werkzeug.utils import cached_property

from hkgraph.access_log import access_entry, write_access_line
from hkgraph.config import Config
from hkgraph.errors import HkgraphError, LoadError, printable
from hkgraph.sparql_http_cache import ResponseCache
from hkgraph.store import DEFAULT_BASE, Store, file_sources


class Request(FlaskRequest):
    """Flask's request, but for raw bytes in the query string that are not UTF-8: Werkzeug fails on them
    (UnicodeDecodeError, a 500) where it keeps such %XX escapes as they are; here both are kept as %XX
    (and the SPARQL endpoint refuses them: sparql_protocol.url_parameters)."""

    @cached_property
    def args(self):
        text = self.query_string.decode("utf-8", "werkzeug.url_quote")
        return self.parameter_storage_class(
            parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote")
        )


def create_app(config: Config | dict | None = None, store: Store | None = None) -> Flask:
    """Build the app for a config; the store is loaded here unless one is passed in (tests share one)."""
    if not isinstance(config, Config):
        config = Config.from_mapping(config)
    app = Flask(__name__)
    app.request_class = Request
    app.config["HKGRAPH"] = config
    app.config["TESTING"] = config.testing
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    if store is None:
        store = open_store(config)
    app.extensions["hkgraph.store"] = store

    from hkgraph import i18n, ratelimit
    from hkgraph.blueprints import api, dataset, diagrams, home, linkeddata, search, sparql
    from hkgraph.sparql_fastpath import FastPath

    i18n.init_app(app)
    app.register_blueprint(home.bp)
    app.register_blueprint(linkeddata.bp)
    app.register_blueprint(search.bp)
    app.register_blueprint(dataset.bp)
    app.register_blueprint(sparql.bp)
    app.register_blueprint(diagrams.bp)
    app.register_blueprint(api.bp)
    register_error_handlers(app)
    register_http_hooks(app)
    ratelimit.init_app(app)  # after the clock starts, so a refused request is timed and logged too
    app.wsgi_app = ResponseCache(
        FastPath(app, app.wsgi_app),
        config.result_cache_bytes,
        write_access_line if config.access_log else None,
    )
    return app


def open_store(config: Config) -> Store:
    """The store the config names: a triplestore's endpoint, an on-disk store, RDF files or the built-in graph."""
    if config.endpoint:
        from hkgraph.remote import RemoteStore

        return RemoteStore.open(config.endpoint, base=config.base_uri, timeout=config.query_timeout)
    if config.store_dir:
        store = Store.open(config.store_dir)
        if config.base_uri.rstrip("/") not in (DEFAULT_BASE.rstrip("/"), store.base.rstrip("/")):
            raise LoadError(
                f"{config.store_dir} was built for the base {store.base}: build it again with "
                f"--base-uri {config.base_uri} to serve it there"
            )
        return store
    if not config.data:
        return Store.load(base=config.base_uri)  # the built-in graph: the test suite validates it
    store = Store.load(file_sources(config.data), base=config.base_uri)
    if config.validate_data:
        from hkgraph.validate import require_valid

        require_valid(store)
    return store


def get_store() -> Store:
    """The store of the current app."""
    from flask import current_app

    return current_app.extensions["hkgraph.store"]


def cached(key: str, build):
    """A value computed once per app (the graph is read-only): build() on first use, then kept."""
    from flask import current_app

    if key not in current_app.extensions:
        current_app.extensions[key] = build()
    return current_app.extensions[key]


def wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/plain", "text/html"])
    return best == "text/html"


def error_response(status: int, message: str, links: list[tuple[str, str]] = ()) -> Response:
    """An error as HTML, JSON or plain text, by what the client accepts; always says what was wrong."""
    message = printable(message)  # it may quote the request: no NUL, terminal escape or RTL override
    best = request.accept_mimetypes.best_match(["text/plain", "application/json", "text/html"])
    if best == "application/json":
        response = jsonify(
            {"error": message, "status": status, "see": [{"label": t, "href": h} for t, h in links]}
        )
    elif best == "text/html":
        page = render_template("error.html", status=status, message=message, links=links)
        response = Response(page, mimetype="text/html")
    else:
        lines = [message.rstrip("\n")] + [f"  {printable(t)}: {h}" for t, h in links]
        response = Response("\n".join(lines) + "\n", mimetype="text/plain")
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HkgraphError)
    def handle_hkgraph_error(err: HkgraphError):
        response = error_response(err.status, err.message, err.links)
        response.headers.update(err.headers)  # e.g. Retry-After of a 429
        return response

    @app.errorhandler(HTTPException)
    def handle_http_error(err: HTTPException):
        if err.code == 413:
            drain_body()
            return error_response(
                413, too_large_message(request.content_length, app.config["MAX_CONTENT_LENGTH"])
            )
        return error_response(err.code or 500, err.description or err.name)


def too_large_message(size: int | None, limit: int) -> str:
    """What a 413 says: how large the body was (when the request said) and how large it may be."""
    if size:
        return f"the request body has {size} bytes; at most {limit} are accepted"
    return f"the request body is longer than the {limit} bytes accepted"


DRAIN_BYTES = 16 * 1024 * 1024  # most of a refused body read and dropped before answering


def drain_body() -> None:
    """Read and drop the body of a request refused unread (up to DRAIN_BYTES): a client still sending it
    then reads the answer, where closing on unread data would reset the connection under it."""
    stream = request.environ["wsgi.input"]
    left = min(request.content_length or 0, DRAIN_BYTES)
    while left > 0:
        chunk = stream.read(min(left, 64 * 1024))
        if not chunk:
            break
        left -= len(chunk)


# App-wide HTTP behaviour: CORS for browser clients, gzip, a structured access log -------------------

COMPRESSIBLE = ("text/", "application/json", "application/ld+json", "application/sparql-results", "application/n-",
                "application/trig", "application/rdf+xml", "application/xml", "application/javascript", "image/svg")  # fmt: skip
EXPOSED_HEADERS = (
    "ETag, Server-Timing, X-SPARQL-Rows, X-SPARQL-Truncated, X-SPARQL-MaxRows, X-SPARQL-MaxBytes, "
    "Retry-After, RateLimit, RateLimit-Policy"
)


def add_cors_headers(response: Response) -> None:
    """Any origin may read: the data is public and the API is read-only."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = (
            "Accept, Accept-Language, Content-Type, If-None-Match"
        )
        response.headers["Access-Control-Max-Age"] = "86400"


# Pages load scripts, styles, images and fonts from this server only and run no inline script or style
# (but the one stylesheet YASGUI's table column resizer inserts, by its hash; tests/test_http_security.py
# tells when a new YASGUI changes it); anything else (RDF, JSON, SVG, text) runs nothing at all. Only this
# site may frame either.
YASGUI_STYLE = "'sha256-zCK2EVMoPc04mRF/g5CotUvxbJPWS+8V0b+s9ptqQIk='"
PAGE_POLICY = (
    f"default-src 'self'; style-src 'self' {YASGUI_STYLE}; img-src 'self' data:; object-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
DATA_POLICY = "default-src 'none'; frame-ancestors 'self'"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "SAMEORIGIN",
    "Cross-Origin-Resource-Policy": "cross-origin",  # public data, read by any site (as CORS allows)
}


def data_headers(cors: bool) -> list[tuple[str, str]]:
    """The CORS (if on) and security headers of every data answer to a GET (what finish() adds)."""
    headers = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", EXPOSED_HEADERS)]
    return (headers if cors else []) + [*SECURITY_HEADERS.items(), ("Content-Security-Policy", DATA_POLICY)]


def add_security_headers(response: Response) -> None:
    """The Content-Security-Policy for a page or for data, and the other security headers (docs/deployment.md)."""
    response.headers.update(SECURITY_HEADERS)
    policy = PAGE_POLICY if response.mimetype == "text/html" else DATA_POLICY
    response.headers["Content-Security-Policy"] = policy


GZIP_MIN_BYTES = 1024  # smaller answers are sent as they are


def compress(response: Response, min_bytes: int = GZIP_MIN_BYTES) -> None:
    """gzip a buffered text response of at least min_bytes when the client accepts gzip."""
    if response.direct_passthrough or response.is_streamed or "Content-Encoding" in response.headers:
        return
    if not (response.mimetype or "").startswith(COMPRESSIBLE):
        return
    vary = response.headers.get("Vary")
    response.headers["Vary"] = f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"
    if response.status_code not in (200, 206) or not accepts_gzip(request.headers.get("Accept-Encoding", "")):
        return
    data = response.get_data()
    if len(data) >= min_bytes:
        response.set_data(gzip_body(data))
        response.headers["Content-Encoding"] = "gzip"


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding names gzip (and not with q=0)."""
    return "gzip" in accept_encoding and bool(parse_accept_header(accept_encoding)["gzip"])


def gzip_body(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=5)


def log_access(response: Response) -> None:
    """One JSON line per request: who asked what, the status, size, total and query time, cache use."""
    get = g.get
    entry = access_entry(
        request.environ,
        request.path,
        response.status_code,
        response.calculate_content_length(),
        get("started", time.perf_counter()),
        get("query_ms"),
        get("cache"),
        get("query_id"),
    )
    entry["limit"] = get("rate_limit")  # the fair-use limit a 429 was for (hkgraph.ratelimit)
    write_access_line(entry)


def register_http_hooks(app: Flask) -> None:
    """CORS, security headers, gzip and the access log on every response (the SPARQL endpoint sets its own
    ETags)."""
    config = app.config["HKGRAPH"]

    @app.before_request
    def start_clock():
        g.started = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        if config.cors:
            add_cors_headers(response)
        add_security_headers(response)
        compress(response)
        if config.access_log:
            log_access(response)
        return response
