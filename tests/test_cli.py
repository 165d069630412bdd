"""The hkgraph command line: validate, export, query, stats, fmt, --version; errors exit 2 in one line."""

import json

import pyoxigraph as ox
import pytest

from hkgraph import __version__
from hkgraph.cli import main


def test_version(runner):
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_validate_conforms(runner):
    result = runner.invoke(main, ["validate"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "conforms"


def test_validate_lists_violations_by_shape_and_focus(runner, tmp_path):
    bad = tmp_path / "bad.ttl"
    bad.write_text(
        "@prefix hkg: <https://w3id.org/hkgraph/def/> .\n"
        "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        '<https://w3id.org/hkgraph/id/org/nobody> a hkg:Department ; rdfs:label "无名"@zh-Hans .\n',
        encoding="utf-8",
    )
    result = runner.invoke(main, ["validate", "--data", str(bad)])
    assert result.exit_code == 1
    assert "https://w3id.org/hkgraph/shapes/EntityShape" in result.output
    assert "https://w3id.org/hkgraph/id/org/nobody" in result.output


def test_validate_load_error_exits_2_naming_file_and_line(runner, tmp_path):
    bad = tmp_path / "broken.ttl"
    bad.write_text("<http://x/a> <http://x/b> .\n", encoding="utf-8")
    result = runner.invoke(main, ["validate", "--data", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:1" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "fmt, oxformat",
    [
        ("nquads", ox.RdfFormat.N_QUADS),
        ("trig", ox.RdfFormat.TRIG),
        ("turtle", ox.RdfFormat.TURTLE),
        ("ntriples", ox.RdfFormat.N_TRIPLES),
        ("jsonld", ox.RdfFormat.JSON_LD),
    ],
)
def test_export_formats_parse(runner, tmp_path, store, fmt, oxformat):
    out = tmp_path / f"dump.{fmt}"
    result = runner.invoke(main, ["export", "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    parsed = list(ox.parse(path=str(out), format=oxformat))
    expected = (
        len(store)
        if oxformat.supports_datasets
        else len({(q.subject, q.predicate, q.object) for q in store.quads()})
    )
    assert len(parsed) == expected


def test_export_to_stdout_includes_ontology(runner):
    result = runner.invoke(main, ["export", "--format", "ntriples"])
    assert (
        "<https://w3id.org/hkgraph/def/> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type>" in result.output
    )


@pytest.mark.parametrize("fmt", ["table", "csv", "tsv", "json"])
def test_query_from_stdin_in_each_format(runner, fmt):
    query = 'SELECT ?l WHERE { <https://w3id.org/hkgraph/id/org/itc> rdfs:label ?l FILTER(lang(?l) = "en") }'
    result = runner.invoke(main, ["query", "-", "--format", fmt], input=query)
    assert result.exit_code == 0, result.output
    assert "Innovation and Technology Commission" in result.output
    if fmt == "json":
        assert json.loads(result.output)["results"]["bindings"][0]["l"]["value"]


def test_query_by_name_from_queries_dir(runner):
    from hkgraph.queries import named_queries

    name = named_queries()[0].name
    result = runner.invoke(main, ["query", name, "--format", "csv"])
    assert result.exit_code == 0, result.output


def test_query_syntax_error_is_one_line_exit_2(runner):
    result = runner.invoke(main, ["query", "-"], input="SELECT WHERE {")
    assert result.exit_code == 2
    assert result.output.startswith("hkgraph: SPARQL syntax error")
    assert len(result.output.strip().splitlines()) == 1


def test_unknown_query_name_exit_2(runner):
    result = runner.invoke(main, ["query", "no-such-query"])
    assert result.exit_code == 2
    assert "no query file or named query" in result.output


def test_stats(runner, store):
    result = runner.invoke(main, ["stats", "--json"])
    assert result.exit_code == 0
    stats = json.loads(result.output)
    assert stats["triples"] == len(store)
    assert stats["observations"] > 0
    assert stats["classes"]["Department"] >= 1


def test_fmt_check_passes_on_canonical_data(runner):
    result = runner.invoke(main, ["fmt", "--check"])
    assert result.exit_code == 0, result.output
