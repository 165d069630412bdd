"""Org-structure diagrams computed by SPARQL over the store, rendered as DOT, SVG, PNG, PDF, Mermaid, GraphML, JSON.

A diagram is a set of nodes (organisations, facilities, programmes) and edges, each edge drawn from the
upper node (parent, overseer, manager, administrator, funder) to the lower one, whatever the direction of
the triple it comes from. Graphviz `dot` lays it out in layers; where one node has many leaves by one
relation, the picture folds them into one list box (each line still a link) so that the whole landscape
stays readable on A4. DOT, SVG, PNG and PDF fold; Mermaid, GraphML and JSON keep every node.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree as ET

import pyoxigraph as ox

from hkgraph.errors import BadRequest, NotFound, RendererUnavailable, RenderTimeout
from hkgraph.i18n import LANGUAGES, language_of_tag, pick
from hkgraph.resolve import Resolver
from hkgraph.store import Store

FORMATS = ("svg", "png", "pdf", "dot", "mermaid", "graphml", "json")
# What each format is served as; "mmd" is the file suffix of Mermaid.
MEDIA_TYPES = {
    "svg": "image/svg+xml",
    "png": "image/png",
    "pdf": "application/pdf",
    "dot": "text/vnd.graphviz",
    "mermaid": "text/vnd.mermaid",
    "graphml": "application/graphml+xml",
    "json": "application/json",
}
SUFFIXES = {
    "svg": "svg",
    "png": "png",
    "pdf": "pdf",
    "dot": "dot",
    "mermaid": "mmd",
    "graphml": "graphml",
    "json": "json",
}
DIRECTIONS = ("down", "up", "both")
GOVERNMENT = "id/org/hksar-government"  # the landscape's root, relative to the store's base
FOLD_AT = 3  # this many leaves or more under one node by one relation are drawn as one list box
LIST_WRAP = 34  # columns per line in a list box
WRAP = 24  # columns per label line (a CJK character takes two)
FONTS = {"en": "Noto Sans CJK SC", "zh-Hans": "Noto Sans CJK SC", "zh-Hant": "Noto Sans CJK TC"}
# How each relation's line looks in the legend (box-drawing characters in the relation's colour).
LINE_SAMPLES = {
    "hierarchy": "──────▶",
    "oversight": "╌╌╌╌╌╌▶",
    "support": "◀┈┈┈┈┈┈",
    "manages": "──────◇",
    "administers": "──────&gt;",
    "funding": "━━━━━━▶",
}
RENDER_TIMEOUT = 60  # seconds for one `dot` run
MAX_NODES = 2000  # entities in one diagram; more is refused with advice (a picture of more helps nobody)
NODES_PER_QUERY = 200  # IRIs in one VALUES block when walking the graph from a root


@dataclass(frozen=True)
class Relation:
    """A kind of edge: the properties it comes from (canonical direction) and how it is drawn."""

    name: str
    predicates: tuple[str, ...]  # prefixed names, as queried
    subject_is_upper: bool  # False: the object is the parent, overseer, manager...
    words: tuple[str, str, str]  # the arrow read as a verb, in en, zh-Hans, zh-Hant
    dot: str  # Graphviz edge attributes
    mermaid_arrow: str
    colour: str
    points_up: bool = False  # the arrow points at the upper node (a department supports its bureau)


RELATIONS = {
    r.name: r
    for r in (
        Relation(
            "hierarchy",
            ("org:subOrganizationOf", "org:unitOf", "hkg:subsidiaryOf"),
            False,
            ("has under it", "下辖", "下轄"),
            'style=solid color="#252525" penwidth=1.3',
            "-->",
            "#252525",
        ),
        Relation(
            "oversight",
            ("hkg:overseenBy",),
            False,
            ("oversees", "监督", "監督"),
            'style=dashed color="#2171b5" penwidth=1.3',
            "-.->",
            "#2171b5",
        ),
        Relation(
            "support",
            ("hkg:supportedBy",),
            True,  # a bureau is supported by its departments: the bureau is drawn above
            ("supports", "支援", "支援"),
            'style=dotted color="#6a51a3" penwidth=1.5',
            "-.->",
            "#6a51a3",
            points_up=True,
        ),
        Relation(
            "manages",
            ("hkg:managedBy",),
            False,
            ("manages", "管理", "管理"),
            'style=solid color="#8c510a" arrowhead=odiamond',
            "-->",
            "#8c510a",
        ),
        Relation(
            "administers",
            ("hkg:administeredBy",),
            False,
            ("administers", "推行", "推行"),
            'style=solid color="#238b45" arrowhead=vee',
            "-->",
            "#238b45",
        ),
        Relation(
            "funding",
            ("hkg:fundedBy",),
            False,
            ("funds", "资助", "資助"),
            'style=bold color="#e6550d" penwidth=2',
            "==>",
            "#e6550d",
        ),
    )
}


@dataclass(frozen=True)
class Kind:
    """A kind of node: the classes that make it (first match wins), its name and its look."""

    name: str
    classes: tuple[str, ...]  # local names under hkg:
    words: tuple[str, str, str]
    fill: str
    shape: str = "box"
    style: str = "filled"
    mermaid: str = '["{}"]'  # the node shape as Mermaid brackets around the text


KINDS = (
    Kind("government", ("Government",), ("government", "政府", "政府"), "#bdbdbd", style="filled,bold"),
    Kind("bureau", ("Bureau",), ("policy bureau", "决策局", "決策局"), "#6baed6"),
    Kind("department", ("Department",), ("department", "政府部门", "政府部門"), "#9ecae1"),
    Kind("office", ("Office",), ("office", "政府办公室", "政府辦公室"), "#c6dbef"),
    Kind(
        "division",
        ("Division",),
        ("division", "部门单位", "部門單位"),
        "#eff3ff",
        style="filled,rounded",
        mermaid='("{}")',
    ),
    Kind("mainland", ("MainlandAuthority",), ("Mainland authority", "内地机关", "內地機關"), "#fcbba1"),
    Kind(
        "statutory",
        ("StatutoryBody",),
        ("statutory body", "法定机构", "法定機構"),
        "#fdae6b",
        "box3d",
        mermaid='{{{{"{}"}}}}',
    ),
    Kind("company", ("Company",), ("company", "公司", "公司"), "#fdd0a2", "box3d", mermaid='{{{{"{}"}}}}'),
    Kind(
        "rdcentre",
        ("RDCentre",),
        ("R&D centre", "研发中心", "研發中心"),
        "#74c476",
        "component",
        mermaid='[["{}"]]',
    ),
    Kind(
        "lab",
        ("ResearchLab", "ResearchPlatform"),
        ("laboratory or platform", "实验室或平台", "實驗室或平台"),
        "#c7e9c0",
        "component",
        mermaid='[["{}"]]',
    ),
    Kind("university", ("University",), ("university", "大学", "大學"), "#bcbddc", "tab"),
    Kind("committee", ("Committee",), ("committee", "委员会", "委員會"), "#dadaeb", "note"),
    Kind("organisation", ("Organization",), ("organisation", "机构", "機構"), "#f0f0f0"),
    Kind("park", ("Park",), ("park", "园区", "園區"), "#d8b365", "house", mermaid='>"{}"]'),
    Kind(
        "facility", ("Facility", "Place"), ("facility", "设施", "設施"), "#f6e8c3", "house", mermaid='>"{}"]'
    ),
    Kind("fund", ("Fund",), ("fund", "基金", "基金"), "#fec44f", "cylinder", mermaid='[("{}")]'),
    Kind(
        "scheme",
        ("FundingScheme", "TalentScheme", "TaxIncentive"),
        ("scheme", "计划", "計劃"),
        "#fee391",
        style="filled,rounded",
        mermaid='(["{}"])',
    ),
    Kind(
        "programme",
        ("Programme",),
        ("initiative", "倡议", "倡議"),
        "#fff7bc",
        style="filled,rounded,dashed",
        mermaid='(["{}"])',
    ),
    Kind(
        "service",
        ("DigitalService",),
        ("digital service", "数码服务", "數碼服務"),
        "#c7eae5",
        style="filled,diagonals",
        mermaid='[/"{}"/]',
    ),
    Kind("group", ("Group",), ("group", "群组", "群組"), "#e0e0e0", "folder", mermaid='[["{}"]]'),
    Kind("other", (), ("other", "其他", "其他"), "#ffffff", "ellipse", mermaid='(["{}"])'),
)
KINDS_BY_NAME = {k.name: k for k in KINDS}


@dataclass
class Node:
    """One thing in the picture: its IRI, short id (the IRI's path under id/), kind and names."""

    iri: str
    id: str
    kind: str = "other"
    labels: dict[str, str] = field(default_factory=dict)  # lower-case language tag → label
    abbreviation: str = ""
    types: list[str] = field(default_factory=list)

    def label(self, lang: str) -> str:
        return pick(self.labels, lang) or self.id


@dataclass(frozen=True, order=True)
class Edge:
    """One drawn edge, from the upper node to the lower, and the triple's predicate it stands for."""

    upper: str  # IRI
    lower: str  # IRI
    relation: str
    predicate: str  # full IRI

    @property
    def subject(self) -> str:
        return self.upper if RELATIONS[self.relation].subject_is_upper else self.lower

    @property
    def object(self) -> str:
        return self.lower if RELATIONS[self.relation].subject_is_upper else self.upper


@dataclass
class Diagram:
    """What to draw: nodes (root first), edges, and the choices that produced them."""

    root: str  # IRI
    landscape: bool
    lang: str
    relations: tuple[str, ...]
    direction: str
    depth: int | None
    nodes: list[Node]
    edges: list[Edge]

    def node(self, iri: str) -> Node:
        return self.by_iri[iri]

    @cached_property
    def by_iri(self) -> dict[str, Node]:
        return {n.iri: n for n in self.nodes}

    def title(self) -> str:
        i = LANGUAGES.index(self.lang)
        if self.landscape:
            return ("Innovation and technology landscape", "创新科技架构图", "創新科技架構圖")[i]
        root = self.node(self.root).label(self.lang)
        return (f"{root}: organisation structure", f"{root}架构图", f"{root}架構圖")[i]


# Choices ------------------------------------------------------------------------------------------------


def parse_relations(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Relation names from 'hierarchy,oversight' or a list (None or empty: all), in the canonical order."""
    if value is None:
        return tuple(RELATIONS)
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [n.strip().lower() for n in names if n.strip()]
    unknown = [n for n in names if n not in RELATIONS]
    if unknown:
        raise BadRequest(f"unknown relation {', '.join(unknown)}: use any of {', '.join(RELATIONS)}")
    return tuple(r for r in RELATIONS if r in names) or tuple(RELATIONS)


def parse_depth(value: str | int | None) -> int | None:
    """A depth of 1 or more, or None (empty, 'all'): as far as the edges go."""
    if value is None or value in ("", "all"):
        return None
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) < 1:  # not isdigit(): int("²") fails
        raise BadRequest(f"depth must be a whole number from 1 to 999999999 (or 'all'), not {value!r}")
    return int(text)


def parse_direction(value: str | None, default: str) -> str:
    if not value:
        return default
    if value not in DIRECTIONS:
        raise BadRequest(f"unknown direction {value!r}: use {', '.join(DIRECTIONS)}")
    return value


def parse_language(value: str) -> str:
    """en, zh-Hans or zh-Hant, from any tag people use for them (zh-HK, zh-cn, EN)."""
    lang = language_of_tag(value or "")
    if lang is None:
        raise BadRequest(f"unknown language {value!r}: use one of {', '.join(LANGUAGES)}")
    return lang


def parse_format(value: str) -> str:
    """A format name or file suffix (mmd is mermaid)."""
    fmt = {"mmd": "mermaid"}.get(value.lower(), value.lower())
    if fmt not in FORMATS:
        raise BadRequest(f"unknown diagram format {value!r}: use one of {', '.join(FORMATS)} (or mmd)")
    return fmt


# The model, by SPARQL -------------------------------------------------------------------------------------


def relation_edges(
    store: Store, relations: Iterable[str], touching: Iterable[str] | None = None
) -> list[Edge]:
    """Every edge of the relations (or only those with an end in touching), from their canonical predicates
    only (an inverse would draw it twice)."""
    # an edge the store inferred from a sub-property (unitOf is a subOrganizationOf) comes again: the
    # asserted, more specific predicate is kept
    wanted = {p: RELATIONS[name] for name in relations for p in RELATIONS[name].predicates}
    # One branch per predicate, and blank nodes, literals and loops dropped here rather than by FILTER:
    # with VALUES ?p or a FILTER, pyoxigraph scans each predicate's every triple (and Virtuoso crashes on
    # UNION branches that BIND the predicate).
    pattern = " UNION ".join(f"{{ VALUES ?p {{ {p} }} GRAPH ?g {{ ?s ?p ?o }} }}" for p in wanted)
    if touching is None:
        solutions = [store.query(f"SELECT DISTINCT ?s ?p ?o ?g WHERE {{ {pattern} }}")]
    else:
        solutions, nodes = [], sorted(set(touching))
        for start in range(0, len(nodes), NODES_PER_QUERY):
            values = " ".join(f"<{n}>" for n in nodes[start : start + NODES_PER_QUERY])
            solutions += [
                store.query(f"SELECT DISTINCT ?s ?p ?o ?g WHERE {{ VALUES {end} {{ {values} }} {pattern} }}")
                for end in ("?s", "?o")
            ]
    rows = [
        {name: row[name].value for name in ("s", "p", "o", "g")}
        for solution in solutions
        for row in solution
        if isinstance(row["s"], ox.NamedNode) and isinstance(row["o"], ox.NamedNode) and row["s"] != row["o"]
    ]
    prefixes = store.prefixes()
    relation_of = {prefixes[p.split(":")[0]] + p.split(":")[1]: r for p, r in wanted.items()}
    inferred = store.inferred_graph.value
    best: dict[tuple[str, str, str], tuple[bool, str]] = {}
    for row in rows:
        relation = relation_of[row["p"]]
        upper, lower = (row["s"], row["o"]) if relation.subject_is_upper else (row["o"], row["s"])
        key = (upper, lower, relation.name)
        rank = (row["g"] == inferred, row["p"])  # asserted first, then by IRI for a stable choice
        if key not in best or rank < best[key]:
            best[key] = rank
    return sorted(Edge(u, lo, r, p) for (u, lo, r), (_, p) in best.items())


def edges_around(
    store: Store, relations: Iterable[str], root: str, direction: str, depth: int | None
) -> tuple[set[str], list[Edge]]:
    """The root and what lies below it (down), above it (up) or both within depth steps, and the edges among
    them: walked step by step from the root, so the cost grows with the diagram, not with the graph."""
    relations = tuple(relations)
    seen_edges: dict[str, set[Edge]] = {}  # node → the edges touching it

    def touching(nodes: set[str]) -> set[Edge]:
        new = nodes - seen_edges.keys()
        for node in new:
            seen_edges[node] = set()
        for edge in relation_edges(store, relations, new) if new else ():
            for end in {edge.upper, edge.lower} & new:
                seen_edges[end].add(edge)
        return {edge for node in nodes for edge in seen_edges[node]}

    found = {root}
    for step in ("down", "up"):
        if direction not in (step, "both"):
            continue
        frontier, seen, level = {root}, {root}, 0
        while frontier and (depth is None or level < depth):
            ends = {(e.upper, e.lower) if step == "down" else (e.lower, e.upper) for e in touching(frontier)}
            frontier = {far for near, far in ends if near in frontier} - seen
            seen |= frontier
            level += 1
            if len(found | seen) > MAX_NODES:
                raise BadRequest(
                    f"this diagram would have more than {MAX_NODES} entities: give a depth (depth=1 or 2), "
                    "a direction or a narrower root"
                )
        found |= seen
    return found, sorted(e for e in touching(found) if e.upper in found and e.lower in found)


def node_details(store: Store, iris: Iterable[str]) -> dict[str, Node]:
    """Each IRI's kind (from rdf:type, inferred superclasses included), labels and abbreviation."""
    iris = sorted(set(iris))
    nodes = {iri: Node(iri, short_id(store, iri)) for iri in iris}
    if not iris:
        return nodes
    rows, labels = [], []
    for start in range(0, len(iris), NODES_PER_QUERY):
        values = " ".join(f"<{i}>" for i in iris[start : start + NODES_PER_QUERY])
        rows += store.select(
            f"""SELECT ?n ?type ?abbr WHERE {{
                  VALUES ?n {{ {values} }} {{ ?n a ?type }} UNION {{ ?n hkg:abbreviation ?abbr }}
                }} ORDER BY ?n ?abbr"""
        )
        labels += store.select(
            f"""SELECT ?n ?label (LANG(?label) AS ?lang) WHERE {{ VALUES ?n {{ {values} }} ?n rdfs:label ?label }}
                ORDER BY ?n ?label"""
        )
    for row in rows:
        node = nodes[row["n"]]
        if "type" in row:
            node.types.append(row["type"])
        if "abbr" in row and not node.abbreviation:
            node.abbreviation = row["abbr"]
    for row in labels:
        nodes[row["n"]].labels.setdefault(row.get("lang", "").lower(), row["label"])
    hkg = store.iri("def/")
    for node in nodes.values():
        node.types.sort()
        local = {t[len(hkg) :] for t in node.types if t.startswith(hkg)}
        node.kind = next(k.name for k in KINDS if not k.classes or local & set(k.classes))
    return nodes


def short_id(store: Store, iri: str) -> str:
    """The IRI's path under id/ (org/itc), used as node id in every format; the IRI itself if not ours."""
    return iri[len(store.iri("id/")) :] if iri.startswith(store.iri("id/")) else iri


def build_diagram(
    store: Store,
    root: str | None = None,
    *,
    relations: Iterable[str] | None = None,
    depth: int | None = None,
    direction: str | None = None,
    lang: str = "en",
) -> Diagram:
    """The diagram around root (an IRI; None: the landscape from the government down), by SPARQL."""
    lang = parse_language(lang)
    relations = parse_relations(relations)
    landscape = root is None
    root = store.iri(GOVERNMENT) if landscape else root
    direction = parse_direction(direction, "down" if landscape else "both")
    if not store.mentions(root):
        raise NotFound(f"nothing is known about {root} in this graph")
    keep, edges = edges_around(store, relations, root, direction, depth)
    details = node_details(store, keep)
    order = [root] + sorted(keep - {root}, key=lambda i: (KINDS.index(KINDS_BY_NAME[details[i].kind]), i))
    return Diagram(root, landscape, lang, relations, direction, depth, [details[i] for i in order], edges)


def unlinked_tops(store: Store, relations: Iterable[str] | None = None) -> list[str]:
    """Tops of the trees the landscape misses: nothing above them in the data (HKSTP: no overseer stated)."""
    # a top has nothing above it, so the landscape (the government downwards) cannot reach it
    edges = relation_edges(store, parse_relations(relations))
    return sorted({e.upper for e in edges} - {e.lower for e in edges} - {store.iri(GOVERNMENT)})


# Labels ----------------------------------------------------------------------------------------------------


def wrap(text: str, width: int) -> list[str]:
    """A label in as few, about equally long lines of at most width columns as it needs (CJK counts two)."""
    lines = greedy_wrap(text, width)
    for narrower in range(math.ceil(columns(text) / len(lines)), width):
        balanced = greedy_wrap(text, narrower)
        if len(balanced) == len(lines):
            return balanced
    return lines


def greedy_wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for token in re.findall(r"[\x21-\x7e]+|\s+|.", text):
        if line.strip() and columns(line + token.rstrip()) > width:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line += token
    return [*lines, line.rstrip()] if line.strip() else lines or [text]


def columns(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def label_lines(node: Node, lang: str) -> tuple[list[str], list[str]]:
    """The label's lines: in bold (the abbreviation in English, else the name) and in small under it."""
    name = wrap(" ".join(node.label(lang).split()), WRAP)  # a picture shows no tabs or line breaks of its own
    if lang == "en" and node.abbreviation and node.abbreviation.casefold() != node.label(lang).casefold():
        return [" ".join(node.abbreviation.split())], name
    return name, []


# DOT ---------------------------------------------------------------------------------------------------------


def q(text: str) -> str:
    """A DOT quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot_url(url: str) -> str:
    """A link as Graphviz needs it: it writes URLs into SVG without escaping `&`, and cairo's PDF links
    break at `'`; so those and anything not ASCII are percent-encoded (the server decodes them again)."""
    return quote(url, safe=":/?#[]@!$()*+,;=%~")


def html_label(node: Node, lang: str, size: int = 10) -> str:
    """A Graphviz HTML-like label: bold head, smaller lines under it, all text escaped."""
    head, rest = label_lines(node, lang)
    parts = ["<B>" + "<BR/>".join(html.escape(line) for line in head) + "</B>"]
    if rest:
        small = "<BR/>".join(html.escape(line) for line in rest)
        parts.append(f'<FONT POINT-SIZE="{size - 1}">{small}</FONT>')
    return "<" + "<BR/>".join(parts) + ">"


def folds(diagram: Diagram) -> dict[tuple[str, str], list[str]]:
    """The leaves to draw as one list: FOLD_AT or more under one node by one relation, by (upper, relation)."""
    degree: dict[str, int] = {}
    has_below = set()
    for e in diagram.edges:
        degree[e.lower] = degree.get(e.lower, 0) + 1
        degree[e.upper] = degree.get(e.upper, 0) + 1
        has_below.add(e.upper)
    groups: dict[tuple[str, str], list[str]] = {}
    for e in diagram.edges:
        if e.lower != diagram.root and e.lower not in has_below and degree[e.lower] == 1:
            groups.setdefault((e.upper, e.relation), []).append(e.lower)
    return {key: sorted(leaves) for key, leaves in groups.items() if len(leaves) >= FOLD_AT}


def fold_id(upper: Node, relation: str) -> str:
    """The DOT name of the list box of an upper node's folded leaves: org/itc#administers."""
    return f"{upper.id}#{relation}"


def list_label(diagram: Diagram, relation: str, leaves: list[str], link: Callable[[str], str]) -> str:
    """A list box: the relation and a count, then one linked row per leaf, coloured by its kind."""
    lang = diagram.lang
    words = html.escape(RELATIONS[relation].words[LANGUAGES.index(lang)])
    rows = [
        f'<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT POINT-SIZE="8" COLOR="#525252">{words} ({len(leaves)})</FONT></TD></TR>'
    ]
    for iri in leaves:
        node = diagram.node(iri)
        name = node.label(lang)
        abbreviation = (
            node.abbreviation if lang == "en" and node.abbreviation.casefold() != name.casefold() else ""
        )
        lines = [html.escape(line) for line in wrap(" ".join(f"{abbreviation} {name}".split()), LIST_WRAP)]
        if abbreviation:  # bold, and a no-break space after it: SVG viewers drop a text's leading space
            rest = lines[0][len(html.escape(abbreviation)) :]
            lines[0] = f"<B>{html.escape(abbreviation)}</B>" + (
                f"&#160;{rest[1:]}" if rest.startswith(" ") else rest
            )
        rows.append(
            f'<TR><TD BGCOLOR="{KINDS_BY_NAME[node.kind].fill}" WIDTH="7"></TD>'
            f'<TD ALIGN="LEFT" BALIGN="LEFT" HREF="{html.escape(dot_url(link(iri)))}" TITLE="{html.escape(name)}" '
            f'ID="{html.escape(node.id)}" TARGET="_top">{"<BR/>".join(lines)}</TD></TR>'
        )
    table = '<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2" COLOR="#969696" BGCOLOR="white" ROWS="*">'
    return f"<{table}{''.join(rows)}</TABLE>>"


def to_dot(diagram: Diagram, link: Callable[[str], str] | None = None) -> str:
    """The diagram as Graphviz DOT: left to right, styled by kind and relation, leaves folded, a legend."""
    lang = diagram.lang
    font = FONTS[lang]
    link = link or (lambda iri: iri)
    lines = [
        f"digraph {q('hkgraph')} {{",
        f"  graph [rankdir=LR newrank=true nodesep=0.12 ranksep=0.25 fontname={q(font)} "
        f"fontsize=16 labelloc=t label={q(diagram.title())} tooltip={q(diagram.title())} outputorder=edgesfirst]",
        f'  node [fontname={q(font)} fontsize=10 style="filled" penwidth=0.8 color="#525252" margin="0.08,0.03"]',
        f"  edge [fontname={q(font)} fontsize=8 arrowsize=0.6]",
    ]
    folded = folds(diagram)
    in_fold = {leaf for leaves in folded.values() for leaf in leaves}
    for node in diagram.nodes:
        if node.iri in in_fold:
            continue
        kind = KINDS_BY_NAME[node.kind]
        extra = " peripheries=2 penwidth=1.5" if node.iri == diagram.root else ""
        lines.append(
            f"  {q(node.id)} [label={html_label(node, lang)} shape={kind.shape} style={q(kind.style)} "
            f"fillcolor={q(kind.fill)} class={q('kind-' + node.kind)} URL={q(dot_url(link(node.iri)))} "
            f'target="_top" tooltip={q(node.label(lang))}{extra}]'
        )
    for (upper, relation), leaves in sorted(folded.items()):
        label = list_label(diagram, relation, leaves, link)
        lines.append(
            f'  {q(fold_id(diagram.node(upper), relation))} [label={label} shape=plain class="fold"]'
        )
    for e in diagram.edges:
        relation = RELATIONS[e.relation]
        if e.lower in in_fold:
            continue
        attrs = f"{relation.dot} class={q('rel-' + e.relation)} tooltip={q(words_of(e, diagram))}"
        if relation.points_up:
            attrs += " dir=back"
        lines.append(f"  {q(diagram.node(e.upper).id)} -> {q(diagram.node(e.lower).id)} [{attrs}]")
    for upper, relation in sorted(folded):
        attrs = f"{RELATIONS[relation].dot} class={q('rel-' + relation + ' fold')}"
        lines.append(
            f"  {q(diagram.node(upper).id)} -> {q(fold_id(diagram.node(upper), relation))} [{attrs}]"
        )
    lines += legend_dot(diagram)
    lines.append("}")
    return "\n".join(lines) + "\n"


def words_of(edge: Edge, diagram: Diagram) -> str:
    """An edge read as a sentence: ITIB oversees ITC (support reads from the lower node)."""
    i = LANGUAGES.index(diagram.lang)
    upper, lower = diagram.node(edge.upper).label(diagram.lang), diagram.node(edge.lower).label(diagram.lang)
    verb = RELATIONS[edge.relation].words[i]
    if RELATIONS[edge.relation].points_up:
        upper, lower = lower, upper
    if edge.relation == "hierarchy":
        verb = ("has", "下辖", "下轄")[i]
    return f"{upper} {verb} {lower}" if i == 0 else f"{upper}{verb}{lower}"


def legend_dot(diagram: Diagram) -> list[str]:
    """A boxed legend of the kinds and relations that appear, drawn with the same styles, one under another."""
    i = LANGUAGES.index(diagram.lang)
    kinds = [k for k in KINDS if any(n.kind == k.name for n in diagram.nodes)]
    relations = [RELATIONS[r] for r in diagram.relations if any(e.relation == r for e in diagram.edges)]
    title = ("Legend", "图例", "圖例")[i]
    lines = [
        f"  subgraph {q('cluster_legend')} {{",
        f'    label={q(title)} fontsize=10 style="rounded" color="#bdbdbd" labeljust=l',
    ]
    for k in kinds:
        lines.append(
            f"    {q('legend_' + k.name)} [label={q(k.words[i])} shape={k.shape} style={q(k.style)} "
            f'fillcolor={q(k.fill)} fontsize=8 width=1.1 height=0.25 margin="0.05,0.02" class="legend"]'
        )
    if relations:
        rows = "".join(
            f'<TR><TD ALIGN="LEFT"><FONT COLOR="{r.colour}"><B>{LINE_SAMPLES[r.name]}</B></FONT></TD>'
            f'<TD ALIGN="LEFT">{html.escape(r.words[i])}</TD></TR>'
            for r in relations
        )
        table = f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{rows}</TABLE>>'
        lines.append(
            f'    "legend_relations" [label={table} shape=plaintext style="" fontsize=8 class="legend"]'
        )
    entries = [f"legend_{k.name}" for k in kinds] + (["legend_relations"] if relations else [])
    boxes = len(diagram.nodes) - sum(len(leaves) - 1 for leaves in folds(diagram).values())
    # two columns where the legend would stand taller than the diagram beside it
    half = math.ceil(len(entries) / 2) if boxes < 2 * len(entries) else len(entries)
    for column in (entries[:half], entries[half:]):
        if column:  # one under another: in a left-to-right layout, an edge within a rank goes upwards
            lines.append(
                "    { rank=same " + " -> ".join(q(c) for c in reversed(column)) + " [style=invis] }"
            )
    if half < len(entries):
        lines.append(
            f"    {q(entries[0])} -> {q(entries[half])} [style=invis]"
        )  # the second column to the right
    lines.append("  }")
    return lines


# Rendering with Graphviz -------------------------------------------------------------------------------------


def run_dot(dot: str, fmt: str) -> bytes:
    """Lay out and draw DOT with Graphviz `dot` as svg, png (150 dpi) or pdf."""
    exe = shutil.which("dot")
    if exe is None:
        raise RendererUnavailable(
            "Graphviz is not installed, so svg, png and pdf cannot be drawn "
            "(install the Debian package graphviz, or ask for dot, mermaid, graphml or json)"
        )
    args = [exe, f"-T{fmt}"] + (["-Gdpi=150"] if fmt == "png" else [])
    try:
        done = subprocess.run(
            args, input=dot.encode(), capture_output=True, timeout=RENDER_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise RenderTimeout(
            f"drawing this diagram as {fmt} took longer than {RENDER_TIMEOUT} s and was stopped: "
            "give a depth or a narrower root, or ask for dot, mermaid, graphml or json"
        ) from None
    if done.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {done.stderr.decode(errors='replace')[:2000]}")
    return done.stdout


# Mermaid, GraphML, JSON ----------------------------------------------------------------------------------


def mermaid_id(node_id: str) -> str:
    """A Mermaid node id: letters and digits kept, any other character as _hex_ (org/itc → n_org_2f_itc), so
    that two ids never become one (org/a-b and org/a_b)."""
    return "n_" + re.sub(r"[^A-Za-z0-9]", lambda m: f"_{ord(m[0]):x}_", node_id)


# Characters that mean something inside a Mermaid label: quotes, markup, entities, `%%` directives and
# comments, `{}` of directives, backticks of Markdown strings.
MERMAID_ENTITIES = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "#": "#35;", "&": "#amp;", "%": "#37;",
                    "{": "#123;", "}": "#125;", "`": "#96;"}  # fmt: skip


def mermaid_text(text: str) -> str:
    """Text inside a Mermaid quoted label, its special characters as Mermaid entity codes."""
    return "".join(MERMAID_ENTITIES.get(c, c) for c in text)


def to_mermaid(diagram: Diagram, link: Callable[[str], str] | None = None) -> str:
    """The diagram as a Mermaid flowchart (top-down), shapes and colours by kind, arrows by relation."""
    lang = diagram.lang
    link = link or (lambda iri: iri)
    # the title in YAML; % escaped too, as Mermaid looks for %%{...}%% directives anywhere in the text
    title = json.dumps(diagram.title(), ensure_ascii=False).replace("%", "\\u0025")
    lines = ["---", f"title: {title}", "---", "flowchart TD"]
    for node in diagram.nodes:
        text = "<br>".join(mermaid_text(t) for t in sum(label_lines(node, lang), []))
        lines.append(f"  {mermaid_id(node.id)}{KINDS_BY_NAME[node.kind].mermaid.format(text)}")
    by_relation: dict[str, list[int]] = {}
    for n, e in enumerate(diagram.edges):
        relation = RELATIONS[e.relation]
        a, b = mermaid_id(diagram.node(e.upper).id), mermaid_id(diagram.node(e.lower).id)
        if relation.points_up:
            a, b = b, a
        label = (
            "" if e.relation == "hierarchy" else f'|"{mermaid_text(relation.words[LANGUAGES.index(lang)])}"|'
        )
        lines.append(f"  {a} {relation.mermaid_arrow}{label} {b}")
        by_relation.setdefault(e.relation, []).append(n)
    for name, indices in by_relation.items():
        lines.append(f"  linkStyle {','.join(map(str, indices))} stroke:{RELATIONS[name].colour}")
    for kind in KINDS:
        members = [mermaid_id(n.id) for n in diagram.nodes if n.kind == kind.name]
        if members:
            lines.append(f"  classDef {kind.name} fill:{kind.fill},stroke:#525252,color:#000")
            lines.append(f"  class {','.join(members)} {kind.name}")
    for node in diagram.nodes:
        lines.append(f'  click {mermaid_id(node.id)} href "{link(node.iri)}" _top')
    return "\n".join(lines) + "\n"


GRAPHML = "http://graphml.graphdrawing.org/xmlns"
YFILES = "http://www.yworks.com/xml/graphml"
YED_SHAPES = {"box": "rectangle", "box3d": "rectangle3d", "component": "rectangle", "tab": "rectangle",
              "note": "rectangle", "house": "trapezoid2", "cylinder": "ellipse", "folder": "rectangle",
              "ellipse": "ellipse"}  # fmt: skip


def to_graphml(diagram: Diagram, link: Callable[[str], str] | None = None) -> str:
    """The diagram as GraphML: labels, kinds and IRIs as data (Gephi, networkx), with yEd shapes and colours."""
    link = link or (lambda iri: iri)
    ET.register_namespace("", GRAPHML)
    ET.register_namespace("y", YFILES)
    root = ET.Element(f"{{{GRAPHML}}}graphml")
    keys = [
        ("label", "node", "string"),
        ("kind", "node", "string"),
        ("iri", "node", "string"),
        ("url", "node", "string"),
        ("abbreviation", "node", "string"),
        *((f"label_{lang}", "node", "string") for lang in LANGUAGES),
        ("relation", "edge", "string"),
        ("predicate", "edge", "string"),
    ]
    for name, domain, kind in keys:
        ET.SubElement(
            root, f"{{{GRAPHML}}}key", {"id": name, "for": domain, "attr.name": name, "attr.type": kind}
        )
    ET.SubElement(root, f"{{{GRAPHML}}}key", {"id": "ynode", "for": "node", "yfiles.type": "nodegraphics"})
    ET.SubElement(root, f"{{{GRAPHML}}}key", {"id": "yedge", "for": "edge", "yfiles.type": "edgegraphics"})
    graph = ET.SubElement(root, f"{{{GRAPHML}}}graph", {"id": "hkgraph", "edgedefault": "directed"})

    def data(parent, key: str, value: str) -> None:
        if value:
            ET.SubElement(parent, f"{{{GRAPHML}}}data", {"key": key}).text = value

    for node in diagram.nodes:
        kind = KINDS_BY_NAME[node.kind]
        el = ET.SubElement(graph, f"{{{GRAPHML}}}node", {"id": node.id})
        data(el, "label", node.label(diagram.lang))
        data(el, "kind", node.kind)
        data(el, "iri", node.iri)
        data(el, "url", link(node.iri))
        data(el, "abbreviation", node.abbreviation)
        for lang in LANGUAGES:
            data(el, f"label_{lang}", node.labels.get(lang.lower(), ""))
        shape = ET.SubElement(
            ET.SubElement(el, f"{{{GRAPHML}}}data", {"key": "ynode"}), f"{{{YFILES}}}ShapeNode"
        )
        ET.SubElement(shape, f"{{{YFILES}}}Geometry", {"width": "170", "height": "50"})
        ET.SubElement(shape, f"{{{YFILES}}}Fill", {"color": kind.fill})
        ET.SubElement(shape, f"{{{YFILES}}}NodeLabel").text = "\n".join(
            sum(label_lines(node, diagram.lang), [])
        )
        ET.SubElement(shape, f"{{{YFILES}}}Shape", {"type": YED_SHAPES.get(kind.shape, "rectangle")})
    ids = {n.iri: n.id for n in diagram.nodes}
    for n, e in enumerate(diagram.edges):
        relation = RELATIONS[e.relation]
        el = ET.SubElement(
            graph, f"{{{GRAPHML}}}edge", {"id": f"e{n}", "source": ids[e.upper], "target": ids[e.lower]}
        )
        data(el, "relation", e.relation)
        data(el, "predicate", e.predicate)
        line = ET.SubElement(
            ET.SubElement(el, f"{{{GRAPHML}}}data", {"key": "yedge"}), f"{{{YFILES}}}PolyLineEdge"
        )
        style = "dashed" if "dashed" in relation.dot else "dotted" if "dotted" in relation.dot else "line"
        width = "2.0" if "bold" in relation.dot else "1.0"
        ET.SubElement(
            line, f"{{{YFILES}}}LineStyle", {"color": relation.colour, "type": style, "width": width}
        )
        ends = ("standard", "none") if relation.points_up else ("none", "standard")
        ET.SubElement(line, f"{{{YFILES}}}Arrows", {"source": ends[0], "target": ends[1]})
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode").replace("\r", "&#13;")  # else XML readers make it \n
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"


JSON_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "hkgraph diagram",
    "description": "Nodes and edges of an org-structure diagram; an edge goes from the upper node "
    "(parent, overseer, manager, administrator, funder, supported body) to the lower one.",
    "type": "object",
    "required": ["title", "root", "landscape", "lang", "relations", "direction", "depth", "nodes", "edges"],
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string"},
        "root": {"type": "string", "format": "iri"},
        "landscape": {"type": "boolean"},
        "lang": {"enum": list(LANGUAGES)},
        "relations": {"type": "array", "items": {"enum": list(RELATIONS)}, "uniqueItems": True},
        "direction": {"enum": list(DIRECTIONS)},
        "depth": {"type": ["integer", "null"], "minimum": 1},
        "nodes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "iri", "url", "kind", "label", "labels", "abbreviation", "types"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "iri": {"type": "string"},
                    "url": {"type": "string"},
                    "kind": {"enum": [k.name for k in KINDS]},
                    "label": {"type": "string", "minLength": 1},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "abbreviation": {"type": ["string", "null"]},
                    "types": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "edges": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["source", "target", "relation", "predicate", "subject", "object"],
                "additionalProperties": False,
                "properties": {
                    "source": {"type": "string", "description": "id of the upper node"},
                    "target": {"type": "string", "description": "id of the lower node"},
                    "relation": {"enum": list(RELATIONS)},
                    "predicate": {"type": "string"},
                    "subject": {"type": "string", "description": "id of the triple's subject"},
                    "object": {"type": "string", "description": "id of the triple's object"},
                },
            },
        },
    },
}


def to_json(diagram: Diagram, link: Callable[[str], str] | None = None) -> str:
    """The diagram as JSON for scripts (JSON_SCHEMA describes it)."""
    link = link or (lambda iri: iri)
    ids = {n.iri: n.id for n in diagram.nodes}
    doc = {
        "title": diagram.title(),
        "root": diagram.root,
        "landscape": diagram.landscape,
        "lang": diagram.lang,
        "relations": list(diagram.relations),
        "direction": diagram.direction,
        "depth": diagram.depth,
        "nodes": [
            {
                "id": n.id,
                "iri": n.iri,
                "url": link(n.iri),
                "kind": n.kind,
                "label": n.label(diagram.lang),
                "labels": {lang: n.labels[lang.lower()] for lang in LANGUAGES if lang.lower() in n.labels},
                "abbreviation": n.abbreviation or None,
                "types": n.types,
            }
            for n in diagram.nodes
        ],
        "edges": [
            {
                "source": ids[e.upper],
                "target": ids[e.lower],
                "relation": e.relation,
                "predicate": e.predicate,
                "subject": ids[e.subject],
                "object": ids[e.object],
            }
            for e in diagram.edges
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def render(diagram: Diagram, fmt: str, link: Callable[[str], str] | None = None) -> bytes:
    """The diagram in a format of FORMATS; link(iri) gives the address a node points to."""
    fmt = parse_format(fmt)
    if fmt in ("svg", "png", "pdf"):
        return run_dot(to_dot(diagram, link), fmt)
    writer = {"dot": to_dot, "mermaid": to_mermaid, "graphml": to_graphml, "json": to_json}[fmt]
    return writer(diagram, link).encode()


def draw(
    store: Store,
    entity: str | None = None,
    *,
    fmt: str = "svg",
    relations: Iterable[str] | str | None = None,
    depth: int | None = None,
    direction: str | None = None,
    lang: str = "en",
    link: Callable[[str], str] | None = None,
) -> bytes:
    """The diagram of an entity as people name it (IRI, slug, abbreviation, name; None: the landscape)."""
    root = None if entity is None else Resolver.build(store).resolve(entity)
    diagram = build_diagram(store, root, relations=relations, depth=depth, direction=direction, lang=lang)
    return render(diagram, fmt, link)


def format_for(fmt: str | None, output: str | None) -> str:
    """The format asked for, else the one the output file's suffix names (itc.png), else svg."""
    if fmt:
        return parse_format(fmt)
    suffix = Path(output).suffix[1:].lower() if output else ""
    return parse_format(suffix) if suffix in (*FORMATS, "mmd") else "svg"
