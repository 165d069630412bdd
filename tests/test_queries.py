"""Every example query in queries/ runs and returns its golden result (queries/NAME.csv)."""

import csv
import io

import pytest

from hkgraph.queries import QUERIES_DIR, named_queries, render_select

QUERIES = named_queries()


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_there_are_at_least_30_competency_queries():
    assert len(QUERIES) >= 30


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_query_is_documented_in_both_languages(query):
    assert query.question_en, f"{query.name}.rq lacks a '# Q:' line"
    assert query.question_zh, f"{query.name}.rq lacks a '# 问:' line"


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_query_matches_golden_result(store, query):
    golden = QUERIES_DIR / f"{query.name}.csv"
    assert golden.is_file(), f"missing expected result {golden.name}"
    actual = rows(render_select(store.query(query.text), "csv"))
    expected = rows(golden.read_text(encoding="utf-8"))
    assert actual[0] == expected[0], "columns differ"
    assert len(actual) > 1, "the query returns no rows"
    if "ORDER BY" in query.text.upper():
        assert actual == expected
    else:
        assert sorted(actual[1:]) == sorted(expected[1:])
