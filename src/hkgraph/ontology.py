"""Ontology documentation from the graph: classes and their hierarchy, properties, measures, examples."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyoxigraph as ox

from hkgraph.describe import names_of
from hkgraph.store import Store

EXAMPLES = 5


@dataclass
class ClassDoc:
    """A class: its place in the hierarchy, the properties declared for it, and instances from the data."""

    iri: str
    definition: str = ""
    superclasses: list[str] = field(default_factory=list)
    subclasses: list[str] = field(default_factory=list)
    domain_of: list[str] = field(default_factory=list)  # properties that schema:domainIncludes it
    range_of: list[str] = field(default_factory=list)  # properties that schema:rangeIncludes it
    instances: int = 0  # including instances of subclasses
    examples: list[str] = field(default_factory=list)


@dataclass
class PropertyDoc:
    """A property: its kind, where it is used and what it points to, its inverse, and uses in the data."""

    iri: str
    definition: str = ""
    kinds: list[str] = field(default_factory=list)
    domain: list[str] = field(default_factory=list)
    range: list[str] = field(default_factory=list)
    inverse: list[str] = field(default_factory=list)
    superproperties: list[str] = field(default_factory=list)
    uses: int = 0
    examples: list[tuple[str, object]] = field(default_factory=list)  # (subject IRI, object term)


@dataclass
class ConceptDoc:
    """A measure, qualifier or unit, with how many observations use it."""

    iri: str
    definition: str = ""
    uses: int = 0


@dataclass
class Overview:
    """The whole ontology as one documentation page."""

    iri: str
    header: dict[str, list] = field(default_factory=dict)  # predicate → values of the ontology node
    hierarchy: list[tuple[int, str]] = field(default_factory=list)  # (depth, class IRI), depth-first
    classes: dict[str, ClassDoc] = field(default_factory=dict)
    properties: list[PropertyDoc] = field(default_factory=list)
    measures: list[ConceptDoc] = field(default_factory=list)
    qualifiers: list[ConceptDoc] = field(default_factory=list)
    units: list[ConceptDoc] = field(default_factory=list)
    names: dict[str, dict[str, str]] = field(default_factory=dict)


def definitions(store: Store) -> dict[str, str]:
    """English skos:definition (or rdfs:comment) of every term that has one."""
    rows = store.select(
        """SELECT ?t ?d WHERE { { ?t skos:definition ?d } UNION { ?t rdfs:comment ?d }
             FILTER(langMatches(lang(?d), "en") || lang(?d) = "") }"""
    )
    return {r["t"]: r["d"] for r in rows}


def own_classes(store: Store) -> list[str]:
    """Classes minted in our namespace."""
    ns = store.iri("def/")
    rows = store.select(f'SELECT DISTINCT ?c WHERE {{ ?c a owl:Class FILTER(STRSTARTS(STR(?c), "{ns}")) }}')
    return sorted(r["c"] for r in rows)


def own_properties(store: Store) -> list[str]:
    """Properties minted in our namespace."""
    ns = store.iri("def/")
    rows = store.select(
        f"""SELECT DISTINCT ?p WHERE {{ ?p a ?kind
              VALUES ?kind {{ owl:ObjectProperty owl:DatatypeProperty owl:AnnotationProperty rdf:Property }}
              FILTER(STRSTARTS(STR(?p), "{ns}")) }}"""
    )
    return sorted(r["p"] for r in rows)


def class_doc(store: Store, iri: str, defs: dict[str, str] | None = None) -> ClassDoc:
    """Documentation of one class."""
    defs = definitions(store) if defs is None else defs
    doc = ClassDoc(iri, defs.get(iri, ""))
    doc.superclasses = column(
        store, f"SELECT ?x WHERE {{ <{iri}> rdfs:subClassOf ?x FILTER(isIRI(?x)) }} ORDER BY ?x"
    )
    doc.subclasses = column(store, f"SELECT ?x WHERE {{ ?x rdfs:subClassOf <{iri}> }} ORDER BY ?x")
    doc.domain_of = column(
        store, f"SELECT ?x WHERE {{ ?x schema:domainIncludes|rdfs:domain <{iri}> }} ORDER BY ?x"
    )
    doc.range_of = column(
        store, f"SELECT ?x WHERE {{ ?x schema:rangeIncludes|rdfs:range <{iri}> }} ORDER BY ?x"
    )
    doc.instances = store.select(
        f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s a/rdfs:subClassOf* <{iri}> }}"
    )[0]["n"]
    doc.examples = column(
        store, f"SELECT DISTINCT ?s WHERE {{ ?s a/rdfs:subClassOf* <{iri}> }} ORDER BY ?s LIMIT {EXAMPLES}"
    )
    return doc


def property_doc(store: Store, iri: str, defs: dict[str, str] | None = None) -> PropertyDoc:
    """Documentation of one property, with example triples from the data."""
    defs = definitions(store) if defs is None else defs
    doc = PropertyDoc(iri, defs.get(iri, ""))
    doc.kinds = column(store, f"SELECT ?k WHERE {{ <{iri}> a ?k }} ORDER BY ?k")
    doc.domain = column(
        store, f"SELECT ?x WHERE {{ <{iri}> schema:domainIncludes|rdfs:domain ?x }} ORDER BY ?x"
    )
    doc.range = column(store, f"SELECT ?x WHERE {{ <{iri}> schema:rangeIncludes|rdfs:range ?x }} ORDER BY ?x")
    doc.inverse = column(
        store,
        f"SELECT ?x WHERE {{ {{ <{iri}> owl:inverseOf ?x }} UNION {{ ?x owl:inverseOf <{iri}> }} }} ORDER BY ?x",
    )
    doc.superproperties = column(store, f"SELECT ?x WHERE {{ <{iri}> rdfs:subPropertyOf ?x }} ORDER BY ?x")
    doc.uses = store.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s <{iri}> ?o }}")[0]["n"]
    rows = store.query(
        f"""SELECT ?s ?o WHERE {{ ?s <{iri}> ?o FILTER(STRSTARTS(STR(?s), "{store.iri("id/")}")) }}
            ORDER BY ?s ?o LIMIT {EXAMPLES}"""
    )
    doc.examples = [(row["s"].value, row["o"]) for row in rows]
    return doc


def column(store: Store, sparql: str) -> list[str]:
    """The values of a SELECT's one column, without repeats, in the query's order."""
    values = []
    for row in store.select(sparql):
        value = next(iter(row.values()), None)
        if value is not None and value not in values:
            values.append(value)
    return values


def hierarchy(store: Store, classes: list[str]) -> list[tuple[int, str]]:
    """Our classes depth-first from the roots, each with its depth (a class under two parents shows twice)."""
    own = set(classes)
    children: dict[str, list[str]] = {c: [] for c in classes}
    has_parent: set[str] = set()
    for row in store.select("SELECT ?c ?p WHERE { ?c rdfs:subClassOf ?p }"):
        if row["c"] in own and row["p"] in own and row["c"] != row["p"]:
            children[row["p"]].append(row["c"])
            has_parent.add(row["c"])
    out: list[tuple[int, str]] = []

    def walk(c: str, depth: int, seen: tuple[str, ...]) -> None:
        out.append((depth, c))
        for child in sorted(children[c]):
            if child not in seen:
                walk(child, depth + 1, seen + (child,))

    for root in sorted(c for c in classes if c not in has_parent):
        walk(root, 0, (root,))
    return out


def concepts(store: Store, cls: str, used_by: str) -> list[ConceptDoc]:
    """Instances of a class (measures, qualifiers, units) with how many triples use them via a property."""
    defs = definitions(store)
    rows = store.select(
        f"""SELECT ?c (COUNT(?obs) AS ?n) WHERE {{ ?c a {cls} OPTIONAL {{ ?obs {used_by} ?c }} }}
            GROUP BY ?c ORDER BY ?c"""
    )
    return [ConceptDoc(r["c"], defs.get(r["c"], ""), r["n"]) for r in rows]


def overview(store: Store) -> Overview:
    """The documentation of the whole ontology: header, class hierarchy, classes, properties, measures."""
    iri = store.iri("def/")
    defs = definitions(store)
    doc = Overview(iri)
    for q in store.match(iri):
        doc.header.setdefault(q.predicate.value, []).append(q.object)
    classes = own_classes(store)
    doc.hierarchy = hierarchy(store, classes)
    doc.classes = {c: class_doc(store, c, defs) for c in classes}
    doc.properties = [property_doc(store, p, defs) for p in own_properties(store)]
    doc.measures = concepts(store, "hkg:Measure", "hkg:measure")
    doc.qualifiers = concepts(store, "hkg:Qualifier", "hkg:qualifier")
    doc.units = concepts(store, "qudt:Unit", "qudt:hasUnit")
    mentioned = set(doc.classes) | {p.iri for p in doc.properties}
    for c in doc.classes.values():
        mentioned.update(c.superclasses, c.examples)
    for p in doc.properties:
        mentioned.update(p.domain, p.range, p.inverse, p.kinds, (s for s, _ in p.examples))
        mentioned.update(o.value for _, o in p.examples if isinstance(o, ox.NamedNode))
    mentioned.update(c.iri for c in doc.measures + doc.qualifiers + doc.units)
    doc.names = names_of(store, mentioned)
    return doc
