"""SHACL validation of the graph with pyshacl: the shapes in shapes/ over data plus ontology."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pyshacl
from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import RDF
from rdflib.plugins.sparql import prepareQuery

SH = Namespace("http://www.w3.org/ns/shacl#")


@lru_cache(maxsize=64)
def prepared(text: str, namespaces: tuple):
    return prepareQuery(text, initNs=dict(namespaces))


class PreparedQueryGraph(Graph):
    """An rdflib Graph that parses each SPARQL text once: pyshacl re-sends it for every focus node."""

    def query(self, query_object, processor="sparql", result="sparql", initNs=None, *args, **kwargs):  # noqa: N803
        if isinstance(query_object, str):
            query_object = prepared(query_object, tuple(sorted((initNs or {}).items())))
        return super().query(query_object, processor, result, initNs, *args, **kwargs)


@dataclass(frozen=True)
class Violation:
    """One SHACL result, reduced to what a person needs to fix it."""

    shape: str
    focus: str
    path: str
    message: str
    severity: str


@dataclass
class Report:
    conforms: bool
    violations: list[Violation]

    def text(self) -> str:
        """Violations grouped by shape, one focus node a line."""
        if self.conforms:
            return "conforms"
        lines = []
        by_shape: dict[str, list[Violation]] = {}
        for v in self.violations:
            by_shape.setdefault(v.shape, []).append(v)
        for shape in sorted(by_shape):
            lines.append(f"{shape}: {len(by_shape[shape])} violation(s)")
            for v in sorted(by_shape[shape], key=lambda v: (v.focus, v.path)):
                path = f" [{v.path}]" if v.path else ""
                lines.append(f"  {v.focus}{path}: {v.message}")
        return "\n".join(lines)


def validate_graphs(data: Graph, shapes: Graph) -> Report:
    """Validate a data graph (which should include the ontology, for class hierarchy) against shapes."""
    if not isinstance(data, PreparedQueryGraph):
        copy = PreparedQueryGraph()
        for triple in data:
            copy.add(triple)
        data = copy
    conforms, results, _ = pyshacl.validate(
        data, shacl_graph=shapes, inference="none", advanced=True, allow_warnings=True, inplace=True
    )
    violations = []
    for result in results.subjects(RDF.type, SH.ValidationResult):
        shape = results.value(result, SH.sourceShape)
        # Property shapes are blank nodes: name the node shape that holds them.
        if shape is not None and not isinstance(shape, URIRef):
            parent = shapes.value(None, SH.property, shape)
            shape = parent if parent is not None else shape
        violations.append(
            Violation(
                shape=str(shape),
                focus=str(results.value(result, SH.focusNode)),
                path=str(results.value(result, SH.resultPath) or ""),
                message=str(results.value(result, SH.resultMessage) or ""),
                severity=str(results.value(result, SH.resultSeverity)).rsplit("#", 1)[-1],
            )
        )
    violations = [v for v in violations if v.severity == "Violation"] + [
        v for v in violations if v.severity != "Violation"
    ]
    return Report(conforms=bool(conforms), violations=violations)


def validate_store(store) -> Report:
    """Validate the store's data against the project's shapes, with the project's ontology as background."""
    from hkgraph.store import PROJECT_ROOT

    skip = {store.iri("graph/shapes"), store.iri("graph/inferred")}
    data = store.rdflib_graph(graphs=[g for g in store.graphs() if g not in skip])
    if not store.ask(f"ASK {{ GRAPH <{store.iri('graph/ontology')}> {{ ?s ?p ?o }} }}"):
        for path in sorted((PROJECT_ROOT / "ontology").glob("*.ttl")):
            data.parse(path)
    shapes = store.rdflib_graph(graphs=[store.iri("graph/shapes")])
    if len(shapes) == 0:  # serving other files: guard them with the project's shapes
        for path in sorted((PROJECT_ROOT / "shapes").glob("*.ttl")):
            shapes.parse(path)
    return validate_graphs(data, shapes)


SHOWN_VIOLATIONS = 5  # how many a start-up refusal lists


def require_valid(store) -> None:
    """Refuse data that does not conform to the shapes (InvalidData), so `hkgraph serve` and `hkgraph build`
    stop before serving or storing it; the message names each violation's file, focus node, shape and message."""
    from hkgraph.errors import InvalidData, printable

    report = validate_store(store)
    violations = [v for v in report.violations if v.severity == "Violation"]
    if report.conforms or not violations:
        return
    located = sorted((files_about(store, v.focus), v.focus, v.shape, v.path, v.message) for v in violations)
    lines = [
        f"the data does not conform to the SHACL shapes: {len(violations)} violation(s) "
        f"(--no-validate skips this check); the first:"
    ]
    for files, focus, shape, path, message in located[:SHOWN_VIOLATIONS]:
        where = ", ".join(files) or "?"
        on = f" [{path}]" if path else ""
        lines.append(f"  {where}: {focus}{on} violates {shape.rpartition('/')[2]}: {message}")
    raise InvalidData(printable("\n".join(lines)))


def files_about(store, iri: str) -> tuple[str, ...]:
    """The files (of the store's sources) that state something about an IRI."""
    try:
        graphs = {q.graph_name.value for q in store.match(iri)}
    except ValueError:  # a blank node or literal focus
        return ()
    return tuple(str(s.path) for s in store.sources if store.iri(s.graph) in graphs)
