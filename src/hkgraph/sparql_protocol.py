"""Reads a W3C SPARQL 1.1 Protocol request (GET, POST form, POST sparql-query) into its parameters."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

import pyoxigraph as ox
from werkzeug.datastructures import MultiDict

from hkgraph.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, UpdateRefused

FORM = "application/x-www-form-urlencoded"
SPARQL_QUERY = "application/sparql-query"
SPARQL_UPDATE = "application/sparql-update"
UPDATE_PARAMETERS = ("update", "using-graph-uri", "using-named-graph-uri")
READ_ONLY = "this endpoint is read-only: SPARQL updates are not accepted"


@dataclass(frozen=True)
class SparqlRequest:
    """The protocol parameters of one request; None where the request does not give them."""

    query: str | None
    default_graphs: tuple[str, ...] | None
    named_graphs: tuple[str, ...] | None
    format: str | None
    timeout: float | None


def decode_utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = raw[err.start : err.start + 1].hex()
        raise BadRequest(f"{what} is not valid UTF-8 (byte 0x{bad} at position {err.start})") from None


def decode_parameters(raw: bytes, where: str) -> list[tuple[str, str]]:
    """Percent-decode name=value pairs (as urllib's parse_qsl, blanks kept); each value must be UTF-8 (a
    replacement character is never guessed)."""
    decoded = []
    for pair in raw.split(b"&"):
        if not pair:
            continue
        k, _, v = pair.partition(b"=")
        name = decode_utf8(percent_decoded(k), f"a parameter name in the {where}")
        decoded.append((name, decode_utf8(percent_decoded(v), f"parameter {name!r} in the {where}")))
    return decoded


def percent_decoded(raw: bytes) -> bytes:
    """The bytes a form-encoded text stands for ('+' a space, %XX a byte; a '%' that starts no escape stays).
    Decoded by Python's C codec for \\xXX escapes: urllib's own decoder, in Python, costs a request some 30 µs."""
    escaped = raw.replace(b"+", b" ").replace(b"\\", b"%5C").replace(b"%", b"\\x")
    try:
        return escaped.decode("unicode_escape").encode("latin-1")
    except UnicodeDecodeError:  # a '%' that starts no escape
        return unquote_to_bytes(raw.replace(b"+", b" "))


def url_parameters(request) -> MultiDict:
    """The URL's parameters as Flask parsed them (once per request, shared with other hooks). Werkzeug keeps
    bytes that are not UTF-8 as %XX: if a '%' or a replacement character is left, the raw query string is
    read again strictly, to reject what is not UTF-8."""
    args = request.args
    if any("%" in k or "%" in v or "\ufffd" in k or "\ufffd" in v for k, v in args.items(multi=True)):
        return MultiDict(decode_parameters(request.query_string, "URL"))
    return args


def graph_iris(params: dict[str, list[str]], name: str) -> tuple[str, ...] | None:
    values = [v.strip() for v in params.get(name, ())]
    for value in values:
        try:
            ox.NamedNode(value)
        except ValueError:
            raise BadRequest(f"{name} {value!r} is not an absolute IRI") from None
    return tuple(values) if values else None


def read_timeout(params: dict[str, list[str]], limit: float) -> float | None:
    values = params.get("timeout", ())
    if not values:
        return None
    try:
        seconds = float(values[-1])
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise BadRequest(f"timeout={values[-1]!r} is not a positive number of seconds (at most {limit:g})")
    return min(seconds, limit)


def read_body(request, max_bytes: int) -> tuple[list[tuple[str, str]], str | None]:
    """The parameters in a POST body, and the query if the body is one; 415 for other media types."""
    if not request.content_type:
        raise UnsupportedMediaType(
            f"a POST needs a Content-Type header: {FORM} (query=...) or {SPARQL_QUERY} (the query as the body)"
        )
    media = request.mimetype
    if media == SPARQL_UPDATE:
        raise UpdateRefused(f"{READ_ONLY} ({SPARQL_UPDATE})")
    if media not in (FORM, SPARQL_QUERY):
        raise UnsupportedMediaType(f"cannot read a {media} body; send {FORM} (query=...) or {SPARQL_QUERY}")
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the request body has {len(raw)} bytes; at most {max_bytes} are accepted")
    if request.content_length is not None and len(raw) < request.content_length:  # gunicorn gives what came
        raise BadRequest(
            f"the request body was cut short: {len(raw)} of its {request.content_length} bytes arrived"
        )
    if media == FORM:
        return decode_parameters(raw, "request body"), None
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8", "us-ascii"):
        raise UnsupportedMediaType(f"the query must be sent as UTF-8, not {charset}")
    return [], decode_utf8(raw, "the request body")


def read_request(request, max_timeout: float, max_bytes: int) -> SparqlRequest:
    """The SPARQL parameters of a Flask request; 4xx saying what is wrong if they do not make one query."""
    if len(request.query_string) > max_bytes:
        raise PayloadTooLarge(
            f"the URL has {len(request.query_string)} bytes of parameters; at most {max_bytes}"
        )
    params = url_parameters(request)
    body_query = None
    if request.method == "POST":
        body_params, body_query = read_body(request, max_bytes)
        params = MultiDict([*params.items(multi=True), *body_params])
    return sparql_request(params.to_dict(flat=False), body_query, max_timeout)


def sparql_request(params: dict[str, list[str]], body_query: str | None, max_timeout: float) -> SparqlRequest:
    """The SPARQL request that decoded parameters (name: values, and a query sent as the body) make; 4xx if
    they do not make one query."""
    for name in UPDATE_PARAMETERS:
        if name in params:
            raise UpdateRefused(f"{READ_ONLY} (parameter {name}=)")
    queries = params.get("query", []) + ([body_query] if body_query is not None else [])
    if len(queries) > 1:
        raise BadRequest(
            f"the request holds {len(queries)} queries (query= given more than once); send exactly one"
        )
    query = queries[0] if queries else None
    if query is not None and not query.strip():
        raise BadRequest("the query is empty")
    formats = [v for v in params.get("format", ()) if v] or [v for v in params.get("output", ()) if v]
    return SparqlRequest(
        query=query,
        default_graphs=graph_iris(params, "default-graph-uri"),
        named_graphs=graph_iris(params, "named-graph-uri"),
        format=formats[0] if formats else None,
        timeout=read_timeout(params, max_timeout),
    )
