"""The one store: loads ontology, shapes and data into pyoxigraph and answers SPARQL over them."""

from __future__ import annotations

import functools
import gc
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pyoxigraph as ox

from hkgraph.errors import LoadError, QuerySyntaxError

DEFAULT_BASE = "https://w3id.org/hkgraph/"
PROJECT_ROOT = Path(__file__).resolve().parents[2]

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
STORE_MANIFEST = "hkgraph-store.json"  # an on-disk store's base, version, sources and size
INFERENCE_BATCH = 500_000  # inferred quads written at a time
OWL = "http://www.w3.org/2002/07/owl#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
RDFS_LABEL = ox.NamedNode(RDFS + "label")

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


def error_line(path: Path, err: SyntaxError) -> int | str:
    """The line of a parse error: pyoxigraph's, else (ill-formed RDF/XML) the XML parser's, else "?"."""
    if err.lineno or rdf_format(path) != ox.RdfFormat.RDF_XML:
        return err.lineno or "?"
    from xml.etree import ElementTree

    try:
        ElementTree.parse(path)
    except ElementTree.ParseError as xml_error:
        return xml_error.position[0]
    return "?"


def parse_file(path: Path) -> list[ox.Quad]:
    """Parse one RDF file into quads; LoadError naming file and line on any problem."""
    fmt = rdf_format(path)
    try:
        return list(ox.parse(path=str(path), format=fmt))
    except SyntaxError as err:
        raise LoadError(f"{path}:{error_line(path, err)}: {err.msg}") from None
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


class LabelCache:
    """The labels of IRIs a read-only store was asked for, kept for the next pages (which name many of the same
    classes, properties, units and neighbours); when full, the older half is dropped."""

    def __init__(self, max_items: int = 20_000):
        self.max_items = max_items
        self.items: dict[str, list[ox.Literal]] = {}

    def labels(self, iris, fetch) -> dict[str, list[ox.Literal]]:
        """The labels of the IRIs that have any; fetch(IRIs) reads those not kept yet."""
        wanted = set(iris)
        missing = sorted(wanted.difference(self.items))
        found = {iri: self.items[iri] for iri in wanted if iri in self.items}
        if missing:
            fetched = fetch(missing)
            if len(self.items) + len(missing) > self.max_items:
                for old in list(self.items)[: len(self.items) // 2 + len(missing)]:
                    del self.items[old]
            for iri in missing:
                self.items[iri] = found[iri] = fetched.get(iri, [])
        return {iri: labels for iri, labels in found.items() if labels}


@dataclass
class Store:
    """The graph: a pyoxigraph store (in memory, or on disk when built with Store.build) plus what it was
    loaded from, its base IRI and version."""

    remote: ClassVar[bool] = False  # queries run in this process (RemoteStore: in a triplestore)
    base: str = DEFAULT_BASE
    oxigraph: ox.Store = field(default_factory=ox.Store)
    sources: list[Source] = field(default_factory=list)
    version: str = ""
    directory: str = ""  # an on-disk store's folder ("" in memory)
    triples: int | None = None  # a read-only store's size, recorded when it was built
    inherited: list = field(default_factory=list, repr=False)  # handles a forked process got from its parent
    label_cache: LabelCache = field(default_factory=LabelCache, repr=False, compare=False)

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

    @classmethod
    def build(
        cls, directory: str | Path, sources: list[Source] | None = None, base: str = DEFAULT_BASE
    ) -> Store:
        """Bulk-load the sources (default: the built-in graph) into a new on-disk store once, inferences
        included, for `serve --store` to open read-only. Built beside the folder, then moved into place, so a
        failed build leaves an existing store as it was."""
        if not base.endswith("/"):
            base += "/"
        sources = default_sources() if sources is None else sources
        directory = Path(directory)
        work = directory.with_name(directory.name + ".building")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        store = cls(base=base, oxigraph=ox.Store(str(work / "oxigraph")), sources=sources)
        try:
            digest = hashlib.sha256(base.encode())
            for source in sources:
                store.bulk_load(source)
                with open(source.path, "rb") as file:
                    while chunk := file.read(1 << 20):
                        digest.update(chunk)
            store.version = digest.hexdigest()[:16]
            store.materialise(write=store.oxigraph.bulk_extend)
            store.oxigraph.flush()
            store.oxigraph.optimize()
            store.write_manifest(work)
        except BaseException:
            store.oxigraph = None
            gc.collect()
            shutil.rmtree(work, ignore_errors=True)
            raise
        store.oxigraph = None  # closes the RocksDB database before its folder moves
        gc.collect()
        replace_folder(work, directory)
        return cls.open(directory)

    def bulk_load(self, source: Source) -> None:
        """Load one file into its named graph with pyoxigraph's bulk loader (streamed, never all in memory)."""
        graph = ox.NamedNode(self.base + source.graph)
        fmt = rdf_format(source.path)
        try:
            if self.base == DEFAULT_BASE:
                self.oxigraph.bulk_load(path=str(source.path), format=fmt, to_graph=graph)
            else:
                rebase = Rebase(self.base)
                self.oxigraph.bulk_extend(
                    rebase.quad(q, graph if isinstance(q.graph_name, ox.DefaultGraph) else q.graph_name)
                    for q in ox.parse(path=str(source.path), format=fmt)
                )
        except SyntaxError as err:
            raise LoadError(f"{source.path}:{error_line(source.path, err)}: {err.msg}") from None
        except OSError as err:
            raise LoadError(f"{source.path}: cannot read ({err.strerror or err})") from None
        except ValueError as err:
            raise LoadError(f"{source.path}: {err}") from None

    def write_manifest(self, folder: Path) -> None:
        """Record beside the database what `open` needs without scanning it: base, version, sources, size."""
        manifest = {
            "base": self.base,
            "version": self.version,
            "triples": len(self.oxigraph),
            "sources": [{"path": str(s.path), "graph": s.graph} for s in self.sources],
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (folder / STORE_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def open(cls, directory: str | Path, read_only: bool = True) -> Store:
        """Open a store made by Store.build; read-only by default, so any number of processes can share it."""
        directory = Path(directory)
        try:
            manifest = json.loads((directory / STORE_MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LoadError(
                f"{directory} is not an hkgraph store (no {STORE_MANIFEST}); make one with "
                f"`hkgraph build --store {directory}`"
            ) from None
        path = str(directory / "oxigraph")
        try:
            oxigraph = ox.Store.read_only(path) if read_only else ox.Store(path)
        except OSError as err:
            raise LoadError(f"{directory}: cannot open the store ({err})") from None
        return cls(
            base=manifest["base"],
            oxigraph=oxigraph,
            sources=[Source(Path(s["path"]), s["graph"]) for s in manifest["sources"]],
            version=manifest["version"],
            directory=str(directory.resolve()),
            triples=manifest["triples"] if read_only else None,
        )

    def after_fork(self) -> None:
        """Give a newly forked worker its own handle on an on-disk store (a database handle must not be
        shared across fork); an in-memory store is simply shared copy-on-write."""
        if self.directory and self.triples is not None:
            # the parent's handle stays referenced: dropping it here would wait for its threads, which a
            # forked process does not have
            self.inherited.append(self.oxigraph)
            self.oxigraph = ox.Store.read_only(str(Path(self.directory) / "oxigraph"))

    def open_files(self) -> set[int]:
        """The descriptors of an on-disk store's files, which a sandboxed query process must keep open."""
        if not self.directory:
            return set()
        found = set()
        for name in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{name}").startswith(self.directory + os.sep):
                    found.add(int(name))
            except OSError:
                continue  # closed meanwhile (the listing's own descriptor)
        return found

    def files_to_open(self) -> int:
        """How many more files an on-disk store may open while queries read it (RocksDB opens its table
        files as they are first needed)."""
        return len(os.listdir(Path(self.directory) / "oxigraph")) if self.directory else 0

    def iri(self, path: str) -> str:
        """An IRI under this store's base: iri('id/org/itc')."""
        return self.base + path

    @property
    def inferred_graph(self) -> ox.NamedNode:
        return ox.NamedNode(self.iri("graph/inferred"))

    def materialise(self, write=None) -> None:
        """Add inverse, symmetric, super-property and superclass-type triples to graph/inferred.

        Streams predicate by predicate and writes in batches, so it runs in bounded memory at any size;
        a triple already in the store (asserted or inferred before) is not added again. write adds a batch
        (default: the store's extend; Store.build passes the bulk loader's)."""
        write = write or self.oxigraph.extend
        rules = self.select(
            """SELECT ?p ?q ?kind WHERE {
                 { ?p owl:inverseOf ?q . BIND("inverse" AS ?kind) }
                 UNION { ?q owl:inverseOf ?p . BIND("inverse" AS ?kind) }
                 UNION { ?p a owl:SymmetricProperty . BIND(?p AS ?q) BIND("inverse" AS ?kind) }
                 UNION { ?p rdfs:subPropertyOf+ ?q . FILTER(?p != ?q) BIND("super" AS ?kind) }
               }"""
        )
        types = self.select("SELECT ?c ?super WHERE { ?c rdfs:subClassOf+ ?super . FILTER(isIRI(?super)) }")
        supers: dict[str, list[str]] = {}
        for row in types:
            supers.setdefault(row["c"], []).append(row["super"])
        graph = self.inferred_graph
        batch: set[ox.Quad] = set()

        def asserted(predicate: str, object=None) -> Iterator[ox.Quad]:
            node = ox.NamedNode(predicate)
            return (q for q in self.oxigraph.quads_for_pattern(None, node, object) if q.graph_name != graph)

        def add(s, p, o) -> None:
            if next(self.oxigraph.quads_for_pattern(s, p, o), None) is None:
                batch.add(ox.Quad(s, p, o, graph))
            if len(batch) >= INFERENCE_BATCH:
                flush()

        def flush() -> None:
            write(batch)
            batch.clear()

        for row in rules:
            q = ox.NamedNode(row["q"])
            for quad in asserted(row["p"]):
                if row["kind"] == "super":
                    add(quad.subject, q, quad.object)
                elif not isinstance(quad.object, ox.Literal):
                    add(quad.object, q, quad.subject)
        rdf_type = ox.NamedNode(RDF_TYPE)
        for cls, sups in supers.items():
            for quad in asserted(RDF_TYPE, ox.NamedNode(cls)):
                for sup in sups:
                    add(quad.subject, rdf_type, ox.NamedNode(sup))
        flush()

    # Queries -----------------------------------------------------------------

    def prefixes(self) -> dict[str, str]:
        """The prefixes preset for queries, rebased to this store's base."""
        return dict(self.query_prefixes)

    @functools.cached_property
    def query_prefixes(self) -> dict[str, str]:
        """The prefixes every query gets, made once (the base does not change): not to be modified."""
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
            return self.oxigraph.query(
                sparql, prefixes=self.query_prefixes if use_prefixes else None, **kwargs
            )
        except SyntaxError as err:
            raise QuerySyntaxError(f"SPARQL syntax error: {err.msg}") from None

    def select(self, sparql: str, **kwargs) -> list[dict]:
        """Run a SELECT and return rows as dicts of plain Python values (IRIs as str, literals by value)."""
        result = self.query(sparql, **kwargs)
        names = [v.value for v in result.variables]
        return [{n: to_python(row[n]) for n in names if row[n] is not None} for row in result]

    def prefetch(self, iris) -> None:
        """Nothing here: a remote store fetches what is known of these IRIs in one round trip (RemoteStore)."""

    def labels(self, iris) -> dict[str, list[ox.Literal]]:
        """The rdfs:label literals of many IRIs (those that have any), kept for the next pages."""
        return self.label_cache.labels(iris, self.fetch_labels)

    def fetch_labels(self, iris: list[str]) -> dict[str, list[ox.Literal]]:
        """The rdfs:label literals of IRIs, one index lookup each (quicker than a query joining VALUES)."""
        found: dict[str, list[ox.Literal]] = {}
        for iri in iris:
            for quad in self.oxigraph.quads_for_pattern(ox.NamedNode(iri), RDFS_LABEL, None, None):
                if isinstance(quad.object, ox.Literal) and quad.object not in found.setdefault(iri, []):
                    found[iri].append(quad.object)
        return found

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
        return self.triples if self.triples is not None else len(self.oxigraph)

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


def replace_folder(new: Path, target: Path) -> None:
    """Move a freshly built folder to target, replacing what was there only once the new one is complete."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


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
