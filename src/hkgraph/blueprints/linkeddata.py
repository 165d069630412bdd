"""Linked data: /id/, /def/, /shapes/ and /graph/ IRIs answer 303 to their /doc/ documents in five formats.

A document path mirrors its IRI under the base: {base}id/org/itc is described at /doc/org/itc, and
{base}def/Bureau, {base}shapes/EntityShape and {base}graph/sources at /doc/def/Bureau, /doc/shapes/EntityShape
and /doc/graph/sources. A suffix (.html .ttl .jsonld .nt .rdf) fixes the format; without one, Accept decides.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import quote

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, redirect, render_template, request

from hkgraph import describe as d
from hkgraph.app import cached, get_store
from hkgraph.errors import NotAcceptable, NotFound
from hkgraph.i18n import current_language, labeller, pick, predicate_labels
from hkgraph.negotiation import choose
from hkgraph.ontology import class_doc, overview, property_doc
from hkgraph.store import Store

bp = Blueprint("linked", __name__)

NAMESPACES = ("id", "def", "shapes", "graph")
# suffix → (media type, pyoxigraph syntax; None for the HTML page)
FORMATS = {
    "html": ("text/html", None),
    "ttl": ("text/turtle", ox.RdfFormat.TURTLE),
    "jsonld": ("application/ld+json", ox.RdfFormat.JSON_LD),
    "nt": ("application/n-triples", ox.RdfFormat.N_TRIPLES),
    "rdf": ("application/rdf+xml", ox.RdfFormat.RDF_XML),
}
# Other media types clients send for the same formats.
ALIASES = {
    "application/xhtml+xml": "html",
    "application/x-turtle": "ttl",
    "application/json": "jsonld",
    "text/plain": "nt",
    "application/xml": "rdf",
    "text/xml": "rdf",
}
FORMAT_NAMES = {"html": "HTML", "ttl": "Turtle", "jsonld": "JSON-LD", "nt": "N-Triples", "rdf": "RDF/XML"}

RDF_TYPE = d.RDF_TYPE
OWL = "http://www.w3.org/2002/07/owl#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
DCT = "http://purl.org/dc/terms/"
VANN = "http://purl.org/vocab/vann/"
# How a page groups a resource's properties; "def/..." is relative to the store's base.
NAME_PROPERTIES = (
    d.RDFS_LABEL,
    SKOS + "prefLabel",
    SKOS + "altLabel",
    "def/abbreviation",
    SKOS + "hiddenLabel",
)
CITATION_PROPERTIES = (d.PROV_DERIVED, "def/quote")  # shown in the provenance box instead
PROVENANCE_PROPERTIES = (SKOS + "editorialNote",)
INBOUND_SHOWN = 50


# IRIs and paths ---------------------------------------------------------------


def doc_path(rel: str) -> str:
    """The document of a base-relative IRI path: id/org/itc → doc/org/itc, def/Bureau → doc/def/Bureau."""
    return "doc/" + (rel[3:] if rel.startswith("id/") else rel)


def iri_path(doc_rel: str) -> str:
    """The base-relative IRI path a document path (after doc/) describes: org/itc → id/org/itc."""
    return doc_rel if doc_rel.split("/", 1)[0] in NAMESPACES[1:] else "id/" + doc_rel


def format_path(rel: str, suffix: str) -> str:
    """The document of an IRI in one format: doc/org/itc.ttl; doc/def.ttl for the ontology def/."""
    return doc_path(rel).rstrip("/") + "." + suffix


def local_href(iri: str) -> str:
    """Where this server shows an IRI: its local /doc/ page if it is ours, else external_href."""
    store = get_store()
    if not iri.startswith(store.base):
        return external_href(iri)
    rel, hash_, fragment = iri[len(store.base) :].partition("#")
    if rel.split("/", 1)[0] in NAMESPACES and "/" in rel:
        rel = doc_path(rel)
    return request.script_root + "/" + rel + hash_ + fragment


WEB_SCHEMES = ("http:", "https:", "mailto:")


def external_href(iri: str) -> str:
    """Where a link to an IRI outside this graph goes: the IRI itself if it is a web address, else the
    SPARQL UI describing it, so that a javascript: or data: IRI in the data is never a live link."""
    return iri if iri.lower().startswith(WEB_SCHEMES) else sparql_describe_url(iri)


def curie(iri: str) -> str:
    """A short form of an IRI for people: hkg:Bureau, or the path under the base, or the IRI."""
    store = get_store()
    for prefix, ns in sorted(store.prefixes().items(), key=lambda kv: -len(kv[1])):
        if iri.startswith(ns) and len(iri) > len(ns) and "/" not in iri[len(ns) :]:
            return f"{prefix}:{iri[len(ns) :]}"
    if iri.startswith(store.base):
        return iri[len(store.base) :] or iri
    return iri


def sparql_describe_url(iri: str) -> str:
    """The SPARQL UI with the resource's DESCRIBE query filled in."""
    return request.script_root + "/sparql?query=" + quote(f"DESCRIBE <{iri}>", safe="")


# Content negotiation ------------------------------------------------------------


def negotiate(accept: str | None) -> str:
    """The format suffix a client's Accept header prefers (HTML on a tie); 406 when none fits."""
    offered = [media for media, _ in FORMATS.values()] + list(ALIASES)
    media = choose(accept, offered)
    return ALIASES.get(media) or next(s for s, (m, _) in FORMATS.items() if m == media)


def not_acceptable(rel: str) -> NotAcceptable:
    err = NotAcceptable(
        f"cannot serve {get_store().iri(rel)} as {request.headers.get('Accept')}; "
        f"available: {', '.join(media for media, _ in FORMATS.values())}, or add a suffix "
        f"({', '.join('.' + s for s in FORMATS)}) to the document's address"
    )
    err.links = [(FORMAT_NAMES[s], request.script_root + "/" + format_path(rel, s)) for s in FORMATS]
    return err


def link_header(rel: str) -> str:
    """Link: the document in every format (rel=alternate) and the licence."""
    config = current_app.config["HKGRAPH"]
    links = [
        f'<{request.script_root}/{format_path(rel, s)}>; rel="alternate"; type="{media}"'
        for s, (media, _) in FORMATS.items()
    ]
    links.append(f'<{config.licence}>; rel="license"')
    return ", ".join(links)


# Finding resources ----------------------------------------------------------------


def known(store: Store, rel: str) -> bool:
    """Whether the graph mentions the IRI base + rel (a path that makes no valid IRI is not known)."""
    try:
        return store.mentions(store.iri(rel))
    except ValueError:
        return False


def not_found(store: Store, rel: str) -> NotFound:
    """A 404 naming the IRI, with links to the closest IRIs by path and by name."""
    lang = current_language()
    err = NotFound(f"nothing is known about {store.iri(rel)} in this graph")
    err.links = [
        (pick(d.labels(store, iri), lang) or curie(iri), local_href(iri)) for iri in close_matches(store, rel)
    ]
    return err


def close_matches(store: Store, rel: str, limit: int = 8) -> list[str]:
    """IRIs like a missing one: names and slugs spelled like its last segment, then names containing it."""
    from hkgraph.blueprints.search import search_index

    words = rel.rstrip("/").rpartition("/")[2].replace("-", " ").strip()
    if not words:
        return []
    hits, _ = search_index().search(words, limit)
    return list(dict.fromkeys(search_index().similar(words, cutoff=0.6) + [h.iri for h in hits]))[:limit]


def resolve(store: Store, doc_rel: str) -> tuple[str, str | None]:
    """The IRI path and format suffix a /doc/ path asks for; 404 with close matches if none."""
    candidates = [(doc_rel, None)]
    candidates += [(doc_rel[: -len(s) - 1], s) for s in FORMATS if doc_rel.endswith("." + s)]
    for candidate, suffix in candidates:
        rel = iri_path(candidate)
        for option in (rel, rel + "/"):  # doc/def.ttl is the ontology def/
            if candidate and known(store, option):
                return option, suffix
    raise not_found(store, iri_path(candidates[-1][0]))


# Routes ---------------------------------------------------------------------------------


@bp.get("/id/<path:rest>")
def resource_iri(rest: str):
    return see_other("id/" + rest)


@bp.get("/def/", defaults={"rest": ""})
@bp.get("/def/<path:rest>")
def ontology_iri(rest: str):
    return see_other("def/" + rest)


@bp.get("/shapes/", defaults={"rest": ""})
@bp.get("/shapes/<path:rest>")
def shape_iri(rest: str):
    return see_other("shapes/" + rest)


@bp.get("/graph/<path:rest>")
def graph_iri(rest: str):
    return see_other("graph/" + rest)


def see_other(rel: str) -> Response:
    """303 See Other from a thing's IRI to the document about it (Cool URIs for the Semantic Web)."""
    store = get_store()
    if not known(store, rel):
        raise not_found(store, rel)
    location = request.script_root + "/" + doc_path(rel)
    if request.query_string:
        location += "?" + request.query_string.decode("latin-1")
    response = redirect(location, code=303)
    response.vary.add("Accept")
    return response


@bp.get("/doc/<path:doc_rel>")
def document(doc_rel: str):
    """The document about an IRI, as HTML or RDF, by suffix or by Accept."""
    store = get_store()
    rel, suffix = resolve(store, doc_rel)
    negotiated = suffix is None
    if negotiated:
        try:
            suffix = negotiate(request.headers.get("Accept"))
        except NotAcceptable:
            raise not_acceptable(rel) from None
    media, syntax = FORMATS[suffix]
    if syntax is None:
        response = Response(render_html(store, rel), mimetype=media)
    else:
        body = ox.serialize(document_triples(store, rel), format=syntax, prefixes=store.prefixes())
        response = Response(body, mimetype=media)
    response.headers["Link"] = link_header(rel)
    if negotiated:
        response.vary.add("Accept")
        response.headers["Content-Location"] = request.script_root + "/" + format_path(rel, suffix)
    return response


# What a document holds ------------------------------------------------------------------


def paragraph_texts() -> dict[int, str]:
    """The chapter's paragraphs by number, to place quotes; empty when the chapter file is not at hand."""
    from hkgraph.chapter import load_chapter

    def load() -> dict[int, str]:
        path = current_app.config["HKGRAPH"].chapter_file
        try:
            _, paragraphs = load_chapter(Path(path) if path else None)
        except FileNotFoundError:
            return {}
        return {p.number: p.text for p in paragraphs}

    return cached("hkgraph.paragraph_texts", load)


def defining_graph(store: Store, iri: str) -> str | None:
    """The named graph that declares an ontology (def/, shapes/), whose content is the ontology's document."""
    for q in store.match(iri, RDF_TYPE, OWL + "Ontology"):
        return q.graph_name.value
    return None


def document_triples(store: Store, rel: str) -> list[ox.Triple]:
    """The RDF of a document: a named graph's or an ontology's content, else the resource's description."""
    iri = store.iri(rel)
    if rel.startswith("graph/") and iri in store.graphs():
        return d.graph_triples(store, iri)
    graph = defining_graph(store, iri)
    if graph is not None:
        return sorted(set(d.graph_triples(store, graph)) | set(d.describe(store, iri).triples), key=str)
    return d.describe(store, iri, paragraph_texts()).triples


# HTML -------------------------------------------------------------------------------------------


def render_html(store: Store, rel: str) -> str:
    """The page for a document: ontology overview, named graph, or a resource."""
    iri = store.iri(rel)
    if rel.startswith("graph/") and iri in store.graphs():
        return render_graph(store, rel)
    if rel == "def/":
        return render_ontology(store, rel)
    return render_resource(store, rel)


def page_common(store: Store, rel: str) -> dict:
    """What every document page shows: links to its formats and the SPARQL DESCRIBE of it."""
    iri = store.iri(rel)
    return {
        "iri": iri,
        "rel": rel,
        "formats": [(FORMAT_NAMES[s], request.script_root + "/" + format_path(rel, s)) for s in FORMATS],
        "describe_url": sparql_describe_url(iri),
    }


def render_resource(store: Store, rel: str) -> str:
    """A resource's page: header, figures, sources, structure, ontology or shape details, properties, links in."""
    iri = store.iri(rel)
    lang = current_language()
    desc = d.describe(store, iri, paragraph_texts())
    types = set(desc.types)
    cdoc = class_doc(store, iri) if OWL + "Class" in types else None
    pdoc = property_doc(store, iri) if types & PROPERTY_TYPES else None
    names = {**predicate_labels(), **desc.names}
    if cdoc:
        names.update(d.names_of(store, cdoc.examples + cdoc.domain_of + cdoc.range_of + cdoc.subclasses))
    if pdoc:
        examples = [s for s, _ in pdoc.examples] + [o.value for _, o in pdoc.examples if d.is_iri(o)]
        names.update(d.names_of(store, examples + pdoc.kinds + pdoc.domain + pdoc.range + pdoc.inverse))
    name = labeller(names, lang, curie)
    name_properties = absolute(store, NAME_PROPERTIES)
    citation_properties = absolute(store, CITATION_PROPERTIES)
    groups: dict[str, list] = {"names": [], "about": [], "relationships": [], "provenance": []}
    for predicate, values in desc.outbound.items():
        if predicate == RDF_TYPE or (predicate in citation_properties and desc.citations):
            continue  # shown in the header and in the provenance box
        if predicate in name_properties:
            group = "names"
        elif predicate in citation_properties or predicate in PROVENANCE_PROPERTIES:
            group = "provenance"
        elif all(isinstance(v, ox.NamedNode) and v.value.startswith(store.base) for v in values):
            group = "relationships"
        else:
            group = "about"
        groups[group].append((predicate, values))
    for group in groups.values():
        group.sort(key=lambda pv: name(pv[0]).casefold())
    inbound = [
        (predicate, sorted(subjects, key=lambda s: name(s).casefold()))
        for predicate, subjects in desc.inbound.items()
        if predicate != d.SCHEMA + "observationAbout"
    ]
    inbound.sort(key=lambda ps: name(ps[0]).casefold())
    label = pick(desc.names.get(iri), lang)
    one_line = pick(literal_map(desc.outbound.get(d.SCHEMA + "description", [])), lang) or pick(
        literal_map(desc.outbound.get(SKOS + "definition", [])), lang
    )
    return render_template(
        "linked/resource.html",
        **page_common(store, rel),
        desc=desc,
        name=name,
        title=label or curie(iri),
        types=[t.value for t in desc.outbound.get(RDF_TYPE, [])],
        label_langs=sorted(desc.names.get(iri, {}).items()),
        one_line=one_line,
        groups=[(key, values) for key, values in groups.items() if values],
        inbound=inbound,
        inbound_shown=INBOUND_SHOWN,
        class_doc=cdoc,
        property_doc=pdoc,
        shape_list=shapes(store) if defining_graph(store, iri) and rel.startswith("shapes/") else None,
    )


PROPERTY_TYPES = {
    OWL + "ObjectProperty",
    OWL + "DatatypeProperty",
    OWL + "AnnotationProperty",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#Property",
}


def absolute(store: Store, iris: tuple[str, ...]) -> list[str]:
    """IRIs with those relative to the base ("def/quote") made absolute."""
    return [iri if iri.startswith("http") else store.iri(iri) for iri in iris]


def literal_map(values) -> dict[str, str]:
    """Literals keyed by lower-case language tag."""
    return {(v.language or "").lower(): v.value for v in values if isinstance(v, ox.Literal)}


def shapes(store: Store) -> list[tuple[str, list[str]]]:
    """Every SHACL node shape with its target classes."""
    rows = store.select(
        "SELECT ?s ?c WHERE { ?s a sh:NodeShape OPTIONAL { ?s sh:targetClass ?c } } ORDER BY ?s ?c"
    )
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row["s"], [])
        if "c" in row:
            out[row["s"]].append(row["c"])
    return list(out.items())


def render_ontology(store: Store, rel: str) -> str:
    """The ontology's documentation: header, class hierarchy, classes, properties, measures, units."""
    doc = cached("hkgraph.ontology_overview", lambda: overview(store))
    lang = current_language()
    names = {**predicate_labels(), **doc.names}

    def value(predicate: str) -> str:
        return pick(literal_map(doc.header.get(predicate, [])), lang) or ""

    meta = {
        "title": value(DCT + "title") or curie(doc.iri),
        "description": value(DCT + "description"),
        "prefix": value(VANN + "preferredNamespacePrefix"),
        "version": value(OWL + "versionInfo"),
        "created": value(DCT + "created"),
        "modified": value(DCT + "modified"),
    }
    return render_template(
        "linked/ontology.html",
        **page_common(store, rel),
        doc=doc,
        meta=meta,
        name=labeller(names, lang, curie),
    )


def render_graph(store: Store, rel: str) -> str:
    """A named graph's page: its size, source file and the resources it describes."""
    iri = store.iri(rel)
    lang = current_language()
    subjects: dict[str, list[str]] = {}
    triples = 0
    for q in store.quads(iri):
        triples += 1
        if isinstance(q.subject, ox.NamedNode):
            subjects.setdefault(q.subject.value, [])
            if q.predicate.value == RDF_TYPE:
                subjects[q.subject.value].append(q.object.value)
    names = d.names_of(store, set(subjects) | {t for ts in subjects.values() for t in ts})
    name = labeller(names, lang, curie)
    files = [s.path.name for s in store.sources if store.iri(s.graph) == iri]
    return render_template(
        "linked/graph.html",
        **page_common(store, rel),
        name=name,
        triples=triples,
        files=files,
        subjects=sorted(subjects.items(), key=lambda kv: (sorted(kv[1])[:1], name(kv[0]).casefold())),
    )


# Template helpers -------------------------------------------------------------------------


RDF_FIRST = "http://www.w3.org/1999/02/22-rdf-syntax-ns#first"
RDF_REST = "http://www.w3.org/1999/02/22-rdf-syntax-ns#rest"
RDF_NIL = "http://www.w3.org/1999/02/22-rdf-syntax-ns#nil"


def list_items(node, blank: dict) -> list | None:
    """The members of an RDF list (rdf:first/rdf:rest) starting at a blank node, or None if it is not one."""
    items = []
    while isinstance(node, ox.BlankNode):
        props = blank.get(node.value, {})
        if set(props) != {RDF_FIRST, RDF_REST} or len(props[RDF_FIRST]) != 1 or len(items) > 1000:
            return None
        items.append(props[RDF_FIRST][0])
        node = props[RDF_REST][0]
    return items if isinstance(node, ox.NamedNode) and node.value == RDF_NIL else None


def language_tag(tag: str) -> str:
    """A language tag as people write it (pyoxigraph keeps them lower-case): zh-hant → zh-Hant."""
    head, _, script = tag.partition("-")
    return f"{head}-{script.title()}" if len(script) == 4 else tag


def term_kind(term) -> str:
    if isinstance(term, ox.NamedNode):
        return "iri"
    if isinstance(term, ox.BlankNode):
        return "bnode"
    return "literal"


def format_number(value: str) -> str:
    """A decimal with thousands separators and no trailing zeros: 400000.0 → 400,000."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number.normalize():,f}"


# Large numbers the way each language says them: 10500000000 → 105亿 / 10.5 billion.
MAGNITUDES = {
    "en": ((Decimal(10) ** 9, " billion"), (Decimal(10) ** 6, " million")),
    "zh": ((Decimal(10) ** 8, "亿"), (Decimal(10) ** 4, "万")),
}


def readable_number(value: str, lang: str) -> str:
    """A number as a reader of the language writes it: 105亿 or 10.5 billion when exact, else 400,000."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    for size, word in MAGNITUDES["en" if lang == "en" else "zh"]:
        scaled = (number / size).normalize()
        if abs(number) >= size * 10 ** (0 if lang == "en" else 1) and -scaled.as_tuple().exponent <= 2:
            return format_number(str(scaled)) + word
    return format_number(value)


UNIT = "http://qudt.org/vocab/unit/"
PLAIN_UNITS = {UNIT + "NUM", UNIT + "UNITLESS"}


def figure_value(figure: d.Figure, name) -> str:
    """An observation's value as people read it: qualifier, number and unit (HK$33 billion, 约330亿港元)."""
    if figure.value is None:
        return ""
    lang = current_language()
    number = readable_number(figure.value.value, lang)
    unit = figure.unit or ""
    if unit in PLAIN_UNITS or not unit:
        text = number
    elif unit == UNIT + "PERCENT":
        text = number + "%"
    elif unit.startswith(UNIT + "CCY_") and lang == "en" and figure.unit_symbol:
        text = figure.unit_symbol + number
    elif lang == "en" and figure.unit_symbol and unit != UNIT + "YR":
        text = f"{number} {figure.unit_symbol}"
    else:
        text = f"{number} {name(unit)}" if lang == "en" else f"{number}{name(unit)}"
    if figure.qualifier:
        text = f"{name(figure.qualifier)} {text}"
    return text


@bp.app_template_global()
def href(iri: str) -> str:
    return local_href(iri)


@bp.app_context_processor
def linked_data_helpers():
    return {
        "curie": curie,
        "term_kind": term_kind,
        "figure_value": figure_value,
        "format_number": format_number,
        "language_tag": language_tag,
        "list_items": list_items,
    }
