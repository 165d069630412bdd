"""Coverage-guided fuzzing (atheris) of the query guard (hkgraph.sparql_guard) against pyoxigraph's parser.

For any text, inspect_query returns or refuses (QueryRefused, UpdateRefused) and nothing else escapes it;
and for a text it lets through:
- pyoxigraph does not parse it as a query in which SERVICE is a keyword;
- pyoxigraph does not parse it as an update with an operation (PREFIX lines alone change nothing);
- if pyoxigraph parses it as a query, the guard saw its form (solutions or graph) and any FROM clause.

Whether SERVICE (or FROM, INSERT, ...) is a keyword in a text pyoxigraph parses: rename every "service" in
it (any case, or spelt with \\u escapes) to its ROT13 ("freivpr") in the same case. Renaming a variable, a
prefix, a word in a string, IRI or comment everywhere leaves a text that still parses; renaming a keyword
does not. So an update "with an operation" is one in which some update keyword is a keyword.

pyoxigraph evaluates an ASK and an update as soon as it has parsed them, so it runs here with no file or
socket free (RLIMIT_NOFILE at the lowest free descriptor): a SERVICE or LOAD in a fuzzed text fails
instead of connecting anywhere.

Run: .venv/bin/python fuzz/fuzz_guard.py [libFuzzer options] [corpus dir]; `make fuzz` runs it for
FUZZ_SECONDS with a corpus seeded from queries/*.rq.
"""

from __future__ import annotations

import codecs
import os
import re
import sys

import pyoxigraph as ox

sys.path.insert(0, os.path.dirname(__file__))
from corpus import instrumented, no_new_descriptors, seed_corpus  # noqa: E402

with instrumented(__name__):  # coverage of hkgraph's code when run as a fuzzer
    from hkgraph.errors import QueryRefused
    from hkgraph.queries import named_queries
    from hkgraph.sparql_guard import inspect_query
    from hkgraph.store import PREFIXES


LOOPBACK = "http://127.0.0.1:9/sparql"  # nothing connects anywhere (no_new_descriptors); were it to, here

STORE = ox.Store()  # empty: the oracle parses; what it runs finds nothing
UPDATE_WORDS = ["insert", "delete", "load", "clear", "create", "drop", "copy", "move", "add", "with"]
NONSENSE = {word: codecs.encode(word, "rot13") for word in ["service", "from", *UPDATE_WORDS]}  # no keyword
KINDS = {ox.QuerySolutions: "solutions", ox.QueryBoolean: "solutions", ox.QueryTriples: "graph"}


def query_kind(text: str) -> str | None:
    """'solutions' or 'graph' if pyoxigraph parses the text as a query with the endpoint's preset prefixes;
    'failed' if it parsed but failed to run (an ASK runs at once); None if it does not parse."""
    with no_new_descriptors():
        try:
            result = STORE.query(text, prefixes=PREFIXES, use_default_graph_as_union=True)
        except SyntaxError:
            return None
        except (OSError, RuntimeError, ValueError, TypeError):
            return "failed"
    return KINDS[type(result)]


def parses_as_query(text: str) -> bool:
    return query_kind(text) is not None


def parses_as_update(text: str) -> bool:
    with no_new_descriptors():
        try:
            ox.Store().update(text, prefixes=PREFIXES)
        except SyntaxError:
            return False
        except (OSError, RuntimeError, ValueError, TypeError):
            pass  # it parsed, then failed to run: a LOAD cannot connect here
    return True


def is_update(text: str) -> bool:
    """Whether pyoxigraph parses the text as an update with an operation (";" or PREFIX lines alone parse
    as an update that does nothing)."""
    return parses_as_update(text) and any(keyword_used(text, w, parses_as_update) for w in UPDATE_WORDS)


def letter(char: str) -> str:
    r"""A regex for a letter, in either case, written or as a \u or \U escape (hex digits in either case)."""
    codes = [ord(c) for c in {char.lower(), char.upper()}]
    escapes = dict.fromkeys(rf"\\u{n:04{x}}|\\U{n:08{x}}" for n in codes for x in "xX")
    return f"(?:{char}|(?-i:{'|'.join(escapes)}))"


SPELLINGS = {
    word: re.compile("".join(letter(c) for c in word), re.IGNORECASE) for word in NONSENSE
}  # re.IGNORECASE also matches by Unicode case folding: ſ for s


def renamed(text: str, word: str) -> str:
    """The text with every spelling of the word replaced by its ROT13, letter by letter in the same case."""
    nonsense = NONSENSE[word]

    def rename(m: re.Match) -> str:
        chars = re.findall(r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}|.", m.group(), re.DOTALL)
        chars = [chr(int(c[2:], 16)) if len(c) > 1 else c for c in chars]
        return "".join(n.upper() if c.isupper() else n for c, n in zip(chars, nonsense, strict=True))

    return SPELLINGS[word].sub(rename, text)


def keyword_used(text: str, word: str, parses=parses_as_query) -> bool:
    """Whether the word is a keyword (or a prefix name) in a text that parses (as a query, or an update)."""
    if NONSENSE[word] in text.lower():
        return False  # renaming could clash with a name already there; such a text proves nothing
    other = renamed(text, word)
    return other != text and not parses(other)


def check(text: str) -> None:
    """Fail (AssertionError) if the guard disagrees with pyoxigraph on the text."""
    try:
        shape = inspect_query(text)
    except QueryRefused:  # and UpdateRefused: refused is always safe
        return
    assert not is_update(text), f"the guard let an update through: {text!r}"
    kind = query_kind(text)
    if kind is None:
        return  # not a query: the endpoint answers pyoxigraph's syntax error
    assert not keyword_used(text, "service"), f"the guard let SERVICE through: {text!r}"
    assert kind in ("failed", shape.kind), f"the guard took a {kind} query for {shape.kind}: {text!r}"
    if keyword_used(text, "from"):
        assert shape.has_dataset_clause, f"the guard missed a FROM clause: {text!r}"


def test_one_input(data: bytes) -> None:
    try:
        text = data.decode("utf-8")  # the endpoint refuses what is not UTF-8 before the guard sees it
    except UnicodeDecodeError:
        return
    check(text)


def seeds() -> list[bytes]:
    """The named queries, and a few that the guard must refuse."""
    refused = [f"SELECT * WHERE {{ SERVICE <{LOOPBACK}> {{ ?s ?p ?o }} }}", "INSERT DATA { <urn:a> <urn:b> <urn:c> }",
               "PREFIX : <urn:x#> SELECT * { ?s ?p ?o . SERVICE:x { ?s ?p ?o } }", f"LOAD <{LOOPBACK}>"]  # fmt: skip
    return [q.text.encode() for q in named_queries()] + [q.encode() for q in refused + NEAR_THE_LIMITS]


# Nested and chained just within the guard's limits (sparql_guard.MAX_NESTING, MAX_CHAIN): a mutation away
# from what would overflow pyoxigraph's stack if the limits were not there.
NEAR_THE_LIMITS = [
    "SELECT * WHERE " + "{" * 99 + "}" * 99,
    "ASK { FILTER(" + "CONCAT(" * 98 + '"a"' + ")" * 98 + ") }",
    "ASK { {}" + " UNION {}" * 490 + " }",
    "ASK { FILTER(1" + " + 1" * 990 + ") }",
    "SELECT * { ?s ?p ?o" + " MINUS { ?s ?p ?o }" * 490 + " }",
]


def main() -> None:
    import atheris

    seed_corpus(sys.argv, seeds())
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
