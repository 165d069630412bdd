"""Fail-fast start-up: a data file that does not parse, or parses but breaks the SHACL shapes, stops
`hkgraph serve` and `hkgraph build` before anything is served or stored (exit 2, a message naming the file),
so a half-loaded or invalid graph is never served. `--no-validate` skips the shapes, not the parsing (the
hostile data of tests/test_http_security.py is served that way)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port

from hkgraph.cli import main

HKGRAPH = str(Path(sys.executable).with_name("hkgraph"))
GOOD = '<https://w3id.org/hkgraph/id/org/x> <http://www.w3.org/2000/01/rdf-schema#label> "x"@en .\n'
# An organisation without its three labels, paragraph or quote: it parses but breaks the EntityShape.
INVALID = """@prefix hkg: <https://w3id.org/hkgraph/def/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .

<https://w3id.org/hkgraph/id/org/nameless>
    a hkg:Bureau ;
    rdfs:label "Only English"@en .
"""
# (file name, content, the line the message names)
BROKEN = [
    ("unterminated.ttl", '@prefix ex: <http://example.org/> .\nex:a ex:b "ok" .\nex:c ex:d "no end .\n', 3),
    ("bad-iri.nt", "<http://example.org/a> <http://example.org/b> .\n\n<not an iri> <b> <c> .\n", 1),
    ("broken.jsonld", '{"@id": "http://example.org/a",\n "http://example.org/b": [}\n', 2),
    ("ill-formed.rdf", '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
     '<rdf:Description rdf:about="http://example.org/a">\n</rdf:RDF>\n', 4),
    ("latin1.ttl", b"<http://example.org/a> <http://example.org/b> \"caf\xe9\" .\n", 1),
]  # fmt: skip


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def serve(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `hkgraph serve` until it exits by itself; fails the test if it is still running (serving)
    after timeout seconds."""
    port = free_port()
    try:
        done = subprocess.run(
            [HKGRAPH, "serve", "--port", str(port), "--workers", "1", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("hkgraph serve kept running: it should have stopped before serving")
    return done


@pytest.mark.parametrize("name, content, line", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_file_that_does_not_parse_stops_the_cli_with_file_and_line(tmp_path, runner, name, content, line):
    good = write(tmp_path, "good.nt", GOOD)
    bad = write(tmp_path, name, content)
    result = runner.invoke(main, ["stats", "--data", str(good), "--data", str(bad)])
    assert result.exit_code == 2
    (message,) = result.output.splitlines()  # one line
    assert message.startswith(f"hkgraph: {bad}:{line}: ")


def test_serve_stops_on_a_file_that_does_not_parse_and_never_listens(tmp_path):
    good = write(tmp_path, "good.nt", GOOD)
    name, content, line = BROKEN[0]
    bad = write(tmp_path, name, content)
    done = serve("--data", str(good), "--data", str(bad))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.splitlines()[0]]
    assert done.stderr.startswith(f"hkgraph: {bad}:{line}: Parser error")


def test_serve_stops_on_data_that_breaks_the_shapes_naming_file_focus_and_shape(tmp_path):
    invalid = write(tmp_path, "invalid.ttl", INVALID)
    done = serve("--data", str(invalid))
    assert done.returncode == 2, done.stderr
    first, *violations = done.stderr.splitlines()
    assert (
        first.startswith("hkgraph: the data does not conform to the SHACL shapes")
        and "--no-validate" in first
    )
    assert violations and len(violations) <= 5
    for line in violations:
        assert line.startswith(f"  {invalid}: https://w3id.org/hkgraph/id/org/nameless")
    assert any("violates LabelsShape" in line or "violates EntityShape" in line for line in violations)
    assert any("rdfs:label needs exactly one label" in line for line in violations)


def test_build_refuses_invalid_data_and_leaves_no_store(tmp_path, runner):
    invalid = write(tmp_path, "invalid.ttl", INVALID)
    result = runner.invoke(main, ["build", "--store", str(tmp_path / "store"), "--data", str(invalid)])
    assert result.exit_code == 2
    assert "does not conform to the SHACL shapes" in result.output and str(invalid) in result.output
    assert not (tmp_path / "store").exists() and not (tmp_path / "store.building").exists()
    bad = write(tmp_path, *BROKEN[0][:2])
    result = runner.invoke(main, ["build", "--store", str(tmp_path / "store"), "--data", str(bad)])
    assert result.exit_code == 2 and f"{bad}:3:" in result.output
    assert not (tmp_path / "store").exists()


def test_build_no_validate_stores_data_that_breaks_the_shapes(tmp_path, runner):
    invalid = write(tmp_path, "invalid.ttl", INVALID)
    result = runner.invoke(
        main, ["build", "--store", str(tmp_path / "store"), "--data", str(invalid), "--no-validate"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "store" / "hkgraph-store.json").is_file()
