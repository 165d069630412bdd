"""Search names in all three languages: Simplified and Traditional find each other, English ignores case."""

from __future__ import annotations

import difflib
import itertools
import os
import sqlite3
import tempfile
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import opencc
import pyoxigraph as ox

from hkgraph.store import Store

SKOS = "http://www.w3.org/2004/02/skos/core#"
# Which names are searched, and how much a match on each counts.
NAME_WEIGHTS = {
    "http://www.w3.org/2000/01/rdf-schema#label": 1.0,
    SKOS + "prefLabel": 1.0,
    SKOS + "altLabel": 1.0,  # the chapter's own short forms (科技园公司) count as much as full names
    "def/abbreviation": 1.0,  # relative to the store's base
    SKOS + "hiddenLabel": 0.7,
}
# How good a kind of match is: the whole name, its start, a word's start, anywhere, every word somewhere.
EXACT, PREFIX, WORD_PREFIX, INSIDE, ALL_WORDS = 100, 70, 55, 40, 30
COVERAGE = 15  # points for a name that is all query (scaled by the share of the name the query covers)
MAX_LINK_BONUS = 5  # points for an entity many others link to (one per ten links in)
MAX_QUERY_CHARS = 200


@cache
def to_simplified() -> opencc.OpenCC:
    """Hong Kong Traditional (and other Traditional) to Simplified, loaded once."""
    return opencc.OpenCC("hk2s")


@cache
def to_traditional() -> opencc.OpenCC:
    """Simplified to Hong Kong Traditional, for texts that exist only in Simplified."""
    return opencc.OpenCC("s2hk")


def normalise(text: str) -> str:
    """The form names are compared in: NFKC, Simplified, case-folded, punctuation dropped, spaces single."""
    if not text.isascii():  # ASCII has nothing to fold to another width or script
        text = to_simplified().convert(unicodedata.normalize("NFKC", text))
    text = text.casefold()
    return " ".join(text.translate(PUNCTUATION).split())


class Punctuation(dict):
    """A str.translate table: hyphens and slashes to spaces (they separate words), other punctuation and
    control or invisible characters dropped (a NUL ends SQLite's full-text query), each character's category
    looked up once."""

    def __missing__(self, code: int):
        ch = chr(code)
        self[code] = " " if ch in "-/" else ("" if unicodedata.category(ch)[0] in "PC" else ch)
        return self[code]


PUNCTUATION = Punctuation()


@dataclass(frozen=True)
class Name:
    """One searchable name of a resource, with its normalised form and weight."""

    iri: str
    text: str
    key: str
    compact: str  # key without spaces
    weight: float

    @classmethod
    def of(cls, iri: str, text: str, weight: float) -> Name:
        key = normalise(text)
        return cls(iri, text, key, key.replace(" ", ""), weight)


@dataclass
class Hit:
    """A resource that matched, the name it matched by, and how well."""

    iri: str
    score: float
    matched: str
    rank: int  # kind of resource: 0 entities, 1 ontology terms, 2 observations, 3 sources and periods


SLUG_WEIGHT = 0.5  # an entity's IRI slug (org/itc: "itc") is searchable, below its names
MAX_CANDIDATES = 20_000  # names scored per search; a one-letter query on a huge graph scores this many
SIMILAR_CANDIDATES = 2_000  # names spelled like a text, fetched by shared letter pairs, then compared
INDEX_FORMAT = (
    2  # raise when the tables or what goes into them change: a file of another format is not reused
)
INDEX_FILE = f"names-v{INDEX_FORMAT}.sqlite"

SCHEMA = """
CREATE TABLE names (id INTEGER PRIMARY KEY, iri TEXT NOT NULL, text TEXT NOT NULL, key TEXT NOT NULL,
                    compact TEXT NOT NULL, weight REAL NOT NULL);
CREATE TABLE resources (iri TEXT PRIMARY KEY, rank INTEGER NOT NULL, links REAL NOT NULL) WITHOUT ROWID;
CREATE VIRTUAL TABLE letters USING fts5(pairs, content='', tokenize='unicode61 remove_diacritics 0');
"""


class SearchIndex:
    """Every name of every resource in normalised form, in SQLite: in memory for a graph held in memory,
    else a file shared by all workers (an on-disk store's folder, built by `hkgraph build`). Each name's
    overlapping letter pairs are also indexed (full-text), so a substring is a phrase query and a search reads
    only the names that contain the query, whatever the size of the graph."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    @classmethod
    def build(cls, store: Store, path: str | Path | None = None) -> SearchIndex:
        """Read every name from the store into a new index (at path, replacing it when complete)."""
        if path is None:
            db = sqlite3.connect(":memory:", check_same_thread=False)
            fill(db, store)
            return cls(db)
        path = Path(path)
        work = path.with_name(path.name + f".{os.getpid()}.building")
        work.unlink(missing_ok=True)
        db = sqlite3.connect(work)
        # a file being built is renamed into place only when complete: no journal, no syncs, a large cache
        db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")
        try:
            fill(db, store)
        finally:
            db.close()
        os.replace(work, path)
        return cls.open(path)

    @classmethod
    def open(cls, path: str | Path) -> SearchIndex:
        """Open an index file read-only (any number of processes share it)."""
        return cls(sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False))

    @classmethod
    def for_store(cls, store: Store) -> SearchIndex:
        """The store's index: an on-disk store's file (built there if missing), a remote store's in the
        temporary folder (shared by the workers, named by the dataset's version), else one in memory."""
        if store.directory:
            path = Path(store.directory) / INDEX_FILE
        elif store.remote:
            path = Path(tempfile.gettempdir()) / f"hkgraph-{store.version}-{INDEX_FILE}"
        else:
            return cls.build(store)
        if not path.exists():
            cls.build(store, path)
        return cls.open(path)

    def candidates(self, match: str, limit: int) -> list[tuple[Name, int, float]]:
        """Names matching a full-text query on their letter pairs (up to limit), with their resource's kind
        rank and link bonus; a query of one letter (no pair to look up) reads the names one by one."""
        columns = "n.iri, n.text, n.key, n.compact, n.weight, coalesce(r.rank, 3), coalesce(r.links, 0)"
        if len(match) == 1:
            sql = f"SELECT {columns} FROM names n LEFT JOIN resources r ON r.iri = n.iri WHERE instr(n.compact, ?)"
        else:
            sql = (
                f"SELECT {columns} FROM letters JOIN names n ON n.id = letters.rowid"
                " LEFT JOIN resources r ON r.iri = n.iri WHERE letters MATCH ?"
            )
        rows = self.db.execute(sql + " LIMIT ?", (match, limit))
        return [(Name(*row[:5]), row[5], row[6]) for row in rows]

    def search(self, query: str, limit: int = 20) -> tuple[list[Hit], int]:
        """The best hits for a query, best first, and how many resources matched in all."""
        query = query[:MAX_QUERY_CHARS]  # a longer text (a 404's path) would make a slow full-text query
        key = normalise(query)
        if not key:
            return [], 0
        words = key.split()
        compact = key.replace(" ", "")
        match = compact if len(compact) == 1 else phrase(compact)
        longer = [w for w in words if len(w) > 1]  # a one-letter word is checked by match_quality alone
        if len(words) > 1 and longer:
            match = f"{match} OR ({' AND '.join(phrase(w) for w in longer)})"
        raw = query.strip().casefold()
        best: dict[str, Hit] = {}
        for name, rank, links in self.candidates(match, MAX_CANDIDATES):
            quality = match_quality(key, name)
            if not quality:
                continue
            # Closer matches, better-connected resources and the query's own script (科技园, not 科技園) win.
            coverage = len(key.replace(" ", "")) / max(len(name.compact), 1)
            score = quality * name.weight + COVERAGE * coverage + links
            score += 0.5 if raw in name.text.casefold() else 0
            hit = best.get(name.iri)
            if hit is None or score > hit.score or (score == hit.score and len(name.text) < len(hit.matched)):
                best[name.iri] = Hit(name.iri, score, name.text, rank)
        hits = sorted(best.values(), key=lambda h: (-h.score, h.rank, len(h.matched), h.iri))
        return hits[:limit], len(hits)

    def similar(self, text: str, limit: int = 5, cutoff: float = 0.75) -> list[str]:
        """Resources whose names are spelled like the text (for typos: "commision" finds "Commission")."""
        key = normalise(text[:MAX_QUERY_CHARS])
        compact = key.replace(" ", "")
        if not compact:
            return []
        # Candidates share the start (and, for one word, the end) of each word, so a big graph is not
        # read whole; failing that, any pair of letters in a row.
        words = [w for w in key.split() if len(w) >= 3] or [compact]
        ends = {w[:3] for w in words} | ({words[0][-3:]} if len(words) == 1 else set())
        twos = {compact[i : i + 2] for i in range(len(compact) - 1)} or {compact}
        for match in (" AND ".join(map(phrase, sorted(ends))), " OR ".join(map(phrase, sorted(twos)))):
            by_key: dict[str, str] = {}
            for name, _, _ in self.candidates(match, SIMILAR_CANDIDATES):
                by_key.setdefault(name.key, name.iri)
            keys = difflib.get_close_matches(key, list(by_key), n=limit * 2, cutoff=cutoff)
            if keys:
                return list(dict.fromkeys(by_key[k] for k in keys))[:limit]
        return []

    def named(self, text: str) -> set[str]:
        """Entities one of whose names or slug is the text, compared in normalised form."""
        rows = self.db.execute(
            "SELECT n.iri FROM names n JOIN resources r ON r.iri = n.iri WHERE n.key = ? AND r.rank = 0",
            (normalise(text),),
        )
        return {iri for (iri,) in rows}


def pairs(text: str) -> str:
    """The text as its overlapping pairs of letters ("itc": "it tc"), the tokens of the full-text index;
    a letter the tokenizer would drop (a symbol, a mark) stands as ǂ, so no pair is lost."""
    text = "".join(ch if ch.isalnum() else "ǂ" for ch in text)
    return " ".join(text[i : i + 2] for i in range(len(text) - 1)) or text


def phrase(text: str) -> str:
    """A full-text query for names containing the text (of two letters or more): its letter pairs in a row."""
    return '"' + pairs(text) + '"'


def fill(db: sqlite3.Connection, store: Store) -> None:
    """Every name (and entity slug) of the store, with each resource's kind and a bonus for links in."""
    db.executescript(SCHEMA)
    weights = {(store.iri(p) if not p.startswith("http") else p): w for p, w in NAME_WEIGHTS.items()}
    resources: set[str] = set()

    def names():
        for predicate, weight in weights.items():
            for q in store.match(None, predicate):
                if isinstance(q.subject, ox.NamedNode) and isinstance(q.object, ox.Literal):
                    resources.add(q.subject.value)
                    yield Name.of(q.subject.value, q.object.value, weight)
        for iri in sorted(resources):
            if kind_rank(store, iri) == 0:
                yield Name.of(iri, iri.rstrip("/").rpartition("/")[2], SLUG_WEIGHT)

    rows = [(i, n.iri, n.text, n.key, n.compact, n.weight) for i, n in enumerate(names(), start=1)]
    db.executemany("INSERT INTO names VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.executemany("INSERT INTO letters (rowid, pairs) VALUES (?, ?)", ((r[0], pairs(r[4])) for r in rows))
    del rows
    db.execute("CREATE INDEX names_key ON names (key)")
    inbound = links_in(store, [iri for iri in resources if kind_rank(store, iri) == 0])
    db.executemany(
        "INSERT INTO resources VALUES (?, ?, ?)",
        (
            (iri, rank, min(inbound.get(iri, 0) / 10, MAX_LINK_BONUS) if rank == 0 else 0.0)
            for iri in sorted(resources)
            for rank in (kind_rank(store, iri),)
        ),
    )
    db.commit()


def links_in(store: Store, entities: list[str]) -> dict[str, int]:
    """How many triples point at each entity, counted up to the most that earns a bonus: index lookups in
    the embedded store (a GROUP BY over every triple took 10 s at 10^6), one query for a remote store."""
    if store.remote:
        rows = store.select(
            f"""SELECT ?o (COUNT(*) AS ?n) WHERE {{ ?s ?p ?o FILTER(isIRI(?o) && STRSTARTS(STR(?o), "{store.base}")) }}
                GROUP BY ?o"""
        )
        return {row["o"]: int(row["n"]) for row in rows}
    most = MAX_LINK_BONUS * 10
    return {iri: sum(1 for _ in itertools.islice(store.match(None, None, iri), most)) for iri in entities}


def match_quality(query: str, name: Name) -> int:
    """How well a normalised query matches a name (0: not at all); spaces are ignored for CJK's sake."""
    q = query.replace(" ", "")
    n = name.compact
    if q not in n:
        words = query.split()
        return ALL_WORDS if len(words) > 1 and all(w in name.key for w in words) else 0
    if q == n:
        return EXACT
    if n.startswith(q):
        return PREFIX
    if (" " + query) in name.key:
        return WORD_PREFIX
    return INSIDE


def kind_rank(store: Store, iri: str) -> int:
    """Entities first, then ontology terms, then observations, then sources and periods."""
    rel = iri[len(store.base) :] if iri.startswith(store.base) else ""
    if rel.startswith("id/obs/"):
        return 2
    if rel.startswith(("id/source/", "id/period/")):
        return 3
    if rel.startswith("id/"):
        return 0
    return 1
