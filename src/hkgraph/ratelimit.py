"""Fair use: per-client limits on concurrent requests, query time per minute and failing queries.

Like the Wikidata Query Service, each client (an IP address; an IPv6 client by its /64) may have a few
requests running at once, may use so many seconds of query time per minute, and may send so many queries
that fail per minute; past a limit it gets 429 with Retry-After. Loopback clients are exempt unless the
config says otherwise. Which requests count: every request the app answers (through Flask, or the SPARQL
fast path, hkgraph.sparql_fastpath) except static files, /healthz and CORS preflights. A SPARQL query is charged its query time (0 when the result cache answers it); any other
request (a page, a diagram, search, a dump) is charged the time the app took to answer it, since it runs
queries of its own. Only /sparql requests count as failing queries, and only they are refused for them.
Repeated identical GETs that hkgraph.sparql_http_cache answers in front of Flask run no query and are not
counted.

The counts live in a small table in memory shared by every gunicorn worker: an anonymous shared mapping made
in the master before the workers fork, guarded by a POSIX record lock on a temporary file (the kernel drops
it if its holder dies) and, within a process, a thread lock. Each running request records its process id in
its client's row; a slot whose process died (a worker ended mid-query) is given back, charged the full query
time limit, when its client next reaches the concurrency limit. A runaway query stopped by the watchdog
(hkgraph.sparql_watchdog) is charged its time when the watchdog answers, before the worker ends.
"""

from __future__ import annotations

import fcntl
import functools
import ipaddress
import math
import mmap
import os
import struct
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass

from flask import Flask, Response, g, request

from hkgraph.errors import HkgraphError, RateLimited

WINDOW = 60.0  # seconds: query time and failing queries are counted per client per minute
MAX_CONCURRENT = 16  # the most running requests a row can record per client
ROWS = 4096  # clients the table can follow at once
PROBES = 8  # rows where a client's row may be (from the hash of its address on)
EXEMPT_ENDPOINTS = {None, "static", "home.healthz"}  # None: no such route (404)
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

# A client's row: its key, when its window began, query seconds and failing queries in the window, and the
# process ids of its running requests (0: a free slot).
ROW = struct.Struct(f"=16sddi{MAX_CONCURRENT}i")
EMPTY_KEY = bytes(16)


@functools.lru_cache(maxsize=4096)
def client_key(address: str) -> tuple[bytes, bool]:
    """The client's key in the table (its IPv4 address, or the /64 of its IPv6 address) and whether it is a
    loopback address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # not an IP address (a Unix socket): one client
        return b"?" + address.encode()[:15].ljust(15, b"\0"), False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    loopback = any(ip in network for network in LOOPBACK if network.version == ip.version)
    if ip.version == 4:
        return b"4" + ip.packed.ljust(15, b"\0"), loopback
    return b"6" + ip.packed[:8].ljust(15, b"\0"), loopback


def client_address(environ: dict, proxies: tuple) -> str:
    """The client's address: REMOTE_ADDR, or, when that is a trusted proxy, the nearest X-Forwarded-For
    entry (from the right) that is not a trusted proxy itself. Never X-Forwarded-For from anyone else."""
    address = environ.get("REMOTE_ADDR") or ""
    if not proxies or not is_in(address, proxies):
        return address
    for entry in reversed(environ.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        entry = entry.strip()
        if not is_in(entry, proxies):
            return entry if is_address(entry) else address
        address = entry
    return address


def is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_in(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks if network.version == ip.version)


def proxy_networks(values: list[str]) -> tuple:
    """The trusted proxies' addresses or networks; a value that is neither is a user's error."""
    networks = []
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise HkgraphError(f"trusted proxy {part!r} is not an IP address or network") from None
    return tuple(networks)


def running_requests(holders: list[int]) -> int:
    return len(holders) - holders.count(0)


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class SharedTable:
    """Rows of per-client counts in memory shared by every process forked after it was made."""

    def __init__(self, rows: int = ROWS):
        self.rows = rows
        self.memory = mmap.mmap(-1, rows * ROW.size)  # anonymous and shared: forked workers see one table
        # kept open for the table's life; a POSIX lock on it is per process, and dropped if its holder dies
        self.lock_file = tempfile.TemporaryFile()  # noqa: SIM115
        self.thread_lock = threading.Lock()  # so threads of one process take turns too

    def lock(self) -> None:
        self.thread_lock.acquire()
        try:
            fcntl.lockf(self.lock_file, fcntl.LOCK_EX)
        except BaseException:  # e.g. gunicorn's SIGQUIT handler exiting while this waits
            self.thread_lock.release()
            raise

    def unlock(self) -> None:
        fcntl.lockf(self.lock_file, fcntl.LOCK_UN)
        self.thread_lock.release()

    def read(self, offset: int) -> list:
        return list(ROW.unpack_from(self.memory, offset))

    def write(self, offset: int, row: list) -> None:
        ROW.pack_into(self.memory, offset, *row)

    def find(self, key: bytes, now: float) -> int | None:
        """The offset of the client's row (a free or finished row is taken for a new client); None if
        every row it may use belongs to a client with requests running (it is then not counted)."""
        start = zlib.crc32(key)
        spare = None
        for probe in range(PROBES):
            offset = (start + probe) % self.rows * ROW.size
            stored = self.memory[offset : offset + 16]
            if stored == key:
                return offset
            if spare is None and (stored == EMPTY_KEY or self.is_finished(offset, now)):
                spare = offset
        if spare is not None:
            self.write(spare, [key, now, 0.0, 0] + [0] * MAX_CONCURRENT)
        return spare

    def is_finished(self, offset: int, now: float) -> bool:
        """Whether a row's window is over and it has nothing running: its client may be forgotten."""
        row = self.read(offset)
        return now - row[1] >= WINDOW and not any(row[4:])


@dataclass
class Ticket:
    """A counted request while it runs."""

    key: bytes
    sparql: bool  # a /sparql request: its failures count
    holds_slot: bool  # its process id is recorded in its client's row


class RateLimiter:
    """The app's fair-use limits: admit() a request or refuse it with 429, finish() it to charge its time."""

    def __init__(self, config, clock=time.monotonic):
        self.max_concurrent = config.max_concurrent_per_client
        self.query_seconds = config.query_seconds_per_minute
        self.max_errors = config.errors_per_minute
        self.limit_loopback = config.limit_loopback
        self.proxies = proxy_networks(config.trusted_proxies)
        self.query_timeout = config.query_timeout  # charged for a request whose process died
        self.clock = clock  # monotonic seconds; the same in every process (CLOCK_MONOTONIC)
        if not 0 <= self.max_concurrent <= MAX_CONCURRENT:
            raise HkgraphError(f"concurrent requests per client must be 0 (no limit) to {MAX_CONCURRENT}")
        self.enabled = bool(self.max_concurrent or self.query_seconds or self.max_errors)
        self.table = SharedTable() if self.enabled else None
        policies = []
        if self.query_seconds:
            policies.append(f'"query-time";q={self.query_seconds:g};w={WINDOW:g}')
        if self.max_errors:
            policies.append(f'"errors";q={self.max_errors};w={WINDOW:g}')
        if self.max_concurrent:
            policies.append(f'"concurrent";q={self.max_concurrent};qu="concurrent-requests"')
        self.policy = ", ".join(policies)

    def key(self, environ: dict) -> bytes | None:
        """The client's key, or None if its requests are not limited (no limits, or loopback)."""
        if not self.enabled:
            return None
        key, loopback = client_key(client_address(environ, self.proxies))
        return None if loopback and not self.limit_loopback else key

    def admit(self, key: bytes, sparql: bool) -> Ticket:
        """Record a request of the client as running, or raise RateLimited if it is over a limit."""
        table, now, pid = self.table, self.clock(), os.getpid()
        table.lock()
        try:
            offset = table.find(key, now)
            if offset is None:
                return Ticket(key, sparql, holds_slot=False)
            row = table.read(offset)
            if now - row[1] >= WINDOW:
                row[1:4] = [now, 0.0, 0]
            holders = row[4:]
            if self.max_concurrent and running_requests(holders) >= self.max_concurrent:
                self.reclaim(row, holders)
            self.check(row, holders, now, sparql)
            holds_slot = 0 in holders
            if holds_slot:
                row[4 + holders.index(0)] = pid
            table.write(offset, row)
            return Ticket(key, sparql, holds_slot)
        finally:
            table.unlock()

    def reclaim(self, row: list, holders: list) -> None:
        """Free the slots of processes that died running a request, charging each the full time limit."""
        for i, pid in enumerate(holders):
            if pid and pid != os.getpid() and not is_alive(pid):
                holders[i] = row[4 + i] = 0
                row[2] += self.query_timeout

    def check(self, row: list, holders: list, now: float, sparql: bool) -> None:
        """Raise RateLimited for the first limit the client's row is at."""
        retry = max(1, math.ceil(row[1] + WINDOW - now))
        if self.max_errors and sparql and row[3] >= self.max_errors:
            raise RateLimited(
                f"too many failing queries: {row[3]} in the last minute from your address, and at most "
                f"{self.max_errors} are allowed per minute (errors_per_minute). Fix the query, then try again "
                f"in {retry} s.",
                retry,
                self.policy,
                "errors",
            )
        if self.query_seconds and row[2] >= self.query_seconds:
            raise RateLimited(
                f"query time used up: your requests took {row[2]:.1f} s of query time in the last minute, and "
                f"{self.query_seconds:g} s are allowed per minute (query_seconds_per_minute). Try again in "
                f"{retry} s, and make expensive queries more selective.",
                retry,
                self.policy,
                "query-time",
            )
        if self.max_concurrent and running_requests(holders) >= self.max_concurrent:
            raise RateLimited(
                f"too many requests at once: at most {self.max_concurrent} of your requests may run at the "
                f"same time (max_concurrent_per_client). Wait for one to finish, then try again.",
                1,
                self.policy,
                "concurrent",
            )

    def finish(self, ticket: Ticket, seconds: float, failed: bool) -> None:
        """Charge a finished request's time (and its failure) to its client, and free its slot."""
        table, now, pid = self.table, self.clock(), os.getpid()
        table.lock()
        try:
            offset = table.find(ticket.key, now)
            if offset is None:
                return
            row = table.read(offset)
            if ticket.holds_slot and pid in row[4:]:
                row[4 + row[4:].index(pid)] = 0
            if now - row[1] >= WINDOW:
                row[1:4] = [now, 0.0, 0]
            row[2] += seconds
            row[3] += int(failed and ticket.sparql)
            table.write(offset, row)
        finally:
            table.unlock()

    def usage(self, key: bytes) -> tuple[int, float, int]:
        """The client's running requests, and its query seconds and failing queries in this window."""
        self.table.lock()
        try:
            offset = self.table.find(key, self.clock())
            row = self.table.read(offset) if offset is not None else [key, 0.0, 0.0, 0]
            running = running_requests(row[4:])
            return (running, 0.0, 0) if self.clock() - row[1] >= WINDOW else (running, row[2], row[3])
        finally:
            self.table.unlock()


def charged_seconds() -> float:
    """What a request costs its client: its query time if it ran a SPARQL query, else the app's time."""
    query_ms = g.get("query_ms")
    if query_ms is not None:
        return query_ms / 1000
    return time.perf_counter() - g.get("started", time.perf_counter())


def init_app(app: Flask) -> None:
    """Admit each counted request before it runs (429 when its client is over a limit); charge it after."""
    limiter = RateLimiter(app.config["HKGRAPH"])
    app.extensions["hkgraph.ratelimit"] = limiter

    @app.before_request
    def admit_request():
        if request.method == "OPTIONS" or request.endpoint in EXEMPT_ENDPOINTS:
            return
        key = limiter.key(request.environ)
        if key is None:
            return
        try:
            g.rate_ticket = limiter.admit(key, sparql=request.blueprint == "sparql")
        except RateLimited as err:
            g.rate_limit = err.limit  # for the access log
            raise

    @app.after_request
    def charge_request(response: Response) -> Response:
        ticket = g.pop("rate_ticket", None)
        if ticket is not None:
            limiter.finish(ticket, charged_seconds(), failed=response.status_code >= 400)
        return response

    @app.teardown_request
    def free_slot(error):  # a request that ended in an exception nobody handled
        ticket = g.pop("rate_ticket", None)
        if ticket is not None:
            limiter.finish(ticket, charged_seconds(), failed=True)
