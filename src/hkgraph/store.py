"""The one store: loads ontology, shapes and data into pyoxigraph and answers SPARQL over them."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox

from hkgraph.errors import LoadError, QuerySyntaxError

DEFAULT_BASE = "https://w3id.org/hkgraph/"
PROJECT_ROOT = Path(__file__).resolve().parents[2]

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
OWL = "http://www.w3.org/2002/07/owl#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"

FORMATS_BY_SUFFIX = {
    ".ttl": ox.RdfFormat.TURTLE,
    ".nt": ox.RdfFormat.N_TRIPLES,
    ".nq": ox.RdfFormat.N_QUADS,
    ".trig": ox.RdfFormat.TRIG,
    ".jsonld": ox.RdfFormat.JSON_LD,
    ".json": ox.RdfFormat.JSON_LD,
    ".rdf": ox.RdfFormat.RDF_XML,
    ".owl": ox.RdfFormat.RDF_XML,
    ".xml": ox.RdfFormat.RDF_XML,
    ".n3": ox.RdfFormat.N3,
}

PREFIXES = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dcterms": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "hkg": DEFAULT_BASE + "def/",
    "hkgm": DEFAULT_BASE + "def/measure/",
    "hkgsh": DEFAULT_BASE + "shapes/",
    "org": "http://www.w3.org/ns/org#",
    "owl": OWL,
    "prov": "http://www.w3.org/ns/prov#",
    "qudt": "http://qudt.org/schema/qudt/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": RDFS,
    "schema": "https://schema.org/",
    "sh": "http://www.w3.org/ns/shacl#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "time": "http://www.w3.org/2006/time#",
    "unit": "http://qudt.org/vocab/unit/",
    "vann": "http://purl.org/vocab/vann/",
    "void": "http://rdfs.org/ns/void#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


@dataclass(frozen=True)
class Source:
    """One file to load and the named graph (relative to the base) it goes into."""

    path: Path
    graph: str


def default_sources(root: Path = PROJECT_ROOT) -> list[Source]:
    """The built-in graph: ontology/, shapes/ and data/, one named graph per data file."""
    sources = [Source(p, "graph/ontology") for p in sorted((root / "ontology").glob("*.ttl"))]
    sources += [Source(p, "graph/shapes") for p in sorted((root / "shapes").glob("*.ttl"))]
    sources += [Source(p, f"graph/{p.stem}") for p in sorted((root / "data").glob("*.ttl"))]
    return sources


def file_sources(paths: Iterable[str | Path]) -> list[Source]:
    """Other RDF files to serve instead of the built-in graph: one named graph per file."""
    return [Source(Path(p), f"graph/{Path(p).stem}") for p in paths]


def rdf_format(path: Path) -> ox.RdfFormat:
    """The RDF syntax of a file, from its suffix; LoadError if unknown."""
    fmt = FORMATS_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS_BY_SUFFIX))
        raise LoadError(f"{path}: unknown RDF file type {path.suffix!r} (known: {known})")
    return fmt


def parse_file(path: Path) -> list[ox.Quad]:
    """Parse one RDF file into quads; LoadError naming file and line on any problem."""
    fmt = rdf_format(path)
    try:
        return list(ox.parse(path=str(path), format=fmt))
    except SyntaxError as err:
        raise LoadError(f"{path}:{err.lineno or '?'}: {err.msg}") from None
    except OSError as err:
        raise LoadError(f"{path}: cannot read ({err.strerror or err})") from None
    except ValueError as err:
        raise LoadError(f"{path}: {err}") from None


@dataclass
class Rebase:
    """Rewrites IRIs minted under the default base so that a local instance's IRIs are its own."""

    base: str

    def term(self, term):
        if isinstance(term, ox.NamedNode) and term.value.startswith(DEFAULT_BASE):
            return ox.NamedNode(self.base + term.value[len(DEFAULT_BASE) :])
        if isinstance(term, ox.Literal) and term.datatype.value.startswith(DEFAULT_BASE):
            return ox.Literal(term.value, datatype=self.term(term.datatype))
        return term

    def quad(self, q: ox.Quad, graph) -> ox.Quad:
        return ox.Quad(self.term(q.subject), self.term(q.predicate), self.term(q.object), self.term(graph))


@dataclass
class Store:
    """The graph: a pyoxigraph store plus what it was loaded from, its base IRI and version."""

    base: str = DEFAULT_BASE
    oxigraph: ox.Store = field(default_factory=ox.Store)
    sources: list[Source] = field(default_factory=list)
    version: str = ""

    @classmethod
    def load(cls, sources: list[Source] | None = None, base: str = DEFAULT_BASE) -> Store:
        """Load the given sources (default: the built-in graph) into a new in-memory store."""
        if not base.endswith("/"):
            base += "/"
        sources = default_sources() if sources is None else sources
        store = cls(base=base, sources=sources)
        rebase = Rebase(base)
        digest = hashlib.sha256(base.encode())
        for source in sources:
            graph = ox.NamedNode(base + source.graph)
            quads = parse_file(source.path)
            # quads of a dataset file (N-Quads, TriG) keep their named graph; triples go to the file's graph
            store.oxigraph.extend(
                [
                    rebase.quad(q, graph if isinstance(q.graph_name, ox.DefaultGraph) else q.graph_name)
                    for q in quads
                ]
            )
            digest.update(source.path.read_bytes())
        store.version = digest.hexdigest()[:16]
        store.materialise()
        return store

    def iri(self, path: str) -> str:
        """An IRI under this store's base: iri('id/org/itc')."""
        return self.base + path

    @property
    def inferred_graph(self) -> ox.NamedNode:
        return ox.NamedNode(self.iri("graph/inferred"))

    def materialise(self) -> None:
        """Add inverse, symmetric, super-property and superclass-type triples to graph/inferred."""
        rules = self.select(
            """SELECT ?p ?q ?kind WHERE {
                 { ?p owl:inverseOf ?q . BIND("inverse" AS ?kind) }
                 UNION { ?q owl:inverseOf ?p . BIND("inverse" AS ?kind) }
                 UNION { ?p a owl:SymmetricProperty . BIND(?p AS ?q) BIND("inverse" AS ?kind) }
                 UNION { ?p rdfs:subPropertyOf+ ?q . FILTER(?p != ?q) BIND("super" AS ?kind) }
               }"""
        )
        asserted = list(self.oxigraph.quads_for_pattern(None, None, None, None))
        by_predicate: dict[str, list[ox.Quad]] = {}
        for q in asserted:
            by_predicate.setdefault(q.predicate.value, []).append(q)
        graph = self.inferred_graph
        new: set[ox.Quad] = set()
        for row in rules:
            p, q, kind = row["p"], row["q"], row["kind"]
            for quad in by_predicate.get(p, []):
                if kind == "inverse":
                    if isinstance(quad.object, ox.Literal):
                        continue
                    new.add(ox.Quad(quad.object, ox.NamedNode(q), quad.subject, graph))
                else:
                    new.add(ox.Quad(quad.subject, ox.NamedNode(q), quad.object, graph))
        types = self.select("SELECT ?c ?super WHERE { ?c rdfs:subClassOf+ ?super . FILTER(isIRI(?super)) }")
        supers: dict[str, list[str]] = {}
        for row in types:
            supers.setdefault(row["c"], []).append(row["super"])
        for quad in by_predicate.get(RDF_TYPE, []):
            for sup in supers.get(quad.object.value, []):
                new.add(ox.Quad(quad.subject, ox.NamedNode(RDF_TYPE), ox.NamedNode(sup), graph))
        present = {ox.Triple(q.subject, q.predicate, q.object) for q in asserted}
        self.oxigraph.extend([q for q in new if ox.Triple(q.subject, q.predicate, q.object) not in present])

    # Queries -----------------------------------------------------------------

    def prefixes(self) -> dict[str, str]:
        """The prefixes preset for queries, rebased to this store's base."""
        return {
            k: (self.base + v[len(DEFAULT_BASE) :] if v.startswith(DEFAULT_BASE) else v)
            for k, v in PREFIXES.items()
        }

    def query(
        self,
        sparql: str,
        *,
        default_graph=None,
        named_graphs=None,
        use_prefixes: bool = True,
        union_default_graph: bool = True,
    ):
        """Run a SPARQL query on pyoxigraph; the default graph is the union of all graphs unless given
        (or unless union_default_graph is False, so that the query's own FROM clauses apply)."""
        kwargs = {}
        if default_graph is not None:
            kwargs["default_graph"] = default_graph
        elif union_default_graph:
            kwargs["use_default_graph_as_union"] = True
        if named_graphs is not None:
            kwargs["named_graphs"] = named_graphs
        try:
            return self.oxigraph.query(sparql, prefixes=self.prefixes() if use_prefixes else None, **kwargs)
        except SyntaxError as err:
            raise QuerySyntaxError(f"SPARQL syntax error: {err.msg}") from None

    def select(self, sparql: str, **kwargs) -> list[dict]:
        """Run a SELECT and return rows as dicts of plain Python values (IRIs as str, literals by value)."""
        result = self.query(sparql, **kwargs)
        names = [v.value for v in result.variables]
        return [{n: to_python(row[n]) for n in names if row[n] is not None} for row in result]

    def ask(self, sparql: str, **kwargs) -> bool:
        return bool(self.query(sparql, **kwargs))

    def quads(self, graph: str | None = None) -> Iterator[ox.Quad]:
        g = ox.NamedNode(graph) if graph else None
        return self.oxigraph.quads_for_pattern(None, None, None, g)

    def match(self, subject=None, predicate=None, object=None, graph=None) -> Iterator[ox.Quad]:
        """Quads matching a pattern over all graphs; IRIs may be given as str, None matches anything."""
        s, p, o, g = (
            ox.NamedNode(t) if isinstance(t, str) else t for t in (subject, predicate, object, graph)
        )
        return self.oxigraph.quads_for_pattern(s, p, o, g)

    def mentions(self, iri: str) -> bool:
        """Whether the IRI occurs anywhere in the store: as subject, predicate, object or graph name."""
        node = ox.NamedNode(iri)
        return (
            any(True for _ in self.oxigraph.quads_for_pattern(node, None, None))
            or any(True for _ in self.oxigraph.quads_for_pattern(None, None, node))
            or any(True for _ in self.oxigraph.quads_for_pattern(None, node, None))
            or self.oxigraph.contains_named_graph(node)
        )

    def graphs(self) -> list[str]:
        return sorted(g.value for g in self.oxigraph.named_graphs())

    def __len__(self) -> int:
        return len(self.oxigraph)

    # Export ------------------------------------------------------------------

    def serialize(self, fmt: ox.RdfFormat, *, include_inferred: bool = True) -> bytes:
        """The whole dataset in an RDF syntax; triple-only syntaxes get the union of graphs."""
        quads = self.quads()
        if not include_inferred:
            inferred = self.inferred_graph
            quads = (q for q in quads if q.graph_name != inferred)
        if not fmt.supports_datasets:
            triples = {ox.Triple(q.subject, q.predicate, q.object) for q in quads}
            return ox.serialize(sorted(triples, key=str), format=fmt, prefixes=self.prefixes())
        return ox.serialize(sorted(quads, key=str), format=fmt, prefixes=self.prefixes())

    def rdflib_graph(self, include_inferred: bool = False, graphs: Iterable[str] | None = None):
        """The union of graphs (or the given ones) as an rdflib Graph, for pyshacl and rdflib users."""
        import rdflib

        wanted = set(graphs) if graphs is not None else None
        inferred = self.inferred_graph
        buf = io.BytesIO()
        triples = {
            ox.Triple(q.subject, q.predicate, q.object)
            for q in self.quads()
            if (include_inferred or q.graph_name != inferred)
            and (wanted is None or q.graph_name.value in wanted)
        }
        ox.serialize(triples, buf, format=ox.RdfFormat.N_TRIPLES)
        g = rdflib.Graph()
        g.parse(data=buf.getvalue().decode(), format="nt")
        return g


def to_python(term):
    """A pyoxigraph term as a plain Python value: IRIs as str, numbers as int/float, others as str."""
    if term is None:
        return None
    if isinstance(term, ox.Literal):
        dt = term.datatype.value
        if dt.endswith("#integer") or dt.endswith("#int") or dt.endswith("#long"):
            return int(term.value)
        if dt.endswith("#decimal") or dt.endswith("#double") or dt.endswith("#float"):
            return float(term.value)
        if dt.endswith("#boolean"):
            return term.value == "true"
        return term.value
    return term.value


def open_graph(*paths: str | Path, base: str = DEFAULT_BASE) -> Store:
    """Open the built-in graph (or the given RDF files): the entry point for notebooks and scripts."""
    return Store.load(file_sources(paths) if paths else None, base=base)
