"""Synthetic graphs shaped like ours, at any size: the growth benchmarks' data.

Next to the real chapter (ontology, shapes and data/, so the benchmark queries of issue 4 still find
创新科技署 and id/org/itc), each synthetic body is an organisation with labels in three languages, an
abbreviation, a description, a place in a hierarchy (eight units under each, the top under the HKSAR
Government), a bureau that oversees it, a homepage and its source; each has three observations (a number
with a unit and a measure, as of a date or over a period, three labels, a source and a quote). Sources are
synthetic paragraphs. One file (one named graph) per half million triples, like one chapter of a year.

    python bench/scale/generate.py 1000000 build/bench-scale/data-1e6
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BASE = "https://w3id.org/hkgraph/"
ROOT = Path(__file__).resolve().parents[2]
TRIPLES_PER_FILE = 500_000
FANOUT = 8  # units under each body
CLASSES = [
    "Department",
    "Office",
    "Division",
    "StatutoryBody",
    "Company",
    "RDCentre",
    "University",
    "Committee",
]
MEASURES = [  # (measure, unit, value scale)
    ("allocation", "CCY_HKD", 1_000_000),
    ("project-count", "NUM", 1),
    ("company-count", "NUM", 1),
    ("annual-funding-cap", "CCY_HKD", 10_000),
    ("beneficiary-count", "NUM", 1),
]
PERIODS = ["2023", "2024", "fy2024-25", "ay2023-24"]
DIGITS_ZH = "零一二三四五六七八九"

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
P = {
    "type": f"<{RDF}type>",
    "label": f"<{RDFS}label>",
    "alt": "<http://www.w3.org/2004/02/skos/core#altLabel>",
    "abbr": f"<{BASE}def/abbreviation>",
    "desc": "<https://schema.org/description>",
    "sub": "<http://www.w3.org/ns/org#subOrganizationOf>",
    "overseen": f"<{BASE}def/overseenBy>",
    "home": "<http://xmlns.com/foaf/0.1/homepage>",
    "derived": "<http://www.w3.org/ns/prov#wasDerivedFrom>",
    "quote": f"<{BASE}def/quote>",
    "about": "<https://schema.org/observationAbout>",
    "measure": f"<{BASE}def/measure>",
    "value": "<http://qudt.org/schema/qudt/numericValue>",
    "unit": "<http://qudt.org/schema/qudt/hasUnit>",
    "asof": f"<{BASE}def/asOf>",
    "period": f"<{BASE}def/refPeriod>",
    "text": f"<{BASE}def/text>",
    "part": "<http://purl.org/dc/terms/isPartOf>",
}
ORG_TRIPLES = 12
OBS_TRIPLES = 11 * 3


def zh_number(n: int) -> str:
    return "".join(DIGITS_ZH[int(d)] for d in str(n))


def org_iri(k: int) -> str:
    return f"<{BASE}id/org/syn-{k}>"


def org_lines(k: int, paragraphs: int) -> list[str]:
    s = org_iri(k)
    parent = org_iri((k - 1) // FANOUT) if k else f"<{BASE}id/org/hksar-government>"
    bureau = org_iri(((k - 1) // FANOUT) // FANOUT) if k > FANOUT else f"<{BASE}id/org/itib>"
    para = f"<{BASE}id/source/hkyb2024/ch16/syn/p/{k % paragraphs}>"
    zh = zh_number(k)
    return [
        f"{s} {P['type']} <{BASE}def/{CLASSES[k % len(CLASSES)]}> .",
        f'{s} {P["label"]} "合成机构{zh}号"@zh-hans .',
        f'{s} {P["label"]} "合成機構{zh}號"@zh-hant .',
        f'{s} {P["label"]} "Synthetic Body {k}"@en .',
        f'{s} {P["alt"]} "机构{zh}"@zh-hans .',
        f'{s} {P["abbr"]} "SB{k}" .',
        f'{s} {P["desc"]} "Synthetic organisation number {k}, shaped like a real one, for the growth benchmarks."@en .',
        f"{s} {P['sub']} {parent} .",
        f"{s} {P['overseen']} {bureau} .",
        f"{s} {P['home']} <http://syn{k}.example.gov.hk> .",
        f"{s} {P['derived']} {para} .",
        f'{s} {P["quote"]} "合成机构{zh}号负责推动创新科技"@zh-hans .',
    ] + (
        [
            f"{para} {P['type']} <{BASE}def/Paragraph> .",
            f'{para} {P["text"]} "合成段落：合成机构{zh}号负责推动创新科技。"@zh-hans .',
        ]
        if k < paragraphs
        else []
    )


def observation_lines(k: int, paragraphs: int) -> list[str]:
    lines = []
    for i in range(3):
        measure, unit, scale = MEASURES[(k + i) % len(MEASURES)]
        year = 2018 + (k + i) % 7
        o = f"<{BASE}id/obs/syn-{k}-{measure}-{year}>"
        value = ((k * 7919 + i * 104729) % 100_000 + 1) * scale
        when = (
            f'{o} {P["asof"]} "{year}-12-31"^^<{XSD}date> .'
            if i % 2 == 0
            else f"{o} {P['period']} <{BASE}id/period/{PERIODS[(k + i) % len(PERIODS)]}> ."
        )
        lines += [
            f"{o} {P['type']} <{BASE}def/Observation> .",
            f'{o} {P["label"]} "合成机构{zh_number(k)}号{measure}"@zh-hans .',
            f'{o} {P["label"]} "合成機構{zh_number(k)}號{measure}"@zh-hant .',
            f'{o} {P["label"]} "Synthetic Body {k} {measure} {year}"@en .',
            f"{o} {P['about']} {org_iri(k)} .",
            f"{o} {P['measure']} <{BASE}def/measure/{measure}> .",
            f'{o} {P["value"]} "{value}"^^<{XSD}decimal> .',
            f"{o} {P['unit']} <http://qudt.org/vocab/unit/{unit}> .",
            when,
            f"{o} {P['derived']} <{BASE}id/source/hkyb2024/ch16/syn/p/{k % paragraphs}> .",
            f'{o} {P["quote"]} "合成机构{zh_number(k)}号数字为{value}"@zh-hans .',
        ]
    return lines


def real_sources() -> list[Path]:
    """The real chapter: ontology, shapes and data files."""
    return [p for folder in ("ontology", "shapes", "data") for p in sorted((ROOT / folder).glob("*.ttl"))]


def count_real_triples() -> int:
    import pyoxigraph as ox

    return sum(sum(1 for _ in ox.parse(path=str(p))) for p in real_sources())


def bodies_for(triples: int, real: int) -> int:
    """How many synthetic bodies make about this many asserted triples with the real chapter."""
    return max(0, (triples - real) // (ORG_TRIPLES + OBS_TRIPLES))


def generate(triples: int, folder: Path) -> list[Path]:
    """Write the synthetic files into folder; returns every file to load (the real chapter's first)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("syn-*.nt"):
        old.unlink()
    bodies = bodies_for(triples, count_real_triples())
    paragraphs = max(1, bodies // 50)
    per_file = TRIPLES_PER_FILE // (ORG_TRIPLES + OBS_TRIPLES)
    files = []
    for first in range(0, bodies, per_file):
        path = folder / f"syn-{len(files):03d}.nt"
        with open(path, "w", encoding="utf-8") as out:
            for k in range(first, min(first + per_file, bodies)):
                out.write("\n".join(org_lines(k, paragraphs) + observation_lines(k, paragraphs)) + "\n")
        files.append(path)
    return real_sources() + files


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "triples", type=int, help="about how many asserted triples, the real chapter included"
    )
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    for path in generate(args.triples, args.folder):
        print(path)


if __name__ == "__main__":
    sys.exit(main())
