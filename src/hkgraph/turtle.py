"""Canonical Turtle: sorted prefixes, one block per subject, sorted subjects, type and labels first."""

from __future__ import annotations

import re
from pathlib import Path

import pyoxigraph as ox

from hkgraph.errors import HkgraphError
from hkgraph.store import DEFAULT_BASE, PREFIXES, parse_file

# Prefixes for the kinds of thing under id/, so data files read as hkorg:itc rather than full IRIs.
ID_PREFIXES = {
    "hkcon": DEFAULT_BASE + "id/concept/",
    "hkdoc": DEFAULT_BASE + "id/document/",
    "hkfac": DEFAULT_BASE + "id/facility/",
    "hkgrp": DEFAULT_BASE + "id/group/",
    "hkobs": DEFAULT_BASE + "id/obs/",
    "hkorg": DEFAULT_BASE + "id/org/",
    "hkper": DEFAULT_BASE + "id/period/",
    "hkplace": DEFAULT_BASE + "id/place/",
    "hkprog": DEFAULT_BASE + "id/programme/",
    "hksvc": DEFAULT_BASE + "id/service/",
    "src": DEFAULT_BASE + "id/source/hkyb2024/ch16/p/",
}
ALL_PREFIXES = {**PREFIXES, **ID_PREFIXES}

RDF_TYPE = PREFIXES["rdf"] + "type"
# Predicates written first, in this order; the rest follow sorted by their prefixed name.
LEADING = [
    RDF_TYPE,
    PREFIXES["rdfs"] + "label",
    PREFIXES["skos"] + "prefLabel",
    PREFIXES["hkg"] + "abbreviation",
    PREFIXES["skos"] + "altLabel",
    PREFIXES["skos"] + "hiddenLabel",
]
LOCAL_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.\-]*[A-Za-z0-9_\-])?$")


def curie(iri: str, prefixes: dict[str, str]) -> str | None:
    """The prefixed name of an IRI, using the longest matching namespace, or None."""
    best = None
    for prefix, ns in prefixes.items():
        if iri.startswith(ns) and (best is None or len(ns) > len(prefixes[best])):
            local = iri[len(ns) :]
            if local == "" or LOCAL_NAME.match(local):
                best = prefix
    if best is None:
        return None
    return f"{best}:{iri[len(prefixes[best]) :]}"


def term_text(term, prefixes: dict[str, str], used: set[str]) -> str:
    """One RDF term in Turtle, with prefixed names where possible."""
    if isinstance(term, ox.NamedNode):
        name = curie(term.value, prefixes)
        if name:
            used.add(name.split(":", 1)[0])
            return name
        return f"<{term.value}>"
    if isinstance(term, ox.BlankNode):
        raise HkgraphError("blank nodes are not allowed in data files: give the resource an IRI")
    text = str(ox.Literal(term.value))  # N-Triples escaping of the lexical form
    if term.language:
        return f"{text}@{language_tag(term.language)}"
    dt = term.datatype.value
    if dt == PREFIXES["xsd"] + "string":
        return text
    if dt == PREFIXES["xsd"] + "integer" and re.fullmatch(r"-?\d+", term.value):
        return term.value
    if dt == PREFIXES["xsd"] + "decimal" and re.fullmatch(r"-?\d+\.\d+", term.value):
        return term.value
    return f"{text}^^{term_text(term.datatype, prefixes, used)}"


def language_tag(tag: str) -> str:
    """BCP 47 case (zh-Hans, en-GB); pyoxigraph lowercases tags when it parses."""
    parts = tag.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif len(part) == 2 and part.isalpha():
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)


def subject_key(iri: str, prefixes: dict[str, str]) -> tuple:
    """Sort subjects by how they are written, so a prefix's resources stay together."""
    name = curie(iri, prefixes) or iri
    natural = [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name)]
    return (0 if name != iri else 1, natural)


def predicate_key(iri: str, prefixes: dict[str, str]) -> tuple:
    if iri in LEADING:
        return (0, LEADING.index(iri), "")
    return (1, 0, curie(iri, prefixes) or iri)


def object_key(term) -> tuple:
    if isinstance(term, ox.Literal):
        return (1, term.language or "", term.datatype.value, term.value)
    return (0, "", "", term.value)


def format_triples(triples: list[ox.Triple], prefixes: dict[str, str] | None = None, header: str = "") -> str:
    """Write triples as canonical Turtle (the form `hkgraph fmt` enforces on data files)."""
    prefixes = prefixes or ALL_PREFIXES
    by_subject: dict[str, dict[str, list]] = {}
    for t in triples:
        if isinstance(t.subject, ox.BlankNode):
            raise HkgraphError("blank nodes are not allowed in data files: give the resource an IRI")
        by_subject.setdefault(t.subject.value, {}).setdefault(t.predicate.value, []).append(t.object)
    used: set[str] = set()
    blocks = []
    for subject in sorted(by_subject, key=lambda s: subject_key(s, prefixes)):
        lines = [term_text(ox.NamedNode(subject), prefixes, used)]
        preds = sorted(by_subject[subject], key=lambda p: predicate_key(p, prefixes))
        for i, pred in enumerate(preds):
            p = "a" if pred == RDF_TYPE else term_text(ox.NamedNode(pred), prefixes, used)
            objects = sorted(set(by_subject[subject][pred]), key=object_key)
            objs = ", ".join(term_text(o, prefixes, used) for o in objects)
            end = " ." if i == len(preds) - 1 else " ;"
            lines.append(f"    {p} {objs}{end}")
        blocks.append("\n".join(lines))
    head = [f"@prefix {p}: <{prefixes[p]}> ." for p in sorted(used)]
    parts = ([header.rstrip("\n")] if header else []) + ["\n".join(head)] + blocks
    return "\n\n".join(parts) + "\n"


def leading_comment(path: Path) -> str:
    """The comment lines at the very top of a file, kept by the formatter."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def format_file(path: Path) -> str:
    """The canonical text of one Turtle file."""
    quads = parse_file(path)
    triples = [ox.Triple(q.subject, q.predicate, q.object) for q in quads]
    return format_triples(triples, header=leading_comment(path))


def fmt(paths: list[Path], check: bool = False) -> list[Path]:
    """Rewrite files in canonical form (or, with check, only list those that are not)."""
    changed = []
    for path in paths:
        text = format_file(path)
        if text != path.read_text(encoding="utf-8"):
            changed.append(path)
            if not check:
                path.write_text(text, encoding="utf-8")
    return changed
