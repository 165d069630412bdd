"""Dumps of the whole dataset (N-Quads, TriG, Turtle, JSON-LD; gzip) with SHA-256 checksums and a manifest."""

from __future__ import annotations

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
    for suffix, (fmt, media_type) in DUMP_FORMATS.items():
        payload = store.serialize(fmt)
        # mtime=0 and no file name keep the gzip bytes, and so the checksum, the same for the same data.
        compressed = gzip.compress(payload, compresslevel=9, mtime=0)
        name = f"{STEM}.{suffix}.gz"
        write_atomically(directory / name, compressed)
        statements = len(store) if fmt.supports_datasets else count_triples(store)
        dumps.append(
            Dump(
                name,
                media_type,
                len(compressed),
                len(payload),
                hashlib.sha256(compressed).hexdigest(),
                statements,
            )
        )
    manifest = Manifest(store.version, store.base, dumps)
    write_atomically(directory / CHECKSUMS, checksums_text(manifest).encode())
    write_atomically(directory / MANIFEST, json.dumps(asdict(manifest), indent=2).encode())
    return manifest


def count_triples(store: Store) -> int:
    """Distinct triples over all graphs: what a triple-only dump holds."""
    return len({ox.Triple(q.subject, q.predicate, q.object) for q in store.quads()})


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
    """The dumps of this store in directory, built first if missing or made from another version."""
    manifest = read_manifest(directory)
    if (
        manifest is None
        or manifest.version != store.version
        or not all((Path(directory) / d.name).is_file() for d in manifest.dumps)
    ):
        manifest = build_dumps(store, directory)
    return manifest
