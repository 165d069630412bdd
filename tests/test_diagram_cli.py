"""`hkgraph diagram`: every format, ENTITY by IRI, slug, abbreviation or Chinese name, the format from
-o's suffix, and user errors (ambiguous or unknown names, bad choices) as one line with exit code 2."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest

from hkgraph.cli import main

ID = "https://w3id.org/hkgraph/id/"


def diagram_json(runner, *args: str) -> dict:
    result = runner.invoke(main, ["diagram", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("entity", ["ITC", "itc", "org/itc", ID + "org/itc", "创新科技署", "創新科技署"])
def test_entity_by_abbreviation_slug_path_iri_or_chinese_name(runner, entity):
    doc = diagram_json(runner, entity)
    assert doc["root"] == ID + "org/itc" and not doc["landscape"]
    assert doc["direction"] == "both"


def test_without_entity_the_landscape_from_the_government_down(runner):
    doc = diagram_json(runner)
    assert doc["landscape"] and doc["root"] == ID + "org/hksar-government" and doc["direction"] == "down"
    assert {"org/itib", "org/itc"} <= {n["id"] for n in doc["nodes"]}


def test_options_shape_the_diagram(runner):
    doc = diagram_json(
        runner, "ITIB", "--relations", "hierarchy", "--direction", "up", "--depth", "1", "--lang", "zh-Hant"
    )
    assert {n["id"] for n in doc["nodes"]} == {"org/itib", "org/hksar-government"}
    assert {e["relation"] for e in doc["edges"]} == {"hierarchy"}
    assert doc["lang"] == "zh-Hant" and doc["depth"] == 1
    assert doc["nodes"][0]["label"] == "創新科技及工業局"


@pytest.mark.parametrize(
    "fmt, check",
    [
        ("svg", lambda b: ET.fromstring(b).tag == "{http://www.w3.org/2000/svg}svg"),
        ("png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
        ("pdf", lambda b: b.startswith(b"%PDF-")),
        ("dot", lambda b: b.startswith(b'digraph "hkgraph" {')),
        ("mermaid", lambda b: b"\nflowchart TD\n" in b),
        ("mmd", lambda b: b"\nflowchart TD\n" in b),
        ("graphml", lambda b: ET.fromstring(b).tag == "{http://graphml.graphdrawing.org/xmlns}graphml"),
        ("json", lambda b: json.loads(b)["root"] == ID + "org/hkstp"),
    ],
)
def test_every_format_to_stdout(runner, fmt, check):
    result = runner.invoke(main, ["diagram", "HKSTP", "--format", fmt])
    assert result.exit_code == 0, result.output
    assert check(result.stdout_bytes)


@pytest.mark.parametrize(
    "name, start",
    [
        ("itc.png", b"\x89PNG"),
        ("itc.pdf", b"%PDF"),
        ("itc.mmd", b"---"),
        ("itc.dot", b"digraph"),
        ("itc.txt", b"<?xml"),
    ],
)
def test_the_format_follows_the_output_files_suffix(runner, tmp_path, name, start):
    out = tmp_path / name
    result = runner.invoke(main, ["diagram", "ITC", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert out.read_bytes().startswith(start)


@pytest.fixture()
def twins(tmp_path):
    data = tmp_path / "twins.ttl"
    data.write_text(
        "@prefix hkg: <https://w3id.org/hkgraph/def/> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        f'<{ID}org/harbour> a hkg:Company ; rdfs:label "Harbour Company"@en ; hkg:managedBy <{ID}org/port> .\n'
        f'<{ID}facility/harbour> a hkg:Facility ; rdfs:label "Harbour"@en ; hkg:managedBy <{ID}org/port> .\n'
        f'<{ID}org/port> a hkg:StatutoryBody ; rdfs:label "Port Authority"@en .\n',
        encoding="utf-8",
    )
    return str(data)


def test_an_ambiguous_name_exits_2_listing_the_matches(runner, twins):
    result = runner.invoke(main, ["diagram", "harbour", "--data", twins])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hkgraph: ")
    assert "org/harbour" in lines[0] and "facility/harbour" in lines[0]
    chosen = runner.invoke(main, ["diagram", "facility/harbour", "--data", twins, "--format", "json"])
    assert chosen.exit_code == 0 and json.loads(chosen.stdout)["root"] == ID + "facility/harbour"


@pytest.mark.parametrize(
    "args, message",
    [
        (["ITX"], "close matches: "),
        (["ITC", "--relations", "hierarchy,gossip"], "unknown relation gossip"),
        (["ITC", "--lang", "fr"], "unknown language 'fr'"),
    ],
)
def test_user_errors_exit_2_in_one_line(runner, args, message):
    result = runner.invoke(main, ["diagram", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_an_unknown_name_suggests_the_likely_one(runner):
    result = runner.invoke(main, ["diagram", "ITX"])
    assert "org/itc (Innovation and Technology Commission)" in result.stderr


def test_bad_option_values_are_usage_errors(runner):
    for args in (["--depth", "0"], ["--direction", "sideways"], ["--format", "gif"]):
        result = runner.invoke(main, ["diagram", "ITC", *args])
        assert result.exit_code == 2, args
