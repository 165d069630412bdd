"""Reads a query's text before it runs: its form, whether it names its own dataset, and what to refuse.

pyoxigraph has no public query algebra, so this is a tokenizer that follows the SPARQL grammar's
terminals: comments, strings, IRIs, variables and prefixed names are recognised, so a keyword inside
them does not count and a keyword outside them always does, whatever its case, spacing or nesting.
SERVICE is refused because pyoxigraph would make an outbound HTTP call for it (the runner process
is also unable to open a socket, so a query that got past this check still could not connect).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hkgraph.errors import QueryRefused, UpdateRefused

_NAME_CHARS = r"\w\-.\u00b7\u0300-\u036f\u203f\u2040"
_LOCAL_ESCAPE = r"%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?#@%]"
_UCHAR = r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}"

TOKEN = re.compile(
    rf"""
    (?P<comment>\#[^\r\n]*)
  | (?P<string>'''(?:[^'\\]|\\.|'(?!''))*'''
              |\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"
              |'(?:[^'\\\r\n]|\\.)*'
              |"(?:[^"\\\r\n]|\\.)*")
  | (?P<iri><(?:[^<>"{{}}|^`\\\x00-\x20]|{_UCHAR})*>)
  | (?P<var>[?$][\w\u00b7\u0300-\u036f\u203f\u2040]*)
  | (?P<pname>[{_NAME_CHARS}]*:(?:[{_NAME_CHARS}:]|{_LOCAL_ESCAPE})*)
  | (?P<word>[{_NAME_CHARS}]+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
CODEPOINT_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")

QUERY_FORMS = {"SELECT", "ASK", "CONSTRUCT", "DESCRIBE"}
UPDATE_KEYWORDS = {"INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD", "WITH"}
PROLOGUE_KEYWORDS = {"BASE", "PREFIX", "VERSION"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


@dataclass(frozen=True)
class QueryShape:
    """What the guard learnt: the query form (SELECT, ASK, CONSTRUCT, DESCRIBE or '' if unknown)."""

    form: str
    has_dataset_clause: bool  # FROM or FROM NAMED in the query itself

    @property
    def kind(self) -> str:
        """'graph' for CONSTRUCT and DESCRIBE, else 'solutions' (SELECT, ASK, or a query that will not parse)."""
        return "graph" if self.form in ("CONSTRUCT", "DESCRIBE") else "solutions"


def tokens(text: str) -> list[Token]:
    return [Token(m.lastgroup, m.group()) for m in TOKEN.finditer(text)]


def unescape_codepoints(text: str) -> str:
    r"""The text with \uXXXX and \UXXXXXXXX escapes replaced, as SPARQL 1.1 says to do before parsing."""

    def char(m: re.Match) -> str:
        try:
            return chr(int(m.group(1) or m.group(2), 16))
        except (ValueError, OverflowError):
            return m.group()

    return CODEPOINT_ESCAPE.sub(char, text)


def service_token(toks: list[Token]) -> str | None:
    """The first token that is or may hide the SERVICE keyword, or None.

    A bare word or a prefix containing 'service' counts (the parser accepts '1SERVICE' or 'SERVICE:x');
    a variable and the local part of a prefixed name ('hkg:DigitalService') do not.
    """
    for tok in toks:
        if tok.kind == "word" and "service" in tok.text.lower():
            return tok.text
        if tok.kind == "pname" and "service" in tok.text.split(":", 1)[0].lower():
            return tok.text
    return None


def code_words(toks: list[Token]) -> list[str]:
    return [t.text.upper() for t in toks if t.kind == "word"]


def inspect_query(text: str) -> QueryShape:
    """Refuse SERVICE (400) and updates (403) before anything runs; else say the form and dataset clause."""
    for variant in (text, unescape_codepoints(text)):
        found = service_token(tokens(variant))
        if found is not None:
            raise QueryRefused(
                f"SERVICE is not allowed on this endpoint (found {found!r}): federated queries would make "
                "this server call other servers. Run the query against each endpoint separately."
            )
    words = code_words(tokens(text))
    first = next((w for w in words if w not in PROLOGUE_KEYWORDS), "")
    if first in UPDATE_KEYWORDS:
        raise UpdateRefused(
            f"SPARQL updates ({first} ...) are not allowed: this endpoint is read-only. "
            "Use SELECT, ASK, CONSTRUCT or DESCRIBE."
        )
    return QueryShape(form=first if first in QUERY_FORMS else "", has_dataset_clause="FROM" in words)


def declared_prefixes(text: str) -> set[str]:
    """The prefixes a query declares with PREFIX."""
    toks = [t for t in tokens(text) if t.kind not in ("comment",) and not t.text.isspace()]
    return {
        toks[i + 1].text.split(":", 1)[0]
        for i, t in enumerate(toks[:-1])
        if t.kind == "word" and t.text.upper() == "PREFIX" and toks[i + 1].kind == "pname"
    }


def used_prefixes(text: str) -> set[str]:
    """The prefixes a query's prefixed names use (declared or not)."""
    return {t.text.split(":", 1)[0] for t in tokens(text) if t.kind == "pname"}


def with_prefix_declarations(text: str, prefixes: dict[str, str]) -> str:
    """The query with PREFIX lines added for every known prefix it uses but does not declare."""
    missing = sorted((used_prefixes(text) - declared_prefixes(text)) & set(prefixes))
    lines = [f"PREFIX {p}: <{prefixes[p]}>" for p in missing]
    return "\n".join(lines + [text]) if lines else text
