"""A response cache in front of Flask for repeated identical SPARQL GETs, and their 304 revalidations.

The graph is read-only, so a GET of /sparql answered 200 once (not HTML, no cookie) is answered again from
the stored status, headers and body, and a GET presenting its ETag gets 304, without running Flask at all:
that is most of the cost of a cheap request. Keyed by everything that can change the answer: the URL's
query string and the Accept and Accept-Encoding headers. Bounded in bytes (keys, bodies and a fixed cost
per entry), least recently used dropped.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import NamedTuple

from hkgraph.access_log import access_entry

ENTRY_BYTES = 1024  # what an entry costs beyond its key and body: headers, tuples, dictionary slots


class Stored(NamedTuple):
    """A cached answer as first sent."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes


def replay(stored: Stored, if_none_match: str) -> tuple[str, list[tuple[str, str]], bytes, str]:
    """Status, headers and body that answer a repeat of the request, and "hit" or "304"."""
    etag = next(v for k, v in stored.headers if k == "ETag").removeprefix("W/")
    if etag in if_none_match:
        kept = [
            (k, v)
            for k, v in stored.headers
            if k in ("ETag", "Cache-Control", "Vary") or k.startswith("Access")
        ]
        return "304 NOT MODIFIED", kept, b"", "304"
    headers = [(k, v) for k, v in stored.headers if k != "Server-Timing"] + [
        ("Server-Timing", "cache;desc=hit")
    ]
    return stored.status, headers, stored.body, "hit"


class ResponseCache:
    """WSGI middleware: replay stored /sparql GET responses; 304 when the client already has one."""

    def __init__(self, app, max_bytes: int, log=None, path: str = "/sparql"):
        self.app = app
        self.max_bytes = max_bytes
        self.log = log  # log(entry) writes an access-log line; None: no log
        self.path = path
        self.items: OrderedDict[tuple, Stored] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        query_string = environ.get("QUERY_STRING", "")
        if environ["REQUEST_METHOD"] != "GET" or environ.get("PATH_INFO") != self.path or not query_string:
            return self.app(environ, start_response)
        key = (query_string, environ.get("HTTP_ACCEPT", ""), environ.get("HTTP_ACCEPT_ENCODING", ""))
        with self.lock:
            stored = self.items.get(key)
            if stored is not None:
                self.items.move_to_end(key)
        if stored is None:
            return self.store(key, environ, start_response)
        status, headers, body, cache = replay(stored, environ.get("HTTP_IF_NONE_MATCH", ""))
        self.write_log(environ, int(status[:3]), len(body), cache, started)
        start_response(status, headers)
        return [body]

    def store(self, key: tuple, environ, start_response):
        """Run the app; keep its answer if it is a complete, cacheable 200."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)
            return start_response(status, headers, exc_info)

        chunks = self.app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        headers = dict(captured.get("headers", []))
        cacheable = (
            captured.get("status", "").startswith("200")
            and "Set-Cookie" not in headers
            and "ETag" in headers
            and not headers.get("Content-Type", "").startswith("text/html")
            and len(body) <= self.max_bytes // 8
        )
        if cacheable:
            cost = len(key[0]) + len(body) + ENTRY_BYTES
            with self.lock:
                if key not in self.items:
                    self.items[key] = Stored(captured["status"], list(captured["headers"]), body)
                    self.size += cost
                while self.size > self.max_bytes:
                    old_key, old = self.items.popitem(last=False)
                    self.size -= len(old_key[0]) + len(old.body) + ENTRY_BYTES
        return [body]

    def write_log(self, environ, status: int, size: int, cache: str, started: float) -> None:
        if self.log is None:
            return
        entry = access_entry(environ, self.path, status, size, started, 0.0, cache, None)
        self.log(entry)
