"""The errors a user can cause, each with the HTTP status and CLI exit code it maps to."""


class HkgraphError(Exception):
    """Base of every error a user can cause; the message says what was wrong."""

    status = 400
    exit_code = 2

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.links: list[tuple[str, str]] = []  # (label, URL) that help: close matches, other formats


class LoadError(HkgraphError):
    """An RDF file could not be read or parsed; the message names the file and line."""

    status = 500


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


class AmbiguousName(HkgraphError):
    """A name matches more than one entity; the message lists them."""


class BackendUnavailable(HkgraphError):
    """The triplestore behind the app cannot be reached or failed; the message names it."""

    status = 503


class RendererUnavailable(HkgraphError):
    """Graphviz is not installed, so a diagram cannot be drawn as SVG, PNG or PDF (DOT, Mermaid, GraphML and
    JSON still can)."""

    status = 503
