"""Search names in all three languages: Simplified and Traditional find each other, English ignores case."""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass, field
from functools import cache

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
    text = to_simplified().convert(unicodedata.normalize("NFKC", text)).casefold()
    text = "".join(" " if ch in "-/" else ch for ch in text)  # hyphens and slashes separate words
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return " ".join(text.split())


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


@dataclass
class SearchIndex:
    """Every name of every resource in normalised form; built once, the graph being read-only."""

    names: list[Name] = field(default_factory=list)
    ranks: dict[str, int] = field(default_factory=dict)
    links: dict[str, float] = field(default_factory=dict)  # bonus by inbound links

    @classmethod
    def build(cls, store: Store) -> SearchIndex:
        weights = {(store.iri(p) if not p.startswith("http") else p): w for p, w in NAME_WEIGHTS.items()}
        index = cls()
        for predicate, weight in weights.items():
            for q in store.match(None, predicate):
                if isinstance(q.subject, ox.NamedNode):
                    index.names.append(Name.of(q.subject.value, q.object.value, weight))
        for iri in {n.iri for n in index.names}:
            index.ranks[iri] = kind_rank(store, iri)
            if index.ranks[iri] == 0:
                inbound = sum(1 for _ in store.match(None, None, iri))
                index.links[iri] = min(inbound / 10, MAX_LINK_BONUS)
        return index

    def search(self, query: str, limit: int = 20) -> tuple[list[Hit], int]:
        """The best hits for a query, best first, and how many resources matched in all."""
        key = normalise(query)
        if not key:
            return [], 0
        raw = query.strip().casefold()
        best: dict[str, Hit] = {}
        for name in self.names:
            quality = match_quality(key, name)
            if not quality:
                continue
            # Closer matches, better-connected resources and the query's own script (科技园, not 科技園) win.
            coverage = len(key.replace(" ", "")) / max(len(name.compact), 1)
            score = quality * name.weight + COVERAGE * coverage + self.links.get(name.iri, 0)
            score += 0.5 if raw in name.text.casefold() else 0
            hit = best.get(name.iri)
            if hit is None or score > hit.score or (score == hit.score and len(name.text) < len(hit.matched)):
                best[name.iri] = Hit(name.iri, score, name.text, self.ranks.get(name.iri, 3))
        hits = sorted(best.values(), key=lambda h: (-h.score, h.rank, len(h.matched), h.iri))
        return hits[:limit], len(hits)

    def similar(self, text: str, limit: int = 5) -> list[str]:
        """Resources whose names are spelled like the text (for typos: "commision" finds "Commission")."""
        by_key: dict[str, str] = {}
        for name in self.names:
            by_key.setdefault(name.key, name.iri)
        keys = difflib.get_close_matches(normalise(text), list(by_key), n=limit * 2, cutoff=0.75)
        return list(dict.fromkeys(by_key[k] for k in keys))[:limit]


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
