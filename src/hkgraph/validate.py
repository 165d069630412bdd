"""SHACL validation of the graph with pyshacl: the shapes in shapes/ over data plus ontology."""

from __future__ import annotations

from dataclasses import dataclass

import pyshacl
from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import RDF

SH = Namespace("http://www.w3.org/ns/shacl#")


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
    conforms, results, _ = pyshacl.validate(
        data, shacl_graph=shapes, inference="none", advanced=True, allow_warnings=True
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
    """Validate the store's data and ontology graphs against its shapes graph."""
    shapes_iri = store.iri("graph/shapes")
    data_graphs = [g for g in store.graphs() if g not in (shapes_iri, store.iri("graph/inferred"))]
    data = store.rdflib_graph(graphs=data_graphs)
    shapes = store.rdflib_graph(graphs=[shapes_iri])
    return validate_graphs(data, shapes)
