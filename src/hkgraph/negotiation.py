"""HTTP content negotiation: pick the best offered media type for an Accept header with q-values."""

from __future__ import annotations

from dataclasses import dataclass

from hkgraph.errors import NotAcceptable


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    q: float
    order: int

    def matches(self, media_type: str) -> bool:
        t, _, s = media_type.partition("/")
        return (self.type in ("*", t)) and (self.subtype in ("*", s))

    @property
    def specificity(self) -> int:
        return (self.type != "*") + (self.subtype != "*")


def parse_accept(header: str | None) -> list[MediaRange]:
    """Parse an Accept header; a missing or empty one accepts anything."""
    if not header or not header.strip():
        return [MediaRange("*", "*", 1.0, 0)]
    ranges = []
    for order, part in enumerate(header.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if "/" not in media:
            if media == "*":
                media = "*/*"
            else:
                continue
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        t, _, s = media.partition("/")
        ranges.append(MediaRange(t, s, q, order))
    return ranges


def quality(media_type: str, ranges: list[MediaRange]) -> float:
    """The q-value the client gives a media type: that of the most specific matching range."""
    matching = [r for r in ranges if r.matches(media_type)]
    if not matching:
        return 0.0
    best = max(matching, key=lambda r: r.specificity)
    return best.q


def choose(header: str | None, offered: list[str]) -> str:
    """The offered media type the client prefers most (ties go to the server's order); 406 if none."""
    ranges = parse_accept(header)
    scored = [(quality(m, ranges), -i, m) for i, m in enumerate(offered)]
    q, _, media = max(scored)
    if q <= 0:
        raise NotAcceptable(
            f"none of the requested media types ({header}) can be served; available: {', '.join(offered)}"
        )
    return media
