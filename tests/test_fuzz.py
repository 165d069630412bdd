"""Fuzzing every route (hypothesis): random and mutated SPARQL, headers, bodies, broken encodings, odd paths,
very long inputs and null bytes never give a 5xx (but a 503 that says the query hit its time or memory
limit), never leak a traceback, every 4xx says what was wrong, and the app answers normally afterwards.

The Flask test client sends what a WSGI server would pass on (PATH_INFO percent-decoded as latin-1, the raw
query string); one run over a raw socket against a real gunicorn server covers what only a server sees:
bytes in the request line, bad Content-Length, truncated bodies. `make fuzz` runs this module with
HYPOTHESIS_PROFILE=fuzz (ten times the examples, a new random seed each run); fuzz/ holds the atheris
harnesses of the query guard and the syntax-error path, whose oracles are also run here on every seed.
"""

from __future__ import annotations

import gzip
import importlib.util
import re
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import quote_from_bytes, unquote_to_bytes

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hkgraph.config import Config
from hkgraph.search import MAX_QUERY_CHARS
from hkgraph.sparql_guard import tokens
from hkgraph.store import PROJECT_ROOT

QUERIES = [p.read_text(encoding="utf-8") for p in sorted((PROJECT_ROOT / "queries").glob("*.rq"))]
FUZZ_DIR = PROJECT_ROOT / "fuzz"


SCALE = settings.default.max_examples / 100  # 10 under HYPOTHESIS_PROFILE=fuzz (tests/conftest.py)


def examples(n: int) -> int:
    return max(1, round(n * SCALE))


FUZZ_SETTINGS = {
    "deadline": None,
    "derandomize": SCALE <= 1,  # `make test` runs the same examples each time; `make fuzz`, new ones
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@pytest.fixture()
def config(dumps_dir) -> Config:
    """Short query limits, so that a fuzzed runaway query costs a second, not ten."""
    return Config(testing=True, dumps_dir=str(dumps_dir), query_timeout=1.0)


# What a request is and what every response must be ---------------------------------------------------


@dataclass
class Probe:
    """One request as a client sends it: the path and query string as raw (percent-encoded) bytes."""

    method: str
    path: bytes
    query: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def text(self) -> str:
        """Everything the request says, decoded, to tell an echo of the request from a leak."""
        raw = b" ".join([self.path, self.query, self.body or b""])
        decoded = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "replace")
        return " ".join([raw.decode("latin-1"), decoded, *self.headers.values()])


def send(client, probe: Probe):
    """The probe through the Flask test client, with the environ a WSGI server builds from those bytes."""
    environ = {
        "PATH_INFO": unquote_to_bytes(probe.path).decode("latin-1"),
        "QUERY_STRING": probe.query.decode("latin-1"),
        "RAW_URI": (probe.path + (b"?" + probe.query if probe.query else b"")).decode("latin-1"),
    }
    return client.open(
        "/", method=probe.method, headers=probe.headers, data=probe.body, environ_overrides=environ
    )


# What would show the code's insides: a Python traceback, an exception's class, a framework's own page.
LEAK = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|\.py\", line|"
    r"\b(?:Key|Value|Type|Attribute|Index|Name|UnicodeDecode|UnicodeEncode|Recursion|Assertion|"
    r"ZeroDivision|Overflow|Lookup|Runtime|Memory|NotImplemented|Unbound)Error\b|"
    r"\bwerkzeug\.|\bjinja2\.|\bpyoxigraph\.|Internal Server Error|The server encountered an internal error"
)
# The documented 5xx: a 503 when a query or a drawing ran over its time or memory limit (not when a query
# process died otherwise: that is a crash), and gunicorn's 501 for a Transfer-Encoding it does not know
# (RFC 9112, 6.1).
DOCUMENTED_5XX = re.compile(
    r"^503 .*(time limit|took longer than|more memory than a query may use)|^501 .*Unsupported transfer coding",
    re.DOTALL,
)


def body_text(data: bytes, headers) -> str:
    if headers.get("Content-Encoding") == "gzip":
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace")


def check_answer(status: int, headers, data: bytes, probe: Probe) -> None:
    """No 5xx but a documented one with its message, no leak of the code's insides, a message on every 4xx."""
    text = body_text(data, headers)
    where = f"{probe.method} {probe.path[:300]!r}?{probe.query[:300]!r} -> {status}: {text[:500]!r}"
    documented = DOCUMENTED_5XX.search(f"{status} {text}") or (
        probe.method == "HEAD" and status in (501, 503)
    )
    assert status < 500 or documented, where
    leak = LEAK.search(text)
    assert leak is None or leak.group() in probe.text(), f"leaked {leak.group()!r}: {where}"
    if status >= 400 and probe.method != "HEAD":
        assert re.search(r"[^\W\d_]{3}", text), f"a {status} without a message: {where}"


def check(response, probe: Probe) -> None:
    check_answer(response.status_code, response.headers, response.get_data(), probe)


def still_answers(client) -> None:
    """The app serves a normal request after whatever came before."""
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


def still_runs_queries(client) -> None:
    """A fresh (uncached) query still runs and gives the right answer."""
    query = f"ASK {{ ?s a hkg:Bureau }} # {time.monotonic_ns()}"
    response = client.post("/sparql", data={"query": query}, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.data
    assert response.get_json()["boolean"] is True


# Strategies: the pieces of requests ----------------------------------------------------------------

# Overlong and out-of-range UTF-8, lone surrogates, stray continuation bytes, a truncated sequence, NUL.
BAD_BYTES = [b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xc0\xae", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
             b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf0\x9f\x98", b"\xc3", b"\x00"]  # fmt: skip
ODD_TEXT = ["", " ", "\x00", "\t", "\r\n", "\u202e", "\u200b", "\ufeff", "\ufffd", "\U0001f600", "\ud800",
            "科技园", "創新科技署", "ß", "İ", "ǅ", "²", "٣", "①", "𝟗", "Ⅻ", "½", "<script>alert(1)</script>",
            "'\"", "${x}", "{{7*7}}", "%s%n", "../..", "\\", "*", "?", "#", "&", "=", ";", "+", "%", "%%",
            "x" * 300, "9" * 5000, "1e999", "-0", "nan", "inf", "0x10", "1_000"]  # fmt: skip


def text_values(samples: list[str] = (), max_size: int = 40):
    return st.one_of(st.sampled_from([*samples, *ODD_TEXT]), st.text(max_size=max_size))


def utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate gives its (invalid) UTF-8 bytes


@st.composite
def raw_values(draw, samples: list[str] = (), max_size: int = 40) -> bytes:
    """A parameter value as raw bytes: text as UTF-8, sometimes with a broken byte sequence inside."""
    raw = utf8(draw(text_values(samples, max_size)))
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from(BAD_BYTES)) + raw[at:]
    return raw


def percent(raw: bytes) -> bytes:
    return quote_from_bytes(raw, safe="").encode("ascii")


# Pieces of a query string that no encoder would make: stray %, bad escapes, raw bytes, odd separators.
RAW_QUERY_BITS = [b"%", b"%%", b"%zz", b"%e", b"%C0%AE", b"%u002e", b"%00", b"%ff%fe", b"\xff", b"\xc3",
                  b"&&", b"==", b";", b"+", b"a=b=c", b"=x", b"&=&", b"\x00", b"%0d%0a", b"#", b"?"]  # fmt: skip


@st.composite
def query_strings(draw, names: dict[str, list[str]]) -> bytes:
    """name=value pairs for a route's own parameters (and any other name), percent-encoded or raw."""
    pairs = []
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 3]))):
        if draw(st.integers(0, 7)) == 0:
            pairs.append(draw(st.sampled_from(RAW_QUERY_BITS)))
            continue
        name = draw(st.one_of(st.sampled_from(sorted(names) or ["x"]), text_values(max_size=8)))
        value = draw(raw_values(names.get(name, [])))
        pairs.append(percent(utf8(name)) + b"=" + percent(value))
    return b"&".join(pairs)


MEDIA_TYPES = ["text/html", "application/xhtml+xml", "text/turtle", "application/ld+json", "application/json",
               "application/n-triples", "application/rdf+xml", "application/xml", "text/xml", "text/plain",
               "text/csv", "text/tab-separated-values", "application/sparql-results+json",
               "application/sparql-results+xml", "application/n-quads", "application/trig", "image/svg+xml",
               "image/png", "application/pdf", "text/vnd.graphviz", "text/vnd.mermaid", "application/graphml+xml",
               "application/gzip", "*/*", "text/*", "image/*", "*", "", "foo/bar", "/", "a/b/c", "text/",
               "*/html", "text/html;level=1", "application/x-turtle"]  # fmt: skip
Q_VALUES = ["", ";q=0", ";q=1", ";q=0.5", ";q=-1", ";q=2", ";q=nan", ";q=inf", ";q=1e999", ";q=", ";q=x",
            ";Q=0.9", "; q = 0.3", ";charset=utf-8", ";;", ";q=0;q=1"]  # fmt: skip


def header_values(samples: list[str]):
    """A header value: well-formed lists from the samples, or any bytes a server would pass (latin-1)."""
    listed = st.lists(
        st.tuples(st.sampled_from(samples), st.sampled_from(Q_VALUES)).map("".join), min_size=1, max_size=5
    ).map(", ".join)
    odd = st.one_of(st.binary(max_size=60), st.sampled_from(ODD_TEXT).map(utf8))
    return st.one_of(listed, odd.map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").decode("latin-1")))


LANGUAGE_TAGS = ["en", "en-GB", "zh", "zh-Hans", "zh-Hant", "zh-HK", "zh-TW", "zh-CN", "zh_hant", "fr", "*", "",
                 "i-klingon", "x-private", "-", "zh-", "EN", "zh-hans-cn"]  # fmt: skip
ETAGS = ['"x"', 'W/"x"', "*", "W/", '"', '""', 'W/"' + "a" * 100 + '"', '"a", "b"', "garbage", ","]
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Accept": header_values(MEDIA_TYPES),
        "Accept-Language": header_values(LANGUAGE_TAGS),
        "Accept-Encoding": header_values(["gzip", "deflate", "br", "identity", "*", "gzip;q=0", "x-gzip"]),
        "If-None-Match": header_values(ETAGS),
        "If-Modified-Since": header_values(["Thu, 01 Jan 1970 00:00:00 GMT", "yesterday", "0"]),
        "Cookie": header_values(["lang=zh-Hant", "lang=xx", "lang=", "lang", "=;", "a=b; lang=en"]),
        "Range": header_values(["bytes=0-10", "bytes=-1", "bytes=10-0", "bytes=0-0,1-1", "lines=1-2"]),
        "Content-Type": header_values(MEDIA_TYPES),
    },
)
METHODS = ["GET"] * 16 + [
    "HEAD",
    "HEAD",
    "OPTIONS",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "TRACE",
    "PROPFIND",
    "get",
]

# Path segments: real ones, traversal in every spelling, odd bytes and characters, very long ones.
SEGMENTS = ["org", "itc", "hkstp", "facility", "science-park", "programme", "itf", "Bureau", "measure",
            "EntityShape", "sources", "source", "hkyb2024", "ch16", "p", "7", "diagram", "diagram.svg", "itc.ttl",
            "itc.html", "itc.jsonld", ".nt", ".rdf", "def", "id", "doc", "shapes", "graph", "dumps", "static",
            "..", ".", "", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%2f", "%2F", "%5c", "..%2f..%2fetc%2fpasswd",
            "..%5c..%5cwindows", "%252e%252e", "%c0%ae%c0%ae", "%e0%80%ae", "%c0%af", "%00", "%0a", "%0d%0a",
            "%ff", "%zz", "%", "%u002e", "~", "~root", "a%20b", "x%3fy", "x%23y", "%3b", "%e2%80%ae", "%ef%bb%bf",
            "%f0%9f%98%80", "%e7%a7%91%e6%8a%80%e5%9b%ad", "CON", "nul", "x" * 300, "y" * 5000,
            "%3cscript%3e", "hkgraph.ttl.gz", "SHA256SUMS", "manifest.json", "site.css"]  # fmt: skip


@st.composite
def paths(draw, prefix: bytes, names: list[str] = (), end: bytes = b"") -> bytes:
    """prefix + segments (+ end): real names, traversal, odd bytes and characters, backslashes, //."""
    segment = st.one_of(
        st.sampled_from([*names, *SEGMENTS]).map(str.encode),
        st.text(max_size=12).map(lambda s: percent(utf8(s))),
        st.binary(max_size=12).map(percent),
        st.sampled_from([b"\\", b"..\\..", b"\\x00", b"/", b"//"]),
    )
    parts = draw(st.lists(segment, min_size=0 if not end else 1, max_size=5))
    return prefix + b"/".join(parts) + end


def fixed(path: str, names: dict[str, list[str]] | None = None):
    """Requests of one path, with the route's parameters (and any others), any method and headers."""
    return st.builds(
        Probe,
        method=st.sampled_from(METHODS),
        path=st.just(path.encode()),
        query=query_strings(names or PAGE_PARAMETERS),
        headers=HEADERS,
    )


def under(prefix: str, names: list[str] = (), end: bytes = b"", parameters: dict | None = None):
    """Requests of paths under a prefix."""
    return st.builds(
        Probe,
        method=st.sampled_from(METHODS),
        path=paths(prefix.encode(), names, end),
        query=query_strings(parameters or PAGE_PARAMETERS),
        headers=HEADERS,
    )


PAGE_PARAMETERS = {"lang": LANGUAGE_TAGS, "format": ["json", "html", "ttl", "svg", ""]}
DIAGRAM_PARAMETERS = {
    **PAGE_PARAMETERS,
    "root": [
        "itc",
        "org/itc",
        "hksar-government",
        "ITC",
        "创新科技署",
        "https://w3id.org/hkgraph/id/org/itc",
        "http://127.0.0.1:9/x",
        "id/../..",
        "Innovation",
        "science-park",
        "a",
    ],  # fmt: skip
    "relations": ["hierarchy", "oversight", "hierarchy,oversight", "HIERARCHY", ",", "nope", "hierarchy,,x"],
    "depth": ["1", "2", "all", "0", "-1", "99999999999999999999", "1.5", "²", "٣", "𝟗"],
    "direction": ["down", "up", "both", "sideways", "DOWN"],
}
SEARCH_PARAMETERS = {
    **PAGE_PARAMETERS,
    "q": [
        "itc",
        "科技园",
        "Innovation",
        "innovation and technology",
        '"',
        "*",
        "-",
        "OR",
        "NEAR(a b)",
        "a AND",
        "^",
        "x" * (MAX_QUERY_CHARS + 1),
        "commision",
    ],  # fmt: skip
    "limit": ["1", "20", "200", "201", "0", "-5", "1e2", "²", "٣", "𝟗", "9" * 5000, " 5"],
}
DIAGRAM_SUFFIXES = ["svg", "png", "pdf", "dot", "mmd", "graphml", "json", "html", "exe", "svg.gz", "SVG", ""]


@st.composite
def diagram_file_probes(draw, prefix: str):
    path = draw(paths(prefix.encode(), ["org/itc", "itc"])) if prefix != "/diagram" else b"/diagram"
    end = b"/diagram." if prefix != "/diagram" else b"."
    suffix = draw(st.one_of(st.sampled_from(DIAGRAM_SUFFIXES), st.text(max_size=6))).encode()
    return Probe(
        draw(st.sampled_from(METHODS)),
        path + end + percent(suffix),
        draw(query_strings(DIAGRAM_PARAMETERS)),
        draw(HEADERS),
    )


# SPARQL: mutated real queries, random token soup, any text; every transport of the protocol -------------

SERVICE_FORMS = ["SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o }", "SERVICE", "service", "SeRvIcE",
                 "SERVICE SILENT", "SERVICE# c\n", "\n\tSERVICE\r\n", "SERVICE<http://127.0.0.1:9/>", "1SERVICE",
                 "SERVICE:x", "\\u0053ERVICE", "S\\u0045RVICE", "SERV ICE", "ſERVICE"]  # fmt: skip
UPDATES = ["INSERT DATA { <urn:a> <urn:b> <urn:c> }", "DELETE WHERE { ?s ?p ?o }", "LOAD <http://127.0.0.1:9/x>",
           "CLEAR ALL", "DROP GRAPH <urn:g>", "CREATE GRAPH <urn:g>", "COPY DEFAULT TO <urn:g>", "MOVE", "ADD",
           "WITH <urn:g>", "INSERT", "DELETE", "USING", ";"]  # fmt: skip
SPARQL_TOKENS = ["SELECT", "ASK", "CONSTRUCT", "DESCRIBE", "WHERE", "FROM", "NAMED", "GRAPH", "OPTIONAL", "UNION",
                 "MINUS", "FILTER", "BIND", "AS", "VALUES", "LIMIT", "OFFSET", "ORDER BY", "GROUP BY", "HAVING",
                 "DISTINCT", "REDUCED", "EXISTS", "NOT", "IN", "PREFIX", "BASE", "VERSION", "a", "{", "}", "(",
                 ")", "[", "]", ".", ";", ",", "*", "?s", "?p", "?o", "$x", "<urn:x>", "<>", "<", ">", "_:b",
                 "\"x\"", "'y'", "'''z'''", '"""w"""', "\"\\u0022\"", "1", "-1.5e3", "true", "hkg:Bureau",
                 "rdfs:label", "^^xsd:integer", "@en", "@zh-Hant", "||", "&&", "!", "=", "!=", "^", "/", "|", "+",
                 "?", "#", "\n", "\r", "COUNT(*)", "REGEX(?o, \"(a+)+$\")", "STR(", "IRI(", "<<", ">>", "{|",
                 "|}", "LATERAL", "ADJUST(", "TRIPLE(", "\\", "\x00"]  # fmt: skip
INSERTED = st.one_of(
    st.sampled_from(SPARQL_TOKENS + SERVICE_FORMS + UPDATES).map(lambda t: f" {t} "),
    st.sampled_from(SPARQL_TOKENS + SERVICE_FORMS),
    st.text(max_size=6),
)


@st.composite
def mutated_queries(draw) -> str:
    """A real query (queries/*.rq) with one to four tokens inserted, deleted, doubled, replaced, re-cased,
    or the query cut short."""
    toks = [text for _, text in tokens(draw(st.sampled_from(QUERIES)))]
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(toks) - 1))
        operation = draw(st.sampled_from(["insert", "delete", "double", "replace", "case", "cut"]))
        if operation == "insert":
            toks.insert(at, draw(INSERTED))
        elif operation == "replace":
            toks[at] = draw(INSERTED)
        elif operation == "double":
            toks.insert(at, toks[at])
        elif operation == "case":
            toks[at] = toks[at].swapcase()
        elif operation == "delete" and len(toks) > 1:
            del toks[at]
        elif operation == "cut" and at > 0:
            del toks[at:]
    return "".join(toks)


SPARQL_TEXTS = st.one_of(
    mutated_queries(),
    mutated_queries(),
    st.lists(st.sampled_from(SPARQL_TOKENS + SERVICE_FORMS + UPDATES), max_size=25).map(" ".join),
    st.text(max_size=80),
    st.sampled_from(QUERIES),
)
SPARQL_PARAMETERS = {
    "format": [
        "json",
        "xml",
        "csv",
        "tsv",
        "turtle",
        "ntriples",
        "jsonld",
        "rdfxml",
        "html",
        "srj",
        "xml;q=1",
        "text/html",
        "application/sparql-results+json",
        "nope",
        "",
    ],  # fmt: skip
    "output": ["json", "xml", "csv"],
    "timeout": ["0.5", "1", "0", "-1", "nan", "inf", "-inf", "1e999", "0.0001", "abc", "", "9" * 5000],
    "default-graph-uri": [
        "https://w3id.org/hkgraph/graph/sources",
        "urn:x",
        "relative",
        "",
        "http://a b",
        "\x00",
    ],
    "named-graph-uri": ["https://w3id.org/hkgraph/graph/sources", "not an iri", "<urn:x>"],
    "update": ["INSERT DATA {}"],
    "using-graph-uri": ["urn:x"],
    "lang": LANGUAGE_TAGS,
}
FORM = "application/x-www-form-urlencoded"
BODY_TYPES = {
    "form": [FORM, FORM + "; charset=utf-8", FORM + "; charset=latin-1", "APPLICATION/X-WWW-FORM-URLENCODED"],
    "query": [
        "application/sparql-query",
        "application/sparql-query; charset=utf-8",
        "application/sparql-query; charset=UTF-16",
        "application/sparql-query; charset=latin-1",
        "application/sparql-query;charset=",
        'application/sparql-query; charset="utf-8"',
    ],  # fmt: skip
    "other": [
        "application/sparql-update",
        "text/plain",
        "application/json",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
        "",
        ";",
        "garbage",
        "text/turtle",
        "application/sparql-query/extra",
        "application/x-www-form-urlencoded/x",
    ],  # fmt: skip
}


@st.composite
def encoded_queries(draw) -> bytes:
    """A SPARQL text as bytes: UTF-8 (sometimes with a BOM or broken bytes), UTF-16 or latin-1."""
    text = draw(SPARQL_TEXTS)
    encoding = draw(st.sampled_from(["utf-8"] * 12 + ["utf-8-sig", "utf-16", "latin-1"]))
    raw = utf8(text) if encoding == "utf-8" else text.encode(encoding, "replace")
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from(BAD_BYTES)) + raw[at:]
    return raw


@st.composite
def sparql_probes(draw) -> Probe:
    """A SPARQL request by GET, POST form, POST query, or a POST of another kind; any headers."""
    query = draw(encoded_queries())
    extra = draw(query_strings(SPARQL_PARAMETERS)) if draw(st.booleans()) else b""
    headers = draw(HEADERS)
    headers.pop("Content-Type", None)
    how = draw(st.sampled_from(["get", "get", "form", "form", "query", "query", "other"]))
    if how == "get":
        method = draw(st.sampled_from(["GET", "GET", "GET", "HEAD", "OPTIONS"]))
        return Probe(
            method, b"/sparql", b"&".join(filter(None, [b"query=" + percent(query), extra])), headers
        )
    kind = "other" if how == "other" else how
    content_type = draw(st.sampled_from(BODY_TYPES[kind]))
    if kind == "other" and draw(st.booleans()):
        content_type = draw(header_values(MEDIA_TYPES))
    if content_type:
        headers["Content-Type"] = content_type
    if how == "form":
        more = draw(query_strings(SPARQL_PARAMETERS)) if draw(st.booleans()) else b""
        body = b"&".join(filter(None, [b"query=" + percent(query), more]))
    else:
        body = query
    return Probe("POST", b"/sparql", extra, headers, body)


# Every route and how its requests are made: a new route fails test_every_route_is_in_the_fuzz_table. -----

ROUTES = {
    "/": fixed("/"),
    "/.well-known/void": fixed("/.well-known/void"),
    "/openapi.json": fixed("/openapi.json"),
    "/healthz": fixed("/healthz"),
    "/search": fixed("/search", SEARCH_PARAMETERS),
    "/diagram": fixed("/diagram", DIAGRAM_PARAMETERS),
    "/diagram.<suffix>": diagram_file_probes("/diagram"),
    "/dumps/": fixed("/dumps/"),
    "/dumps/<name>": under("/dumps/", ["hkgraph.ttl.gz", "hkgraph.nt.gz", "SHA256SUMS", "manifest.json"]),
    "/id/<path:rest>": under("/id/", ["org/itc", "facility/science-park", "obs", "period/2024"]),
    "/def/": fixed("/def/"),
    "/def/<path:rest>": under("/def/", ["Bureau", "measure/gross-floor-area", "quote"]),
    "/shapes/": fixed("/shapes/"),
    "/shapes/<path:rest>": under("/shapes/", ["ObservationShape", "EntityShape"]),
    "/graph/<path:rest>": under("/graph/", ["sources", "infrastructure", "organisations"]),
    "/doc/<path:doc_rel>": under(
        "/doc/", ["org/itc", "org/itc.ttl", "def/Bureau", "def.ttl", "graph/sources"]
    ),
    "/doc/<path:doc_rel>/diagram": under("/doc/", ["org/itc"], b"/diagram", DIAGRAM_PARAMETERS),
    "/doc/<path:doc_rel>/diagram.<suffix>": diagram_file_probes("/doc/"),
    "/static/<path:filename>": under("/static/", ["site.css", "vendor/yasgui/yasgui.min.js", "sparql/ui.js"]),
    "/sparql": sparql_probes(),
}


def test_every_route_is_in_the_fuzz_table(app):
    assert {rule.rule for rule in app.url_map.iter_rules()} == set(ROUTES)


@settings(max_examples=examples(300), **FUZZ_SETTINGS)
@given(probe=st.sampled_from(sorted(ROUTES)).flatmap(ROUTES.get))
def test_every_route_survives_fuzzed_requests(client, probe):
    check(send(client, probe), probe)
    still_answers(client)


@settings(max_examples=examples(200), **FUZZ_SETTINGS)
@given(probe=sparql_probes())
def test_sparql_endpoint_survives_fuzzed_queries(client, probe):
    check(send(client, probe), probe)
    still_answers(client)


def test_sparql_endpoint_runs_queries_after_fuzzing(client):
    """The runner processes survive a burst of fuzzed queries (the same strategies, in one app)."""

    @settings(max_examples=examples(60), **FUZZ_SETTINGS)
    @given(probe=sparql_probes())
    def burst(probe):
        check(send(client, probe), probe)

    burst()
    still_runs_queries(client)


# Very long inputs and deep nesting: a table, as random generation would rarely make them -----------------

MB = 1024 * 1024
LONG = [
    Probe("GET", b"/sparql", b"query=" + percent(b"ASK {} #" + b"x" * (MB + 10))),
    Probe("POST", b"/sparql", b"", {"Content-Type": FORM}, b"query=" + b"A" * (2 * MB)),
    Probe("POST", b"/sparql", b"", {"Content-Type": "application/sparql-query"}, b"ASK {}" + b" " * MB),
    Probe("POST", b"/sparql", b"", {"Content-Type": "application/sparql-query"}, b"ASK { } #" + b"\xe7\xa7\x91" * 300_000),
    Probe("POST", b"/sparql", b"", {"Content-Type": FORM}, b"&" * 500_000),
    Probe("POST", b"/sparql", b"", {"Content-Type": FORM}, b"query=ASK{}&" + b"format=json&" * 50_000),
    Probe("POST", b"/sparql", b"", {"Content-Type": "application/sparql-query"}, b"SELECT * WHERE " + b"{" * 20_000 + b"}" * 20_000),
    Probe("POST", b"/sparql", b"", {"Content-Type": "application/sparql-query"}, b"ASK { FILTER(" + b"(" * 20_000 + b"1" + b")" * 20_000 + b") }"),
    Probe("POST", b"/sparql", b"", {"Content-Type": "application/sparql-query"}, b"ASK { FILTER(1" + b" + 1" * 50_000 + b") }"),
    Probe("POST", b"/sparql", b"", {"Content-Type": "application/sparql-query"}, b"ASK { {}" + b" UNION {}" * 50_000 + b" }"),
    Probe("POST", b"/sparql", b"", {"Content-Type": "application/sparql-query"}, b"ASK { FILTER(" + b"!" * 100_000 + b"true) }"),
    Probe("POST", b"/sparql", b"", {"Content-Type": "application/sparql-query"}, b"ASK { ?s ?p " + b"[ ?p " * 20_000 + b"]" * 20_000 + b" }"),
    Probe("POST", b"/sparql", b"", {"Content-Type": "application/sparql-query"}, b"SELECT * { ?s ?p ?o" + b" OPTIONAL { ?s ?p ?o }" * 20_000 + b" }"),
    Probe("POST", b"/sparql", b"", {"Content-Type": "application/sparql-query"}, b"ASK { " + b"<< " * 20_000 + b"<a:a> <a:a> <a:a>" + b" >> <a:a> <a:a>" * 20_000 + b" }"),
    Probe("GET", b"/search", b"q=" + b"x" * 100_000),
    Probe("GET", b"/search", b"q=itc&limit=" + b"9" * 100_000),
    Probe("GET", b"/diagram", b"root=" + b"itc" * 30_000),
    Probe("GET", b"/diagram", b"depth=" + b"9" * 100_000),
    Probe("GET", b"/id/" + b"a/" * 50_000),
    Probe("GET", b"/doc/" + b"x" * 100_000),
    Probe("GET", b"/doc/org/" + b"itc" * 20_000 + b"/diagram.svg"),
    Probe("GET", b"/dumps/" + b"%2e%2e%2f" * 10_000 + b"etc%2fpasswd"),
    Probe("GET", b"/", b"lang=" + b"zh-" * 50_000),
    Probe("GET", b"/", b"", {"Accept-Language": "zh;q=0.5, " * 20_000}),
    Probe("GET", b"/doc/org/itc", b"", {"Accept": "text/html;q=0.1, " * 20_000}),
    Probe("GET", b"/sparql", b"query=ASK%7B%7D", {"If-None-Match": 'W/"x", ' * 20_000}),
    Probe("GET", b"/sparql", b"query=ASK%7B%7D", {"Accept": "application/json;" + "a=b;" * 20_000}),
    Probe("GET", b"/", b"", {"Cookie": "lang=" + "x" * 100_000}),
    Probe("GET", b"/id/org/itc%00", b"lang=en%00"),
    Probe("GET", b"/sparql", b"query=ASK%00%7B%7D"),
    Probe("POST", b"/sparql", b"", {"Content-Type": "application/sparql-query"}, b"ASK\x00{}"),
]  # fmt: skip


@pytest.mark.parametrize(
    "probe", LONG, ids=lambda p: f"{p.method} {p.path[:20]!r}?{p.query[:20]!r} {(p.body or b'')[:20]!r}"
)
def test_very_long_inputs_deep_nesting_and_null_bytes(client, probe):
    check(send(client, probe), probe)
    still_answers(client)


# Raw HTTP on a real server: what the test client cannot send ------------------------------------------

REQUEST_TARGETS = [b"/", b"/healthz", b"/sparql?query=ASK%7B%7D", b"/id/org/itc", b"/doc/org/itc", b"/search?q=itc",
                   b"/sparql", b"/sparql?query=ASK%7B%7D&format=%ff", b"/search?q=%ff%fe", b"/?lang=%e7%a7%91",
                   b"/doc/org/%e7%a7%91", b"/sparql?query=%ffASK", b"/id/%00", b"/doc/org/itc?lang=%ff", b"//",
                   b"/..", b"/../../etc/passwd", b"/%2e%2e/%2e%2e", b"/\\..\\..", b"http://127.0.0.1/healthz",
                   b"http://evil.example/", b"/sparql?query=" + b"%41" * 2000, b"/diagram.svg?root=%ff",
                   b"/dumps/..%2fSHA256SUMS", b"/static/..%2f..%2fapp.py", b"/sparql?query=SELECT%20*%20WHERE%20"
                   + b"%7B" * 2000]  # fmt: skip
ODD_TARGETS = [b"/search?q=\xff\xfe", b"/?lang=\xe7\xa7\x91", b"/id/\x00", b"/\x7f", b"/\x1b[31m", b"/a b", b"*",
               b"", b"/" + b"x" * 9000]  # fmt: skip
ODD_METHODS = [b"get", b"G\x00T", b"GET\xff", b"", b"CONNECT", b"TRACE", b"X" * 100]
ODD_VERSIONS = [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.1 extra", b"http/1.1", b"HTTP/1", b"HTTP/1.1\x00", b""]
HEADER_LINES = [b"Accept: application/json", b"Accept: text/html", b"Accept: \xff\xfe", b"Accept-Language: zh-HK\xff",
                b"Cookie: lang=\xff", b"Accept-Encoding: gzip", b"If-None-Match: W/\"\xff\"", b"Connection: close",
                b"Expect: 100-continue", b"X-Forwarded-For: \xff", b"User-Agent: \xff\x80", b"Range: bytes=-1"]  # fmt: skip
ODD_HEADER_LINES = [b"X: \x00", b"NoColon", b": empty-name", b"X Y: space in name", b"X:\x1b[2J", b" folded: line",
                    b"Host:", b"Host: a\x00b", b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked",
                    b"Transfer-Encoding: identity", b"Transfer-Encoding: \xff", b"Connection: keep-alive, Upgrade",
                    b"Upgrade: h2c", b"X-Long: " + b"a" * 9000]  # fmt: skip
CONTENT_TYPES = [b"Content-Type: application/sparql-query", b"Content-Type: application/x-www-form-urlencoded",
                 b"Content-Type: application/sparql-query; charset=\xff", b"Content-Type: \xff/\xfe", b""]  # fmt: skip
BAD_LENGTHS = [b"-1", b"99999999999999999999", b"abc", b"0x10", b"+5", b"1_0", b" 7 ", b"5, 6", b"\xff", b""]
BODIES = [b"", b"query=ASK%7B%7D", b"ASK {}", b"query=", b"query=%ff", b"\x00" * 10, b"\xff\xfe", b"0\r\n\r\n",
          b"5\r\nASK {\r\n0\r\n\r\n", b"zz\r\nxx\r\n", b"ffffffffffffffffff\r\n", b"3\r\nASK", b"query=ASK%7",
          b"SELECT * WHERE " + b"{" * 3000 + b"}" * 3000]  # fmt: skip


@st.composite
def raw_requests(draw) -> bytes:
    """Bytes of an HTTP/1.x request, odd in its request line, headers, Content-Length or body."""

    def mostly(usual: list[bytes], odd: list[bytes]) -> bytes:  # one in ten odd
        return draw(st.sampled_from(odd if draw(st.integers(0, 9)) == 0 else usual))

    method, target = mostly([b"GET", b"POST", b"HEAD"], ODD_METHODS), mostly(REQUEST_TARGETS, ODD_TARGETS)
    line = b" ".join([method, target, mostly([b"HTTP/1.1"], ODD_VERSIONS)])
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(st.binary(min_size=1, max_size=3)) + line[at:]
    headers = [b"Host: 127.0.0.1", *draw(st.lists(st.sampled_from(HEADER_LINES), max_size=3))]
    headers += [mostly(CONTENT_TYPES, ODD_HEADER_LINES)]
    body = draw(st.one_of(st.sampled_from(BODIES), st.binary(max_size=40)))
    length = draw(st.sampled_from(["exact"] * 4 + ["truncated", "longer", "none", "odd", "twice"]))
    stated = {"exact": len(body), "truncated": len(body) + 10, "longer": max(len(body) - 3, 0)}.get(length)
    if stated is not None:
        headers.append(b"Content-Length: %d" % stated)
    elif length == "odd":
        headers.append(b"Content-Length: " + draw(st.sampled_from(BAD_LENGTHS)))
    elif length == "twice":
        headers += [b"Content-Length: %d" % len(body), b"Content-Length: %d" % (len(body) + 1)]
    end = mostly([b"\r\n"], [b"\n"])
    return line + b"\r\n" + b"".join(h + end for h in headers if h) + b"\r\n" + body


def exchange(port: int, data: bytes) -> bytes:
    """Send the bytes, end our side, read the answer until the server closes (or 10 s pass)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        try:
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close early on a bad request line; read what it said
        chunks = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})")


@settings(max_examples=examples(50), **FUZZ_SETTINGS)
@given(data=raw_requests())
def test_raw_http_oddities_on_a_real_server(sparql_server, data):
    port = int(sparql_server.url.rsplit(":", 1)[1].strip("/"))
    log_before = sparql_server.log.stat().st_size
    answer = exchange(port, data)
    probe = Probe("RAW", data[:200], headers={"raw": data.decode("latin-1")})
    if answer:
        head, _, body = answer.partition(b"\r\n\r\n")
        status = STATUS_LINE.match(head)
        assert status, f"not an HTTP answer to {data[:300]!r}: {answer[:300]!r}"
        headers = dict(
            line.decode("latin-1").split(": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line
        )
        probe.method = "HEAD" if data.startswith(b"HEAD ") else "RAW"
        check_answer(int(status.group(1)), headers, b"" if probe.method == "HEAD" else body, probe)
    assert requests.get(sparql_server.url + "healthz", timeout=10).status_code == 200
    with open(sparql_server.log, "rb") as log:
        log.seek(log_before)
        written = log.read().decode("utf-8", "replace")
    assert not re.search(r"Traceback|SIGSEGV|SIGABRT|Worker \(pid:\d+\) was sent", written), written[-3000:]


# The atheris harnesses' oracles, run on their seeds and on mutated queries (fuzz/) -------------------


def harness(name: str):
    """A module of fuzz/ (they import atheris only when run as fuzzers)."""
    spec = importlib.util.spec_from_file_location(name, FUZZ_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


guard_harness = harness("fuzz_guard")
syntax_harness = harness("fuzz_syntax")


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.split("\n", 1)[0][:40])
def test_guard_agrees_with_pyoxigraph_on_every_seed(query):
    guard_harness.check(query)
    for data in syntax_harness.seed(query.encode()):
        syntax_harness.check(data)


@settings(max_examples=examples(300), **FUZZ_SETTINGS)
@given(text=SPARQL_TEXTS)
def test_guard_agrees_with_pyoxigraph_on_mutated_queries(text):
    guard_harness.check(text)
    syntax_harness.check(bytes([len(text) % 16, 0]) + utf8(text))


@pytest.mark.parametrize(
    "text, found",
    [
        ("SELECT * { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }", "service"),
        ("SELECT * { ?s ?p ?o . SERVICE:x { ?s ?p ?o } }", "service"),
        ("SELECT * FROM <urn:g> { ?s ?p ?o }", "from"),
        ("SELECT ?service ?from { ?service ?p ?from }", None),
        ('SELECT * { ?s ?p "service from" } # SERVICE FROM', None),
        ("SELECT * { ?s hkg:DigitalService ?o }", None),
    ],
)
def test_guard_oracle_tells_a_keyword_from_a_name(text, found):
    """The oracle the atheris harness trusts: renaming finds SERVICE or FROM only where it is a keyword."""
    assert [w for w in ("service", "from") if guard_harness.keyword_used(text, w)] == (
        [found] if found else []
    )


def test_guard_oracle_tells_an_update(monkeypatch):
    """The oracle finds updates (with an operation), and the harness fails when the guard lets one through."""
    assert guard_harness.is_update("INSERT DATA { <urn:a> <urn:b> <urn:c> }")
    assert guard_harness.is_update("LOAD <http://127.0.0.1:9/x>")  # parsed; it could not connect
    assert not guard_harness.is_update("PREFIX a: <urn:a>")  # parses as an update that does nothing
    assert not guard_harness.is_update(";")  # so does this
    assert not guard_harness.is_update("ASK {}")
    monkeypatch.setattr(guard_harness, "inspect_query", lambda text: None)
    with pytest.raises(AssertionError, match="update"):
        guard_harness.check("CLEAR ALL")
