"""Find the entity a person means: by IRI, path (org/itc), slug (itc), abbreviation (ITC) or name in any language.

Only exact matches resolve (names compared case-, width- and script-insensitively, so 創新科技署 finds
创新科技署); anything else is an error that lists the close matches, so a guess is never silently taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyoxigraph as ox

from hkgraph.errors import AmbiguousName, BadRequest, NotFound
from hkgraph.i18n import pick
from hkgraph.search import SearchIndex, kind_rank
from hkgraph.store import DEFAULT_BASE, Store

MAX_SUGGESTIONS = 8


def valid_iri(text: str) -> bool:
    """Whether the text is an IRI the store can look up (a name with a space or control character is not)."""
    try:
        ox.NamedNode(text)
    except ValueError:
        return False
    return True


def described(store: Store, iri: str) -> bool:
    """Whether the IRI is the subject of a triple (never for a text that makes no valid IRI)."""
    return valid_iri(iri) and any(True for _ in store.match(iri))


@dataclass
class Resolver:
    """Finds entities by the store's name index (names and slugs in normalised form)."""

    store: Store
    index: SearchIndex

    @classmethod
    def build(cls, store: Store, index: SearchIndex | None = None) -> Resolver:
        return cls(store, index if index is not None else SearchIndex.for_store(store))

    def matches(self, text: str) -> list[str]:
        """Every entity the text names exactly: as IRI, path under the base or id/, slug, or name."""
        text = text.strip()
        store = self.store
        if text.startswith(("http://", "https://")):
            if text.startswith(DEFAULT_BASE) and store.base != DEFAULT_BASE:
                text = store.iri(text[len(DEFAULT_BASE) :])  # an IRI as published names the same thing here
            return [text] if valid_iri(text) and store.mentions(text) else []
        path = text.strip("/").removeprefix("doc/")  # a path of this server's entity pages works too
        for rel in (path, "id/" + path):
            if "/" in path and described(store, store.iri(rel)):
                return [store.iri(rel)]
        return sorted(self.index.named(text))

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
        hits, _ = self.index.search(text, MAX_SUGGESTIONS * 2)
        ranked = self.index.similar(text, MAX_SUGGESTIONS, cutoff=0.6) + [h.iri for h in hits]
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
