"""Runs SPARQL queries under hard limits: a time limit, a result cap, a memory cap, and no network.

pyoxigraph cannot cancel a running query from Python, so a query runs where it can be stopped by ending a
process. Under `hkgraph serve` that is the gunicorn sync worker itself, watched by hkgraph.sparql_watchdog
(cheapest: nothing crosses a process boundary). Anywhere else (Flask's test client, another WSGI server)
it is a runner: a child process forked from the web process, sharing its loaded store copy-on-write. The
web process waits for the runner's answer up to the time limit, then kills it (SIGKILL) and answers 503;
the next query forks a fresh runner. A runner cannot open any file or socket (RLIMIT_NOFILE is set to the
descriptors it already has), so a SERVICE or LOAD that got past the guard still cannot reach the network,
and its address space is capped. (Over an on-disk store, whose database opens its files as queries first
need them, the runner keeps room for that many descriptors: there the guard alone keeps SERVICE out.)
Either way, results are serialised once by pyoxigraph's own serialisers, within the row and byte caps.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import math
import os
import pickle
import re
import resource
import select
import signal
import socket
import struct
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import pyoxigraph as ox

from hkgraph.errors import (
    HkgraphError,
    QueryFailed,
    QueryOverMemory,
    QuerySyntaxError,
    QueryTimeout,
    RunnerDied,
)
from hkgraph.sparql_formats import BY_KEY, JSON, TSV, TURTLE, ResultFormat
from hkgraph.sparql_http_cache import ENTRY_BYTES
from hkgraph.sparql_watchdog import MEMORY_MESSAGE, Watchdog, timeout_message

CHANNEL_FD = 3  # the runner's channel: its only descriptor besides std streams and an on-disk store's files
ALARM_GRACE = 2  # seconds past the limit at which a runner that was not killed kills itself


@dataclass(frozen=True)
class Job:
    """One query to run and the limits to run it under."""

    query: str
    format_key: str
    default_graphs: tuple[str, ...] | None = None  # default-graph-uri values; None: not given
    named_graphs: tuple[str, ...] | None = None  # named-graph-uri values; None: not given
    query_dataset: bool = False  # the query has FROM / FROM NAMED (used when no *-graph-uri is given)
    max_rows: int = 100_000
    max_bytes: int = 50 * 1024 * 1024
    timeout: float = 10.0

    @functools.cached_property
    def cache_key(self) -> tuple:
        return (
            self.query,
            self.format_key,
            self.default_graphs,
            self.named_graphs,
            self.max_rows,
            self.max_bytes,
        )

    def digest(self) -> str:
        return hashlib.sha256(repr(self.cache_key).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Outcome:
    """A serialised result: the body, its format, how many rows (or triples) it holds, and why it was cut."""

    body: bytes
    format_key: str
    rows: int | None  # counted for graph results and cut results; None for a complete SELECT/ASK result
    truncated: str = ""  # "", "rows" or "bytes"
    seconds: float = 0.0

    @property
    def format(self) -> ResultFormat:
        return BY_KEY[self.format_key]


# Running one query (inside the runner) -------------------------------------------------------------


class CapReached(Exception):
    """Raised from a writer to stop pyoxigraph's serialiser (and the query feeding it) at a cap."""


class CappedWriter:
    """A binary file for pyoxigraph's serialisers that keeps at most max_bytes and counts lines."""

    def __init__(self, max_bytes: int, max_lines: int | None = None, stop: bool = True):
        self.parts: list[bytes] = []
        self.size = 0
        self.lines = 0
        self.max_bytes = max_bytes
        self.max_lines = max_lines
        self.stop = stop  # raise CapReached at the cap; else keep counting the size without storing

    def write(self, data) -> int:
        data = bytes(data)
        if self.size <= self.max_bytes:
            self.parts.append(data)
        self.size += len(data)
        self.lines += data.count(b"\n")
        over_lines = self.max_lines is not None and self.lines > self.max_lines
        if self.stop and (over_lines or self.size > self.max_bytes):
            raise CapReached
        return len(data)

    def flush(self) -> None:
        pass

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


def fit(count: int, render, max_bytes: int) -> tuple[bytes, int]:
    """render(n, writer) writes the first n items; find an n <= count whose output fits in max_bytes."""
    while True:
        writer = CappedWriter(max_bytes, stop=False)
        render(count, writer)
        if writer.size <= max_bytes or count == 0:
            return writer.getvalue(), count
        count = min(count - 1, int(count * max_bytes / writer.size * 0.95))


# Every row of a serialised SELECT result adds at least one of these (a literal may hold more), so their
# count plus one bounds the rows from above without parsing the result back.
ROW_MARKS = {"json": b"},{", "xml": b"<result", "csv": b"\n", "tsv": b"\n"}


def solutions_body(result: ox.QuerySolutions, fmt: ResultFormat, job: Job) -> bytes | None:
    """SELECT results written once by pyoxigraph in the asked format; None if they reach the byte cap or
    may hold more rows than the row cap (then they are computed again and cut by cut_solutions)."""
    writer = CappedWriter(job.max_bytes)
    try:
        result.serialize(writer, format=fmt.ox_format)
    except CapReached:
        return None
    body = writer.getvalue()
    return body if body.count(ROW_MARKS[fmt.key]) + 1 <= job.max_rows else None


def cut_solutions(result: ox.QuerySolutions, fmt: ResultFormat, job: Job) -> tuple[bytes, int, str]:
    """SELECT results cut to the caps: written as TSV first (one line per row, so rows can be counted and
    cut at a row boundary), then, for other formats, parsed back and written again by pyoxigraph."""
    writer = CappedWriter(job.max_bytes, max_lines=job.max_rows + 1)
    complete = True
    try:
        result.serialize(writer, format=ox.QueryResultsFormat.TSV)
    except CapReached:
        complete = False
    header, *lines = writer.getvalue().split(b"\n")
    rows = lines[:-1]  # the last piece is empty (complete output) or a partial row (cut output)
    truncated = "" if complete else ("rows" if len(rows) > job.max_rows else "bytes")
    rows = rows[: job.max_rows]

    def render(n: int, out) -> None:
        tsv = b"\n".join([header, *rows[:n]]) + b"\n"
        if fmt is TSV:
            out.write(tsv)
        else:
            ox.parse_query_results(tsv, ox.QueryResultsFormat.TSV).serialize(out, format=fmt.ox_format)

    body, kept = fit(len(rows), render, job.max_bytes)
    if kept < len(rows):
        truncated = "bytes"
    return body, kept, truncated


def graph_body(
    result: ox.QueryTriples, fmt: ResultFormat, job: Job, prefixes: dict | None
) -> tuple[bytes, int, str]:
    """CONSTRUCT/DESCRIBE results within the caps, serialised by pyoxigraph with the graph's prefixes."""
    triples = list(itertools.islice(result, job.max_rows + 1))
    truncated = "rows" if len(triples) > job.max_rows else ""
    triples = triples[: job.max_rows]

    def render(n: int, out) -> None:
        ox.serialize(triples[:n], out, format=fmt.ox_format, prefixes=prefixes)

    body, kept = fit(len(triples), render, job.max_bytes)
    if kept < len(triples):
        truncated = "bytes"
    return body, kept, truncated


def dataset_arguments(job: Job) -> dict:
    """The dataset to query: the *-graph-uri parameters if given, else the query's FROM, else the union."""
    if job.default_graphs is None and job.named_graphs is None:
        return {"union_default_graph": not job.query_dataset}
    return {
        "default_graph": [ox.NamedNode(g) for g in job.default_graphs or ()],
        "named_graphs": [ox.NamedNode(g) for g in job.named_graphs or ()],
    }


POSITION = re.compile(r"at (\d+):(\d+)")


def point_at_error(message: str, query: str) -> str:
    """The syntax error message with the offending line of the query and a caret under the column."""
    m = POSITION.search(message)
    lines = query.splitlines()
    if not m or not (1 <= int(m.group(1)) <= len(lines)):
        return message
    line, column = int(m.group(1)), int(m.group(2))
    message = message.replace(m.group(), f"at line {line}, column {column}", 1).replace(
        "error: error at", "error at"
    )
    return f"{message}\n  {lines[line - 1]}\n  {' ' * (column - 1)}^"


def execute(store, job: Job) -> Outcome:
    """Run one query on the store and serialise its result within the job's caps."""
    started = time.perf_counter()
    dataset = dataset_arguments(job)
    fmt = BY_KEY[job.format_key]
    try:
        result = store.query(job.query, **dataset)
        if isinstance(result, ox.QuerySolutions):
            fmt = fmt if fmt.kind == "solutions" else JSON
            body, rows, truncated = solutions_body(result, fmt, job), None, ""
            if body is None:  # over a cap, or maybe: run it again, counting the rows
                body, rows, truncated = cut_solutions(store.query(job.query, **dataset), fmt, job)
        elif isinstance(result, ox.QueryBoolean):
            fmt = fmt if fmt.kind == "solutions" else JSON
            body, rows, truncated = result.serialize(format=fmt.ox_format), None, ""
        else:
            fmt = fmt if fmt.kind == "graph" else TURTLE
            # prefixes make Turtle, TriG and RDF/XML readable; they only cost time in the other syntaxes
            readable = fmt.ox_format in (ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG, ox.RdfFormat.RDF_XML)
            body, rows, truncated = graph_body(result, fmt, job, store.prefixes() if readable else None)
    except QuerySyntaxError as err:
        raise QuerySyntaxError(point_at_error(err.message, job.query)) from None
    except (RuntimeError, OSError, ValueError, TypeError) as err:
        raise QueryFailed(f"the query failed while running: {err}") from None
    return Outcome(body, fmt.key, rows, truncated, time.perf_counter() - started)


# The runner process ---------------------------------------------------------------------------------


def send_message(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(struct.pack("!Q", len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def read_exactly(fd: int, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def receive_message(fd: int):
    """One message; most arrive whole in the first read (each side sends one, then waits for the other)."""
    data = os.read(fd, 1 << 16)
    if len(data) < 8:
        if not data:
            raise EOFError
        data += read_exactly(fd, 8 - len(data))
    (n,) = struct.unpack_from("!Q", data)
    if len(data) < 8 + n:
        data += read_exactly(fd, 8 + n - len(data))
    return pickle.loads(memoryview(data)[8:])


def runner_main(store, fd: int, memory_limit: int) -> None:
    """The runner's life: sandbox itself, then answer jobs until the worker closes the channel."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the alarm kills the runner if the worker did not
    keep = store.open_files()  # an on-disk store's database files, which its queries read
    channel = next(n for n in itertools.count(CHANNEL_FD) if n not in keep)
    if fd != channel:
        os.dup2(fd, channel)
    close_descriptors(above=channel, keep=keep)
    if memory_limit > 0:
        with open("/proc/self/statm") as statm:
            mapped = int(statm.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (mapped + memory_limit, resource.RLIM_INFINITY))
    for slot in range(channel):  # keep the slots below the channel taken, so no new descriptor fits anywhere
        try:
            os.fstat(slot)
        except OSError:
            os.open(os.devnull, os.O_RDWR)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # no new file or socket, ever; except, for an on-disk store, room for the files it opens as it reads
    resource.setrlimit(resource.RLIMIT_NOFILE, (channel + 1 + store.files_to_open(), hard))
    while True:
        try:
            job = receive_message(channel)
        except EOFError:
            return
        signal.alarm(math.ceil(job.timeout) + ALARM_GRACE)
        try:
            reply = execute(store, job)
        except HkgraphError as err:
            reply = err
        except MemoryError:
            reply = QueryOverMemory(MEMORY_MESSAGE)
        signal.alarm(0)
        send_message(channel, reply)


def close_descriptors(above: int, keep: set[int]) -> None:
    """Close every descriptor above the given one, except those to keep."""
    start = above + 1
    for fd in sorted(k for k in keep if k > above):
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _stop_process(pid: int, fd: int, owner: int) -> int:
    """Kill and reap a runner (only from the process that forked it); its wait status."""
    if os.getpid() != owner:
        return 0
    with contextlib.suppress(OSError):
        os.close(fd)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return 0


class QueryRunner:
    """One runner process: send it a job, wait up to the job's time limit, kill it if it overruns."""

    def __init__(self, store, memory_limit: int):
        ours, theirs = socket.socketpair()
        self.fd, child_fd = ours.detach(), theirs.detach()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(self.fd)
                runner_main(store, child_fd, memory_limit)
            finally:
                os._exit(0)
        os.close(child_fd)
        self.pid = pid
        self.alive = True
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)
        self._finalizer = weakref.finalize(self, _stop_process, pid, self.fd, os.getpid())

    def stop(self) -> int:
        self.alive = False
        return self._finalizer() or 0

    def run(self, job: Job) -> Outcome:
        send_message(self.fd, job)
        if not self.poller.poll(job.timeout * 1000):
            self.stop()
            raise QueryTimeout(timeout_message(job.timeout))
        try:
            reply = receive_message(self.fd)
        except EOFError:
            raise died_error(self.stop()) from None
        if isinstance(reply, BaseException):
            raise reply
        return reply


def died_error(status: int) -> HkgraphError:
    """Why a runner ended, from its wait status: the allocator's abort is the memory cap."""
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGABRT:
        return QueryOverMemory(MEMORY_MESSAGE)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM:
        return RunnerDied("the query ran past its time limit and was stopped")
    return RunnerDied("the query process stopped unexpectedly; try again, or make the query more selective")


class RunnerPool:
    """Idle runners of this process, one per concurrent query; a forked process starts its own."""

    def __init__(self, store, memory_limit: int):
        self.store = store
        self.memory_limit = memory_limit
        self.idle: list[QueryRunner] = []
        self.lock = threading.Lock()
        self.owner = os.getpid()

    def run(self, job: Job) -> Outcome:
        runner = self.checkout()
        try:
            return runner.run(job)
        finally:
            if runner.alive:
                with self.lock:
                    self.idle.append(runner)

    def checkout(self) -> QueryRunner:
        with self.lock:
            if self.owner != os.getpid():
                self.idle, self.owner = [], os.getpid()
            if self.idle:
                return self.idle.pop()
        return QueryRunner(self.store, self.memory_limit)

    def close(self) -> None:
        with self.lock:
            runners, self.idle = self.idle, []
        for runner in runners:
            runner.stop()


def entry_bytes(key: tuple, outcome: Outcome) -> int:
    """What a cached result costs: its query text (the key's first item), its body and a fixed overhead."""
    return len(key[0]) + len(outcome.body) + ENTRY_BYTES


class ResultCache:
    """Recent results by job, least recently used dropped first, bounded in bytes (the graph is read-only)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.items: OrderedDict[tuple, Outcome] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key: tuple) -> Outcome | None:
        with self.lock:
            outcome = self.items.get(key)
            if outcome is not None:
                self.items.move_to_end(key)
            return outcome

    def put(self, key: tuple, outcome: Outcome) -> None:
        if len(outcome.body) > self.max_bytes // 8:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = outcome
            self.size += entry_bytes(key, outcome)
            while self.size > self.max_bytes:
                self.size -= entry_bytes(*self.items.popitem(last=False))


class QueryEngine:
    """What the endpoint calls: a result cache in front of the place a query runs under its limits."""

    def __init__(self, store, memory_limit: int, cache_bytes: int, watchdog: Watchdog | None = None):
        self.store = store
        self.pool = RunnerPool(store, memory_limit)
        self.cache = ResultCache(cache_bytes)
        self.watchdog = watchdog  # given when the app runs in gunicorn sync workers (hkgraph serve)

    def run(self, job: Job, environ: dict) -> tuple[Outcome, bool]:
        """The outcome and whether it came from the cache. A query to a remote store runs here (the
        triplestore enforces the time limit); in a gunicorn worker, in the worker under the watchdog;
        elsewhere (tests, other servers) in a killable runner process."""
        cached = self.cache.get(job.cache_key)
        if cached is not None:
            return cached, True
        if self.store.remote:
            outcome = execute(self.store.with_timeout(job.timeout), job)
        elif self.watchdog is not None and "gunicorn.socket" in environ:
            outcome = self.watchdog.run(job.timeout, environ, functools.partial(execute, self.store, job))
        else:
            outcome = self.pool.run(job)
        self.cache.put(job.cache_key, outcome)
        return outcome, False
