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
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
# A prologue of plain PREFIX and BASE declarations, spaces and comments, then a word that ends where the
# tokenizer's word would (first_keyword; tests/test_sparql_guard.py checks both agree).
_PLAIN_IRI = r"<[^<>\"{}|^`\\\x00-\x20]*+>"
PLAIN_PROLOGUE = re.compile(
    rf"(?:\s++|\#[^\r\n]*+|PREFIX\s++[A-Za-z0-9_.\-]*+:\s*+{_PLAIN_IRI}|BASE\s*+{_PLAIN_IRI})*+"
    r"(?!PREFIX|BASE|VERSION)(?P<word>[A-Za-z]++)(?=[\s{*?$(<#]|\Z)",
    re.IGNORECASE | re.ASCII,
)
CODEPOINT_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")

QUERY_FORMS = {"SELECT", "ASK", "CONSTRUCT", "DESCRIBE"}
# pyoxigraph parses and plans a query by recursion, so one nested deep enough overflows the stack and ends
# the process running it (on an 8 MB stack: about 900 nested calls, 2 200 nested groups, 2 600 MINUS or
# 7 000 + in a row). The guard refuses queries that nest brackets, or chain the operators and groups that
# nest the query's algebra, beyond these limits (nesting()); the worst query they allow runs on 2 MB.
MAX_NESTING = 100
MAX_CHAIN = 1000
OPENERS, CLOSERS = "({[", ")}]"
OPERATORS = "|&=!<>+-*/^"
UPDATE_KEYWORDS = {"INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD", "WITH"}
PROLOGUE_KEYWORDS = {"BASE", "PREFIX", "VERSION"}
CHAIN_KEYWORDS = {"UNION", "OPTIONAL", "MINUS", "FILTER", "GRAPH", "LATERAL"}
SIGNS = re.compile(r"(?<![eE])[-+]")  # in a number: its signs, not its exponent's (1e-5)


@dataclass(frozen=True)
class QueryShape:
    """What the guard learnt: the query form (SELECT, ASK, CONSTRUCT, DESCRIBE or '' if unknown)."""

    form: str
    has_dataset_clause: bool  # FROM or FROM NAMED in the query itself

    @property
    def kind(self) -> str:
        """'graph' for CONSTRUCT and DESCRIBE, else 'solutions' (SELECT, ASK, or a query that will not parse)."""
        return "graph" if self.form in ("CONSTRUCT", "DESCRIBE") else "solutions"


def tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) pairs: comment, string, iri, var, pname, word, space or other."""
    return [(m.lastgroup, m.group()) for m in TOKEN.finditer(text)]


def unescape_codepoints(text: str) -> str:
    r"""The text with \uXXXX and \UXXXXXXXX escapes replaced, as SPARQL 1.1 says to do before parsing."""

    def char(m: re.Match) -> str:
        try:
            return chr(int(m.group(1) or m.group(2), 16))
        except (ValueError, OverflowError):
            return m.group()

    return CODEPOINT_ESCAPE.sub(char, text)


def service_token(toks: list[tuple[str, str]]) -> str | None:
    """The first token that is or may hide the SERVICE keyword, or None.

    A bare word or a prefix containing 'service' counts (the parser accepts '1SERVICE' or 'SERVICE:x');
    a variable and the local part of a prefixed name ('hkg:DigitalService') do not.
    """
    for kind, text in toks:
        if kind == "word" and "service" in text.lower():
            return text
        if kind == "pname" and "service" in text.split(":", 1)[0].lower():
            return text
    return None


def code_words(toks: list[tuple[str, str]]) -> list[str]:
    return [text.upper() for kind, text in toks if kind == "word"]


def refuse_service(text: str) -> None:
    """400 if a token of the query, as written or with its \\u escapes decoded, is or may hide SERVICE."""
    unescaped = unescape_codepoints(text)
    for variant in (text, unescaped) if unescaped != text else (text,):
        found = service_token(tokens(variant))
        if found is not None:
            raise QueryRefused(
                f"SERVICE is not allowed on this endpoint (found {found!r}): federated queries would make "
                "this server call other servers. Run the query against each endpoint separately."
            )


def nesting(text: str) -> tuple[int, int]:
    """How deep the query nests: brackets inside brackets, and the longest chain of operators, keywords and
    groups that nest its algebra (UNION, OPTIONAL, { } after { }, +, &&, the - of ?x -1 -1 ...), counted
    along the brackets they are in. VALUES data holds no chain. Stops counting past the limits."""
    levels = [0]  # chained items in each open bracket
    data = [False]  # whether each open bracket is VALUES data
    chained = deepest = longest = 0
    after_operand = values = False  # the last token ends an operand; VALUES was read, its { not yet
    for m in TOKEN.finditer(text):
        kind, tok = m.lastgroup, m.group()
        if kind in ("space", "comment"):
            continue
        if kind == "other" and tok in CLOSERS:
            if len(levels) > 1:
                chained -= levels.pop()
                data.pop()
            after_operand = True
            continue
        links = 0
        if kind == "other" and not data[-1]:
            links = tok in OPERATORS or tok == "{"  # ( and [ of a call or a list start no chain
        elif kind == "word" and not data[-1]:
            signs = len(SIGNS.findall(tok)) - (tok[0] in "+-" and not after_operand)  # ?x -1: minus 1
            links = tok.upper() in CHAIN_KEYWORDS or signs
        levels[-1] += links
        chained += links
        if kind == "other" and tok in OPENERS:
            levels.append(0)
            data.append(data[-1] or (values and tok == "{"))
        values = (values and tok != "{") or (kind == "word" and tok.upper() == "VALUES")
        after_operand = kind in ("word", "var", "pname", "iri", "string")
        deepest, longest = max(deepest, len(levels) - 1), max(longest, chained)
        if deepest > MAX_NESTING or longest > MAX_CHAIN:
            break
    return deepest, longest


def refuse_deep_nesting(text: str) -> None:
    """400 if the query nests deeper than pyoxigraph's parser can safely follow."""
    openers = text.count("(") + text.count("{") + text.count("[")
    if openers <= MAX_NESTING and len(text) <= MAX_CHAIN:
        return  # too few brackets, and too short to chain too much (the usual case: cheapest)
    lowered = text.lower()
    links = sum(text.count(c) for c in OPERATORS + "{") + sum(
        lowered.count(w.lower()) for w in CHAIN_KEYWORDS
    )
    if openers <= MAX_NESTING and links <= MAX_CHAIN:
        return  # too few brackets, operators and keywords in all to nest too deep (the usual case: cheap)
    deepest, longest = nesting(text)
    if deepest > MAX_NESTING:
        raise QueryRefused(
            f"the query nests brackets more than {MAX_NESTING} deep, which is not allowed here. "
            "Write it with fewer groups or calls inside one another."
        )
    if longest > MAX_CHAIN:
        raise QueryRefused(
            f"the query chains more than {MAX_CHAIN} operators and groups (UNION, OPTIONAL, MINUS, FILTER, "
            "+, &&, ...) one inside another, which is not allowed here. Split it into several queries, or "
            "list values with VALUES or IN (...)."
        )


def first_keyword(text: str) -> str:
    """The query's first keyword after the prologue (BASE, PREFIX, VERSION), upper-cased; '' if none."""
    m = PLAIN_PROLOGUE.match(text)
    if m:  # the common case, read at once; anything else goes through the tokenizer
        return m.group("word").upper()
    return tokenized_first_keyword(text)


def tokenized_first_keyword(text: str) -> str:
    """first_keyword() read token by token: any prologue."""
    for m in TOKEN.finditer(text):
        if m.lastgroup == "word" and m.group().upper() not in PROLOGUE_KEYWORDS:
            return m.group().upper()
    return ""


def inspect_query(text: str) -> QueryShape:
    """Refuse SERVICE (400), updates (403) and queries nested too deep (400) before anything runs; else say
    the form and dataset clause."""
    lowered = text.lower()
    if "service" in lowered or "\\u" in lowered:  # else no token can be, or decode to, the keyword
        refuse_service(text)
    first = first_keyword(text)
    if first in UPDATE_KEYWORDS:
        raise UpdateRefused(
            f"SPARQL updates ({first} ...) are not allowed: this endpoint is read-only. "
            "Use SELECT, ASK, CONSTRUCT or DESCRIBE."
        )
    refuse_deep_nesting(text)
    has_from = "from" in lowered and "FROM" in code_words(tokens(text))
    return QueryShape(form=first if first in QUERY_FORMS else "", has_dataset_clause=has_from)


def declared_prefixes(text: str) -> set[str]:
    """The prefixes a query declares with PREFIX."""
    toks = [(kind, t) for kind, t in tokens(text) if kind not in ("comment", "space")]
    return {
        toks[i + 1][1].split(":", 1)[0]
        for i, (kind, t) in enumerate(toks[:-1])
        if kind == "word" and t.upper() == "PREFIX" and toks[i + 1][0] == "pname"
    }


def used_prefixes(text: str) -> set[str]:
    """The prefixes a query's prefixed names use (declared or not)."""
    return {t.split(":", 1)[0] for kind, t in tokens(text) if kind == "pname"}


def with_prefix_declarations(text: str, prefixes: dict[str, str]) -> str:
    """The query with PREFIX lines added for every known prefix it uses but does not declare."""
    missing = sorted((used_prefixes(text) - declared_prefixes(text)) & set(prefixes))
    lines = [f"PREFIX {p}: <{prefixes[p]}>" for p in missing]
    return "\n".join(lines + [text]) if lines else text
