"""The errors a user can cause, each with the HTTP status and CLI exit code it maps to."""

import unicodedata


class HkgraphError(Exception):
    """Base of every error a user can cause; the message says what was wrong."""

    status = 400
    exit_code = 2

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.links: list[tuple[str, str]] = []  # (label, URL) that help: close matches, other formats
        self.headers: dict[str, str] = {}  # HTTP headers the answer carries (e.g. Retry-After)


class LoadError(HkgraphError):
    """An RDF file could not be read or parsed; the message names the file and line."""

    status = 500


class InvalidData(LoadError):
    """Data files given to serve or build do not conform to the SHACL shapes; the message names the files
    and the first violations."""


class QuerySyntaxError(HkgraphError):
    """The SPARQL query does not parse."""


class QueryRefused(HkgraphError):
    """The query is well-formed but not allowed here (updates, SERVICE)."""


class UpdateRefused(QueryRefused):
    """Updates are never executed: the graph is read-only."""

    status = 403


class BadRequest(HkgraphError):
    """The request is malformed (parameters, encoding, body)."""


class UnsupportedMediaType(HkgraphError):
    """The request body has a media type the endpoint does not take."""

    status = 415


class NotAcceptable(HkgraphError):
    """No representation matches the Accept header or format parameter."""

    status = 406


class NotFound(HkgraphError):
    """No such resource, query or entity."""

    status = 404


class PayloadTooLarge(HkgraphError):
    """The request body or query is larger than the configured cap."""

    status = 413


class QueryTimeout(HkgraphError):
    """The query ran longer than its time limit and was stopped."""

    status = 503


class QueryFailed(HkgraphError):
    """The query parsed but failed while running (e.g. a type error the engine reports)."""


class QueryOverMemory(HkgraphError):
    """The query needed more memory than a query may use and was stopped."""

    status = 503


class RunnerDied(HkgraphError):
    """The process running the query died: it hit the memory cap or its own alarm."""

    status = 503


class RateLimited(HkgraphError):
    """The client is over a fair-use limit (hkgraph.ratelimit); Retry-After says when it may try again."""

    status = 429

    def __init__(self, message: str, retry_after: int, policy: str, limit: str):
        super().__init__(message)
        self.limit = limit  # which one: "concurrent", "query-time" or "errors"
        self.headers = {
            "Retry-After": str(retry_after),
            "RateLimit-Policy": policy,
            "RateLimit": f'"{limit}";r=0;t={retry_after}',
        }


class AmbiguousName(HkgraphError):
    """A name matches more than one entity; the message lists them."""


class BackendUnavailable(HkgraphError):
    """The triplestore behind the app cannot be reached or failed; the message names it."""

    status = 503


class RendererUnavailable(HkgraphError):
    """Graphviz is not installed, so a diagram cannot be drawn as SVG, PNG or PDF (DOT, Mermaid, GraphML and
    JSON still can)."""

    status = 503


def printable(text: str) -> str:
    """Text with control and invisible formatting characters (NUL, ESC, RTL overrides, zero-width) written
    as escapes, so that a message never hides, reorders or colours what it quotes; line breaks and tabs stay."""
    return "".join(
        c if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf") else ascii(c)[1:-1] for c in text
    )


class RenderTimeout(HkgraphError):
    """Graphviz took longer than its time limit to draw a diagram and was stopped."""

    status = 503
