"""What the atheris harnesses share: coverage instrumentation of hkgraph only, and seed corpora written at
start (from queries/*.rq, already in the repository)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
from pathlib import Path


def instrumented(module_name: str):
    """Instrument the hkgraph modules imported in the block for coverage when the harness runs as a fuzzer
    (instrumenting every loaded module takes minutes); nothing when the tests import it."""
    if module_name != "__main__":
        return contextlib.nullcontext()
    import atheris

    return atheris.instrument_imports(include=["hkgraph"])


def seed_corpus(argv: list[str], seeds: list[bytes]) -> None:
    """Write the seeds into the corpus directory named on the command line (the first argument that is not
    a libFuzzer -flag), if it holds nothing yet; the fuzzer adds what it finds there."""
    folders = [Path(a) for a in argv[1:] if not a.startswith("-")]
    if not folders:
        return
    folders[0].mkdir(parents=True, exist_ok=True)
    if any(folders[0].iterdir()):
        return
    for data in seeds:
        (folders[0] / f"seed-{hashlib.sha1(data).hexdigest()[:16]}").write_bytes(data)


@contextlib.contextmanager
def no_new_descriptors():
    """No file or socket can be opened inside the block (as in the endpoint's query runner)."""
    free = os.open(os.devnull, os.O_RDONLY)
    os.close(free)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (free, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
