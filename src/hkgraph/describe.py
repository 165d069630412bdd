"""Describe one resource: its triples, figures, sources, what it links to and what links to it, with labels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pyoxigraph as ox

from hkgraph.store import Store

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
RDFS_SUBCLASS = "http://www.w3.org/2000/01/rdf-schema#subClassOf"
SCHEMA = "https://schema.org/"
PROV_DERIVED = "http://www.w3.org/ns/prov#wasDerivedFrom"
DCT_PART_OF = "http://purl.org/dc/terms/isPartOf"
ORG_SUB = "http://www.w3.org/ns/org#subOrganizationOf"
QUDT_VALUE = "http://qudt.org/schema/qudt/numericValue"
QUDT_UNIT = "http://qudt.org/schema/qudt/hasUnit"
QUDT_SYMBOL = "http://qudt.org/schema/qudt/symbol"


@dataclass
class Figure:
    """One observation shown as a row: what, about what, the value with its unit, when, and where from."""

    iri: str
    about: str | None = None
    measure: str | None = None
    value: ox.Literal | None = None
    unit: str | None = None
    unit_symbol: str | None = None
    qualifier: str | None = None
    as_of: ox.Literal | None = None
    period: str | None = None
    sources: list[str] = field(default_factory=list)
    quotes: list[str] = field(default_factory=list)


@dataclass
class Citation:
    """A paragraph the resource is derived from, its section, and the quotes found in it."""

    paragraph: str
    number: int | None
    section: str | None
    quotes: list[str] = field(default_factory=list)


@dataclass
class OrgStructure:
    """An organisation's place in the structure: parents and children, who oversees it and whom it oversees."""

    parents: list[str]
    children: list[str]
    overseen_by: list[str]
    oversees: list[str]

    def __bool__(self) -> bool:
        return bool(self.parents or self.children or self.overseen_by or self.oversees)


@dataclass
class Description:
    """Everything one fetch of a resource tells: for pages (grouped) and as RDF (triples)."""

    iri: str
    types: list[str]
    outbound: dict[str, list] = field(default_factory=dict)  # asserted: predicate → objects
    inferred: dict[str, list] = field(default_factory=dict)  # materialised: predicate → objects
    inbound: dict[str, list[str]] = field(default_factory=dict)  # asserted: predicate → subjects
    blank: dict[str, dict[str, list]] = field(default_factory=dict)  # blank node id → predicate → objects
    figures: list[Figure] = field(default_factory=list)  # observations about the resource
    own_figure: Figure | None = None  # the resource itself, when it is an observation
    citations: list[Citation] = field(default_factory=list)
    unplaced_quotes: list[str] = field(default_factory=list)  # quotes not found in a cited paragraph
    structure: OrgStructure | None = None
    names: dict[str, dict[str, str]] = field(default_factory=dict)  # IRI → {lower-case lang: label}
    triples: list[ox.Triple] = field(default_factory=list)

    def first(self, predicate: str):
        """The first asserted value of a predicate, or None."""
        values = self.outbound.get(predicate) or self.inferred.get(predicate)
        return values[0] if values else None


def labels(store: Store, iri: str) -> dict[str, str]:
    """The rdfs:labels of an IRI keyed by lower-case language tag ('' for a plain string)."""
    out: dict[str, str] = {}
    for q in store.match(iri, RDFS_LABEL):
        if isinstance(q.object, ox.Literal):
            out.setdefault((q.object.language or "").lower(), q.object.value)
    return out


def asserted_types(store: Store, iri: str) -> list[str]:
    """The classes the data gives a resource (its most specific ones), without inferred superclasses."""
    inferred = store.inferred_graph
    return sorted({q.object.value for q in store.match(iri, RDF_TYPE) if q.graph_name != inferred})


def label_literals(store: Store, iris) -> dict[str, list[ox.Literal]]:
    """The rdfs:labels of many IRIs, those that have any (the store reads them as suits it, and keeps them)."""
    return store.labels(iris)


def names_of(store: Store, iris) -> dict[str, dict[str, str]]:
    """Labels of many IRIs: IRI → {lower-case lang: label}, only those that have one."""
    names: dict[str, dict[str, str]] = {}
    for iri, literals in label_literals(store, iris).items():
        for label in literals:
            names.setdefault(iri, {}).setdefault((label.language or "").lower(), label.value)
    return names


def add(groups: dict[str, list], key: str, value) -> None:
    values = groups.setdefault(key, [])
    if value not in values:
        values.append(value)


def describe(store: Store, iri: str, texts: Mapping[int, str] | None = None) -> Description:
    """The description of an IRI; texts (paragraph number → text) lets quotes be placed in paragraphs."""
    node = ox.NamedNode(iri)
    inferred_graph = store.inferred_graph
    triples: set[ox.Triple] = set()
    d = Description(iri=iri, types=[])

    for q in store.match(node):
        triples.add(ox.Triple(q.subject, q.predicate, q.object))
        add(d.inferred if q.graph_name == inferred_graph else d.outbound, q.predicate.value, q.object)
    for key in list(d.inferred):  # a triple both asserted and inferred counts as asserted
        d.inferred[key] = [o for o in d.inferred[key] if o not in d.outbound.get(key, [])]
        if not d.inferred[key]:
            del d.inferred[key]
    d.types = [t.value for t in d.outbound.get(RDF_TYPE, []) + d.inferred.get(RDF_TYPE, [])]
    triples |= blank_closure(store, d)

    for q in store.match(None, None, node):
        if q.graph_name != inferred_graph and is_iri(q.subject):
            triples.add(ox.Triple(q.subject, q.predicate, q.object))
            add(d.inbound, q.predicate.value, q.subject.value)

    observations = d.inbound.get(SCHEMA + "observationAbout", [])
    paragraphs = [o.value for o in d.outbound.get(PROV_DERIVED, []) if is_iri(o)]
    store.prefetch([*observations, *paragraphs])
    for obs in observations:
        quads = list(store.match(obs))
        d.figures.append(figure(store, obs, quads))
        triples |= {ox.Triple(q.subject, q.predicate, q.object) for q in quads}
    d.figures.sort(key=lambda f: (f.measure or "", str(f.as_of or f.period or ""), f.iri))
    if store.iri("def/Observation") in d.types:
        d.own_figure = figure(store, iri)

    triples |= cite(store, d, texts or {})
    if is_organisation(store, iri):
        d.structure = org_structure(store, iri)

    mentioned = {t.value for tr in triples for t in (tr.subject, tr.predicate, tr.object) if is_iri(t)}
    if d.structure:
        mentioned.update(*vars(d.structure).values())
    label = ox.NamedNode(RDFS_LABEL)
    for other, literals in label_literals(store, mentioned).items():
        for literal in literals:
            d.names.setdefault(other, {}).setdefault((literal.language or "").lower(), literal.value)
            if other != iri:
                triples.add(ox.Triple(ox.NamedNode(other), label, literal))
    d.triples = sorted(triples, key=lambda t: (t.subject != node, str(t)))  # the resource's own first
    return d


def is_iri(term) -> bool:
    return isinstance(term, ox.NamedNode)


def blank_closure(store: Store, d: Description) -> set[ox.Triple]:
    """The triples of blank nodes the resource points to, followed to any depth (SHACL shapes, lists)."""
    triples: set[ox.Triple] = set()
    todo = [o for values in d.outbound.values() for o in values if isinstance(o, ox.BlankNode)]
    while todo:
        bnode = todo.pop()
        if bnode.value in d.blank:
            continue
        d.blank[bnode.value] = {}
        for q in store.match(bnode):
            triples.add(ox.Triple(q.subject, q.predicate, q.object))
            add(d.blank[bnode.value], q.predicate.value, q.object)
            if isinstance(q.object, ox.BlankNode):
                todo.append(q.object)
    return triples


def figure(store: Store, obs: str, quads: list[ox.Quad] | None = None) -> Figure:
    """An observation's parts, read from its quads (read here unless given)."""
    f = Figure(iri=obs)
    hkg = store.iri("def/")
    for q in store.match(obs) if quads is None else quads:
        p, o = q.predicate.value, q.object
        if p == SCHEMA + "observationAbout":
            f.about = o.value
        elif p == hkg + "measure":
            f.measure = o.value
        elif p == QUDT_VALUE:
            f.value = o
        elif p == QUDT_UNIT:
            f.unit = o.value
            symbol = next(store.match(o, QUDT_SYMBOL), None)
            f.unit_symbol = symbol.object.value if symbol else None
        elif p == hkg + "qualifier":
            f.qualifier = o.value
        elif p == hkg + "asOf":
            f.as_of = o
        elif p == hkg + "refPeriod":
            f.period = o.value
        elif p == PROV_DERIVED:
            add_unique(f.sources, o.value)
        elif p == hkg + "quote":
            add_unique(f.quotes, o.value)
    f.sources.sort(key=paragraph_sort_key)
    return f


def add_unique(values: list, value) -> None:
    if value not in values:
        values.append(value)


def paragraph_sort_key(iri: str):
    tail = iri.rstrip("/").rpartition("/")[2]
    return (0, int(tail), iri) if tail.isdigit() else (1, 0, iri)


def cite(store: Store, d: Description, texts: Mapping[int, str]) -> set[ox.Triple]:
    """Fill d.citations from prov:wasDerivedFrom and hkg:quote; return the paragraphs' number and section."""
    hkg = store.iri("def/")
    triples: set[ox.Triple] = set()
    quotes = [o.value for o in d.outbound.get(hkg + "quote", []) if isinstance(o, ox.Literal)]
    placed: set[str] = set()
    paragraphs = [o.value for o in d.outbound.get(PROV_DERIVED, []) if is_iri(o)]
    for paragraph in sorted(paragraphs, key=paragraph_sort_key):
        number = section = None
        for q in store.match(paragraph):
            if q.predicate.value == hkg + "paragraphNumber":
                number = int(q.object.value)
                triples.add(ox.Triple(q.subject, q.predicate, q.object))
            elif q.predicate.value == DCT_PART_OF:
                section = q.object.value
                triples.add(ox.Triple(q.subject, q.predicate, q.object))
        text = texts.get(number, "") if number is not None else ""
        found = [quote for quote in quotes if quote in text]
        placed.update(found)
        d.citations.append(Citation(paragraph, number, section, found))
    d.unplaced_quotes = [quote for quote in quotes if quote not in placed]
    return triples


def is_organisation(store: Store, iri: str) -> bool:
    """Whether the resource is typed with hkg:Organization or one of its subclasses."""
    return store.ask(f"ASK {{ <{iri}> a/rdfs:subClassOf* hkg:Organization }}")


def org_structure(store: Store, iri: str) -> OrgStructure:
    """Parents, children and oversight of an organisation, over asserted and inferred triples."""
    hkg = store.iri("def/")

    def objects(p: str) -> list[str]:
        return sorted({q.object.value for q in store.match(iri, p) if is_iri(q.object)})

    def subjects(p: str) -> list[str]:
        return sorted({q.subject.value for q in store.match(None, p, iri)})

    return OrgStructure(
        parents=objects(ORG_SUB),
        children=subjects(ORG_SUB),
        overseen_by=objects(hkg + "overseenBy"),
        oversees=subjects(hkg + "overseenBy"),
    )


def graph_triples(store: Store, graph: str) -> list[ox.Triple]:
    """The triples of one named graph, sorted."""
    return sorted({ox.Triple(q.subject, q.predicate, q.object) for q in store.match(graph=graph)}, key=str)
