"""The access log: one JSON line per request on stderr, written by the app, the fast path and the cache."""

from __future__ import annotations

import json
import sys
import time


def access_entry(environ, path, status, size, started, query_ms, cache, query_id) -> dict:
    """An access-log entry: who asked what, the status, size, total and query time, cache use."""
    return {
        "time": round(time.time(), 3),  # Unix seconds
        "remote": environ.get("REMOTE_ADDR"),
        "method": environ.get("REQUEST_METHOD"),
        "path": path,
        "status": status,
        "bytes": size,
        "ms": round((time.perf_counter() - started) * 1000, 2),
        "query_ms": query_ms,
        "cache": cache,
        "query_id": query_id,
        "agent": environ.get("HTTP_USER_AGENT", "")[:200],
    }


def write_access_line(entry: dict) -> None:
    """One access-log line, JSON, on stderr; straight to the stream, as a logging record would cost more
    than the rest of a cheap request."""
    sys.stderr.write(json.dumps(entry, ensure_ascii=False) + "\n")
