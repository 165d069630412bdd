"""The result formats of the SPARQL endpoint and how a request chooses one (Accept or format=)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pyoxigraph as ox

from hkgraph.errors import NotAcceptable
from hkgraph.negotiation import choose


@dataclass(frozen=True)
class ResultFormat:
    """One way to write results: its format= name, media type, the results it fits and pyoxigraph's format."""

    key: str
    media_type: str
    kind: str  # "solutions" (SELECT, ASK), "graph" (CONSTRUCT, DESCRIBE) or "html"
    ox_format: ox.QueryResultsFormat | ox.RdfFormat | None
    iri: str  # W3C's IRI for the format, for the service description
    aliases: tuple[str, ...] = ()  # other media types and format= names that mean this format

    @property
    def content_type(self) -> str:
        text = self.media_type.startswith("text/") or "json" in self.media_type or "xml" in self.media_type
        return f"{self.media_type}; charset=utf-8" if text else self.media_type


W3C = "http://www.w3.org/ns/formats/"
JSON = ResultFormat(
    "json",
    "application/sparql-results+json",
    "solutions",
    ox.QueryResultsFormat.JSON,
    W3C + "SPARQL_Results_JSON",
    ("application/json", "srj"),
)
XML = ResultFormat(
    "xml",
    "application/sparql-results+xml",
    "solutions",
    ox.QueryResultsFormat.XML,
    W3C + "SPARQL_Results_XML",
    ("application/xml", "text/xml", "srx"),
)
CSV = ResultFormat("csv", "text/csv", "solutions", ox.QueryResultsFormat.CSV, W3C + "SPARQL_Results_CSV")
TSV = ResultFormat(
    "tsv", "text/tab-separated-values", "solutions", ox.QueryResultsFormat.TSV, W3C + "SPARQL_Results_TSV"
)
TURTLE = ResultFormat(
    "turtle",
    "text/turtle",
    "graph",
    ox.RdfFormat.TURTLE,
    W3C + "Turtle",
    ("application/x-turtle", "ttl", "n3"),
)
NTRIPLES = ResultFormat(
    "ntriples",
    "application/n-triples",
    "graph",
    ox.RdfFormat.N_TRIPLES,
    W3C + "N-Triples",
    ("text/plain", "nt", "n-triples"),
)
NQUADS = ResultFormat(
    "nquads", "application/n-quads", "graph", ox.RdfFormat.N_QUADS, W3C + "N-Quads", ("nq",)
)
TRIG = ResultFormat("trig", "application/trig", "graph", ox.RdfFormat.TRIG, W3C + "TriG")
JSONLD = ResultFormat(
    "jsonld",
    "application/ld+json",
    "graph",
    ox.RdfFormat.JSON_LD,
    W3C + "JSON-LD",
    ("application/json", "json-ld"),
)
RDFXML = ResultFormat(
    "rdfxml",
    "application/rdf+xml",
    "graph",
    ox.RdfFormat.RDF_XML,
    W3C + "RDF_XML",
    ("application/xml", "text/xml", "rdf", "rdf+xml", "xml"),
)
HTML = ResultFormat("html", "text/html", "html", None, "")

SOLUTION_FORMATS = [JSON, XML, CSV, TSV]
GRAPH_FORMATS = [TURTLE, NTRIPLES, NQUADS, TRIG, JSONLD, RDFXML]
BY_KEY = {f.key: f for f in SOLUTION_FORMATS + GRAPH_FORMATS + [HTML]}
# format=json and format=xml name the graph formats of those syntaxes when the query is CONSTRUCT/DESCRIBE.
GRAPH_KEY_FOR = {"json": "jsonld", "xml": "rdfxml"}


def formats_for(kind: str) -> list[ResultFormat]:
    return GRAPH_FORMATS if kind == "graph" else SOLUTION_FORMATS


def by_name(name: str, kind: str, html: bool) -> ResultFormat:
    """The format a format= value names (a key, an alias or a media type); 406 listing the choices if none."""
    offered = formats_for(kind) + ([HTML] if html else [])
    wanted = name.strip().lower().split(";")[0].strip()
    if kind == "graph":
        wanted = GRAPH_KEY_FOR.get(wanted, wanted)
    for fmt in offered:
        if wanted in (fmt.key, fmt.media_type) or wanted in fmt.aliases:
            return fmt
    raise NotAcceptable(
        f"format={name!r} cannot be served for this query; use one of: {', '.join(f.key for f in offered)}"
    )


def by_accept(accept: str | None, kind: str, html: bool) -> ResultFormat:
    """The format the Accept header prefers (q-values, wildcards; ties go to the first listed); 406 if none."""
    candidates = formats_for(kind) + ([HTML] if html else [])
    offered: list[tuple[str, ResultFormat]] = [(f.media_type, f) for f in candidates]
    offered += [(alias, f) for f in candidates for alias in f.aliases if "/" in alias]
    media = [m for m, _ in offered]
    try:
        chosen = choose(accept, media)
    except NotAcceptable:
        raise NotAcceptable(
            f"none of the requested media types ({accept}) can be served for this query; "
            f"available: {', '.join(f.media_type for f in candidates)}"
        ) from None
    return dict(offered)[chosen]


@lru_cache(maxsize=512)
def choose_format(
    kind: str, accept: str | None, format_param: str | None, html: bool = False
) -> ResultFormat:
    """The result format for a request: format= wins over Accept (answers are remembered: headers repeat)."""
    if format_param:
        return by_name(format_param, kind, html)
    return by_accept(accept, kind, html)
