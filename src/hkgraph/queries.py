"""Named example queries in queries/ and plain-text renderings of SELECT results for the CLI."""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from hkgraph.errors import BadRequest, NotFound
from hkgraph.store import PROJECT_ROOT

QUERIES_DIR = PROJECT_ROOT / "queries"


@dataclass(frozen=True)
class NamedQuery:
    """A query file from queries/: its name, question in English and Chinese, and text."""

    name: str
    question_en: str
    question_zh: str
    text: str
    path: Path


def read_named(path: Path) -> NamedQuery:
    text = path.read_text(encoding="utf-8")
    en = zh = ""
    for line in text.splitlines():
        if line.startswith("# Q:"):
            en = line[4:].strip()
        elif line.startswith("# 问:"):
            zh = line[4:].strip()
    return NamedQuery(path.stem, en, zh, text, path)


def named_queries(directory: Path = QUERIES_DIR) -> list[NamedQuery]:
    """Every queries/*.rq, sorted by name."""
    return [read_named(p) for p in sorted(directory.glob("*.rq"))]


def load_query_text(spec: str) -> str:
    """A query from '-' (stdin), a file path, or a name from queries/."""
    if spec == "-":
        return sys.stdin.read()
    path = Path(spec)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    named = QUERIES_DIR / f"{spec.removesuffix('.rq')}.rq"
    if named.is_file():
        return named.read_text(encoding="utf-8")
    names = ", ".join(q.name for q in named_queries()) or "none"
    raise NotFound(f"no query file or named query {spec!r} (named queries: {names})")


def cell(term) -> str:
    """A result value as plain text: IRIs in full, literals by their lexical form."""
    if term is None:
        return ""
    return term.value


def render_select(result, fmt: str) -> str:
    """Render SELECT/ASK results as table, csv, tsv or json; CONSTRUCT results as Turtle."""
    if isinstance(result, bool):
        return json.dumps({"head": {}, "boolean": result}) if fmt == "json" else str(result).lower()
    if isinstance(result, ox.QueryTriples):
        return ox.serialize(result, format=ox.RdfFormat.TURTLE).decode()
    if fmt == "json":
        return result.serialize(format=ox.QueryResultsFormat.JSON).decode()
    if fmt == "tsv":
        return result.serialize(format=ox.QueryResultsFormat.TSV).decode()
    names = [v.value for v in result.variables]
    rows = [[cell(row[n]) for n in names] for row in result]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
        return out.getvalue()
    if fmt == "table":
        return text_table(names, rows)
    raise BadRequest(f"unknown format {fmt!r} (use table, csv, tsv or json)")


def text_table(names: list[str], rows: list[list[str]]) -> str:
    """A plain aligned table for the terminal (CJK characters count double width)."""

    def width(s: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)

    widths = [max([width(n)] + [width(r[i]) for r in rows]) for i, n in enumerate(names)]

    def line(cells):
        return "  ".join(c + " " * (w - width(c)) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(names), line(["-" * w for w in widths])] + [line(r) for r in rows]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"
