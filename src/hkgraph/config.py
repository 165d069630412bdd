"""Settings of the web app, passed to create_app; no module reads globals at import."""

from __future__ import annotations

from dataclasses import dataclass, field

from hkgraph.store import DEFAULT_BASE, PROJECT_ROOT


@dataclass
class Config:
    """Everything the app can be told. Defaults serve the built-in graph."""

    base_uri: str = DEFAULT_BASE
    data: list[str] = field(default_factory=list)  # RDF files instead of the built-in graph
    validate_data: bool = False  # refuse data files that break the SHACL shapes (`hkgraph serve` sets it)
    store_dir: str = ""  # an on-disk store made by `hkgraph build`, opened read-only, instead
    endpoint: str = ""  # a SPARQL 1.1 endpoint holding the dataset (`hkgraph load`), instead
    query_timeout: float = 10.0  # seconds; also caps a request's timeout= parameter
    max_rows: int = 100_000
    max_result_bytes: int = 50 * 1024 * 1024
    max_request_bytes: int = 1024 * 1024
    query_memory_bytes: int = 1024 * 1024 * 1024  # memory a query may add; 0: no cap
    # Run queries in the gunicorn sync worker itself, under a watchdog that ends the worker on an overrun
    # (`hkgraph serve` sets this); else each in a killable runner process (hkgraph.sparql_runner)
    queries_in_worker: bool = False
    result_cache_bytes: int = 64 * 1024 * 1024  # per worker process and cache (whole GET answers; results)
    cache_max_age: int = 300  # seconds, in Cache-Control of query results
    access_log: bool = False  # one JSON line per request on stderr
    # Fair use per client (hkgraph.ratelimit, docs/sparql.md); 0: no such limit
    max_concurrent_per_client: int = 3  # requests running at once (each holds a gunicorn sync worker)
    query_seconds_per_minute: float = 60.0  # query time per minute: on average one worker's time
    errors_per_minute: int = 30  # failing /sparql requests per minute
    limit_loopback: bool = False  # apply the limits to loopback clients too (tests); else they are exempt
    trusted_proxies: list[str] = field(default_factory=list)  # their X-Forwarded-For names the client
    cors: bool = True
    testing: bool = False
    licence: str = "https://creativecommons.org/licenses/by/4.0/"
    dumps_dir: str = str(PROJECT_ROOT / "build" / "dumps")  # built on first use if missing or stale
    chapter_file: str = ""  # the chapter's Markdown, to place quotes in paragraphs; "" finds it

    @classmethod
    def from_mapping(cls, values: dict | None) -> Config:
        values = dict(values or {})
        known = {k: values.pop(k) for k in list(values) if k in cls.__dataclass_fields__}
        return cls(**known)
