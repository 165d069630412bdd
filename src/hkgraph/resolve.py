"""Find the entity a person means: by IRI, path (org/itc), slug (itc), abbreviation (ITC) or name in any language.

Only exact matches resolve (names compared case-, width- and script-insensitively, so 創新科技署 finds
创新科技署); anything else is an error that lists the close matches, so a guess is never silently taken.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from hkgraph.errors import AmbiguousName, BadRequest, NotFound
from hkgraph.i18n import pick
from hkgraph.search import NAME_WEIGHTS, SearchIndex, kind_rank, normalise
from hkgraph.store import DEFAULT_BASE, Store

MAX_SUGGESTIONS = 8


@dataclass
class Resolver:
    """Every entity's slug and names in normalised form, built once per store (the graph is read-only)."""

    store: Store
    by_slug: dict[str, set[str]] = field(default_factory=dict)
    by_name: dict[str, set[str]] = field(default_factory=dict)
    index: SearchIndex | None = None  # for close matches; built on first need

    @classmethod
    def build(cls, store: Store, index: SearchIndex | None = None) -> Resolver:
        """Two SPARQL queries: every entity IRI (for slugs) and every name of one."""
        resolver = cls(store, index=index)
        entities = store.iri("id/")
        subjects = store.select(
            f'SELECT DISTINCT ?s WHERE {{ ?s ?p ?o FILTER(STRSTARTS(STR(?s), "{entities}")) }}'
        )
        for iri in (row["s"] for row in subjects):
            if kind_rank(store, iri) == 0:
                resolver.by_slug.setdefault(iri.rstrip("/").rpartition("/")[2].casefold(), set()).add(iri)
        predicates = " ".join(f"<{p if p.startswith('http') else store.iri(p)}>" for p in NAME_WEIGHTS)
        names = store.select(
            f"""SELECT DISTINCT ?s ?name WHERE {{ VALUES ?p {{ {predicates} }} ?s ?p ?name
                  FILTER(STRSTARTS(STR(?s), "{entities}")) }}"""
        )
        for row in names:
            if kind_rank(store, row["s"]) == 0:
                resolver.by_name.setdefault(normalise(str(row["name"])), set()).add(row["s"])
        return resolver

    def matches(self, text: str) -> list[str]:
        """Every entity the text names exactly: as IRI, path under the base or id/, slug, or name."""
        text = text.strip()
        store = self.store
        if text.startswith(("http://", "https://")):
            if text.startswith(DEFAULT_BASE) and store.base != DEFAULT_BASE:
                text = store.iri(text[len(DEFAULT_BASE) :])  # an IRI as published names the same thing here
            return [text] if store.mentions(text) else []
        path = text.strip("/").removeprefix("doc/")  # a path of this server's entity pages works too
        for rel in (path, "id/" + path):
            if "/" in path and any(True for _ in store.match(store.iri(rel))):
                return [store.iri(rel)]
        found = self.by_slug.get(text.casefold(), set()) | self.by_name.get(normalise(text), set())
        return sorted(found)

    def resolve(self, text: str) -> str:
        """The one entity the text names; AmbiguousName or NotFound (with close matches) otherwise."""
        if not text or not text.strip():
            raise BadRequest("no entity given: name one by IRI, slug (itc), abbreviation (ITC) or name")
        found = self.matches(text)
        if len(found) == 1:
            return found[0]
        if found:
            err = AmbiguousName(
                f"{text!r} names {len(found)} things: {self.listing(found)}; give one of these paths instead"
            )
        else:
            close = self.close_matches(text)
            hint = f"; close matches: {self.listing(close)}" if close else ""
            err = NotFound(f"no entity is called {text!r}{hint}")
            found = close
        err.links = [(self.label(iri), iri) for iri in found]
        raise err

    def close_matches(self, text: str) -> list[str]:
        """Entities with a slug or name spelled like the text (ITX: ITC, ITF), then names containing it."""
        if self.index is None:
            self.index = SearchIndex.build(self.store)
        key = normalise(text)
        names = {**self.by_name, **{k: v | self.by_name.get(k, set()) for k, v in self.by_slug.items()}}
        spelled = difflib.get_close_matches(key, list(names), n=MAX_SUGGESTIONS, cutoff=0.6)
        hits, _ = self.index.search(text, MAX_SUGGESTIONS * 2)
        ranked = [iri for k in spelled for iri in sorted(names[k])] + [h.iri for h in hits]
        ranked = [iri for iri in ranked if kind_rank(self.store, iri) == 0]
        return list(dict.fromkeys(ranked))[:MAX_SUGGESTIONS]

    def label(self, iri: str, lang: str = "en") -> str:
        from hkgraph.describe import labels

        return pick(labels(self.store, iri), lang) or iri

    def listing(self, iris: list[str]) -> str:
        """org/itc (Innovation and Technology Commission), ... for messages."""
        entities = self.store.iri("id/")
        return ", ".join(f"{iri.removeprefix(entities)} ({self.label(iri)})" for iri in iris)


def resolve_entity(store: Store, text: str) -> str:
    """The IRI of the one entity text names (see Resolver.resolve)."""
    return Resolver.build(store).resolve(text)
