"""Dumps of the whole dataset (N-Quads, TriG, Turtle, JSON-LD; gzip) with SHA-256 checksums and a manifest."""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import pyoxigraph as ox

from hkgraph.store import Store

MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"
STEM = "hkgraph"

# name suffix → (syntax, media type of the content inside the gzip)
DUMP_FORMATS = {
    "nq": (ox.RdfFormat.N_QUADS, "application/n-quads"),
    "trig": (ox.RdfFormat.TRIG, "application/trig"),
    "ttl": (ox.RdfFormat.TURTLE, "text/turtle"),
    "jsonld": (ox.RdfFormat.JSON_LD, "application/ld+json"),
}


@dataclass(frozen=True)
class Dump:
    """One dump file: its name, what is inside, its size and checksum."""

    name: str
    media_type: str  # of the uncompressed content
    bytes: int  # of the gzip file
    uncompressed_bytes: int
    sha256: str  # of the gzip file, as sha256sum prints it
    statements: int  # quads for dataset syntaxes, triples for Turtle


@dataclass(frozen=True)
class Manifest:
    """What a dumps folder holds and for which version of the store it was built."""

    version: str
    base: str
    dumps: list[Dump]


def build_dumps(store: Store, directory: str | Path) -> Manifest:
    """Write every dump, SHA256SUMS and manifest.json into directory; each file replaced atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dumps = []
    quads = sorted(stable_blank_nodes(list(store.quads())), key=str)
    triples = sorted({ox.Triple(q.subject, q.predicate, q.object) for q in quads}, key=str)
    for suffix, (fmt, media_type) in DUMP_FORMATS.items():
        statements = quads if fmt.supports_datasets else triples
        payload = ox.serialize(statements, format=fmt, prefixes=store.prefixes())
        # mtime=0 and no file name keep the gzip bytes, and so the checksum, the same for the same data.
        compressed = gzip.compress(payload, compresslevel=9, mtime=0)
        name = f"{STEM}.{suffix}.gz"
        write_atomically(directory / name, compressed)
        sha256 = hashlib.sha256(compressed).hexdigest()
        dumps.append(Dump(name, media_type, len(compressed), len(payload), sha256, len(statements)))
    manifest = Manifest(store.version, store.base, dumps)
    write_atomically(directory / CHECKSUMS, checksums_text(manifest).encode())
    write_atomically(directory / MANIFEST, json.dumps(asdict(manifest), indent=2).encode())
    return manifest


def stable_blank_nodes(quads: list[ox.Quad]) -> list[ox.Quad]:
    """Name blank nodes by where they hang and what they hold, so the same data dumps to the same bytes.

    pyoxigraph gives blank nodes fresh random names at every load; a name made from the node's parents and
    the predicates from them (up to an IRI) and from its own triples (down to IRIs and literals) is the same.
    """
    below: dict[ox.BlankNode, list[ox.Quad]] = {}
    above: dict[ox.BlankNode, list[ox.Quad]] = {}
    for q in quads:
        if isinstance(q.subject, ox.BlankNode):
            below.setdefault(q.subject, []).append(q)
        if isinstance(q.object, ox.BlankNode):
            above.setdefault(q.object, []).append(q)

    def content(node: ox.BlankNode, depth: int = 0) -> str:
        if depth > 50:
            return "[...]"
        parts = sorted(
            f"{q.predicate} {content(q.object, depth + 1) if isinstance(q.object, ox.BlankNode) else q.object}"
            for q in below.get(node, [])
        )
        return "[" + "; ".join(parts) + "]"

    names: dict[ox.BlankNode, ox.BlankNode] = {}

    def name(node: ox.BlankNode, depth: int = 0) -> ox.BlankNode:
        """A hash of the node's parents (by their own names) and predicates from them, and of its content."""
        if node not in names:
            parents = sorted(
                f"{name(q.subject, depth + 1) if isinstance(q.subject, ox.BlankNode) and depth < 50 else q.subject}"
                f" {q.predicate}"
                for q in above.get(node, [])
            )
            text = "(" + ", ".join(parents) + ")" + content(node)
            names[node] = ox.BlankNode("b" + hashlib.sha256(text.encode()).hexdigest()[:24])
        return names[node]

    for node in set(below) | set(above):
        name(node)

    def rename(term):
        return names.get(term, term) if isinstance(term, ox.BlankNode) else term

    return [ox.Quad(rename(q.subject), q.predicate, rename(q.object), q.graph_name) for q in quads]


def checksums_text(manifest: Manifest) -> str:
    """The dumps' checksums in the format `sha256sum -c` reads."""
    return "".join(f"{d.sha256}  {d.name}\n" for d in manifest.dumps)


def write_atomically(path: Path, data: bytes) -> None:
    """Write a file so that a reader sees the old or the new content, never half of it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(directory: str | Path) -> Manifest | None:
    """The manifest of a dumps folder, or None if there is none or it cannot be read."""
    path = Path(directory) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Manifest(data["version"], data["base"], [Dump(**d) for d in data["dumps"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure_dumps(store: Store, directory: str | Path) -> Manifest:
    """The dumps of this store in directory, built first if missing or made from other data.

    A lock file makes concurrent callers (gunicorn workers) wait for one build instead of racing.
    One folder holds the dumps of one dataset: servers of different data need different folders.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = read_manifest(directory)
        if (
            manifest is None
            or manifest.version != store.version
            or not all((directory / d.name).is_file() for d in manifest.dumps)
        ):
            manifest = build_dumps(store, directory)
        return manifest
