"""`make soak`: a bounded run of mixed traffic against `hkgraph serve` on 127.0.0.1, with runaway queries.

It starts `hkgraph serve` (gunicorn, default workers, a 2 s query limit so runaway queries are stopped and
their workers replaced often, result caches of 4 MB so they are full early in a worker's life) on a free
loopback port, then:

1. measures the latency of simple SPARQL queries (label lookup, 2-hop join, GROUP BY, DESCRIBE; each
   distinct, so no cache answers it) from one client process alone: the unloaded p99;
2. runs the mixed load for --seconds from several client processes: simple queries and DESCRIBE with
   rotating parameters (caches answer some, not all), entity pages as HTML and Turtle, search, diagrams
   (SVG), dumps, /healthz, bodies over the size cap (413), clients that hang up mid-response (read a few
   bytes of a large answer, then close or reset) or mid-request (send half a POST body, then close); and
   from one more, runaway queries (cross joins with COUNT, or GROUP BY and ORDER BY, that run into the time
   limit: 503), a quarter of them abandoned by their client while they run. The probe client of 1 keeps
   measuring simple queries meanwhile: the loaded p99; and once more alone after the load, to show how
   much the machine's other work moved the baseline;
3. samples the memory (RSS, PSS and private USS from /proc/PID/smaps_rollup) of the master and of every
   worker, by pid, every few seconds, and reports each one's growth after warm-up.

Targets (exit status 1 when one fails): no failed response (any status but the designed limits: 503 for a
runaway query, 413 for a body over the cap), no connection error or hung connection, no error in the
server's log, no connection left open at the end, the server still answering; no worker's private memory
(USS) grows by more than MEMORY_BOUND_MB between its first sample after warm-up and its last, nor the
master's RSS; loaded p99 of simple queries at most 3x the unloaded p99. Prints a table and writes it to
bench/results/soak-latest.md (and the figures to soak-latest.json).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import http.client
import io
import json
import multiprocessing
import os
import random
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
VENV_BIN = Path(sys.executable).parent
QUERY_TIMEOUT = 2.0  # the server's query limit in seconds: short, so runaway queries are stopped often
CACHE_MB = (
    4  # the server's result caches (per worker and cache): small, so they fill in a worker's first minute
)
CLIENT_TIMEOUT = 40.0  # seconds without an answer after which a connection counts as hung
SAMPLE_SECONDS = 2.0  # between memory samples
WARM_SECONDS = 20.0  # a worker's samples count for growth from this long after it is first seen
# Most a worker's memory may grow after warm-up: its two result caches filling, and 16 MB for all else it builds
# (search index, rendered diagrams, ...) and what the allocator keeps; the master's too
MEMORY_BOUND_MB = 2 * CACHE_MB + 16
P99_RATIO = 3.0  # most the loaded p99 of simple queries may be, as a multiple of the unloaded p99
PROBE_PAUSE = 0.05  # seconds between two probe queries
CLIENT_NICE = 10  # the load clients' niceness
BASE = "https://w3id.org/hkgraph/"  # the base IRI the server mints under (`hkgraph serve`'s default)
MB = 1024 * 1024

PREFIXES = "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\nPREFIX org: <http://www.w3.org/ns/org#>\n"
SIMPLE = ("label lookup", "2-hop join", "GROUP BY", "DESCRIBE")
RUNAWAY_QUERIES = (
    "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }",
    "SELECT ?a (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f } GROUP BY ?a ORDER BY DESC(?n)",
)
DUMPS = ("hkgraph.nq.gz", "hkgraph.trig.gz", "hkgraph.ttl.gz", "hkgraph.jsonld.gz")
BIG_QUERY = "SELECT * WHERE { ?s ?p ?o } LIMIT {n}"  # about 1 MB of CSV for the whole graph
EXPECTED = {  # statuses a class is designed to get, else 200 (0: the client hung up before any answer)
    "runaway query": {503},
    "runaway query, hung up": {0},
    "body over the cap": {413},
    "hang up mid-request": {0},
}
RUNAWAY_MIX = {"runaway query": 3, "runaway query, hung up": 1}  # the runaway client's
MIX = {  # request class: weight in the load clients' mix
    "label lookup": 10,
    "2-hop join": 6,
    "GROUP BY": 4,
    "DESCRIBE": 6,
    "page HTML": 8,
    "page Turtle": 6,
    "search": 6,
    "diagram SVG": 4,
    "dump": 2,
    "healthz": 4,
    "body over the cap": 1,
    "hang up mid-response": 2,
    "hang up mid-request": 2,
}


@dataclass
class Target:
    """The server under test and what to ask it about."""

    host: str
    port: int
    entities: list[str]  # base-relative paths of documents, e.g. doc/org/itc
    labels: list[tuple[str, str]]  # (text, language tag)
    words: list[str]  # search words
    max_request_bytes: int = 1024 * 1024
    agent: str = "hkgraph-soak"  # User-Agent, so the server's access log tells the clients apart


@dataclass
class Plan:
    """One client process: which requests, how long, how long it waits between two."""

    target: Target
    mix: dict[str, int]
    deadline: float  # time.monotonic(), the same clock in every process on Linux
    think: float  # mean seconds between two requests (exponential)
    seed: int


@dataclass
class Tally:
    """What one or more clients saw: statuses and connection errors per class, latencies in seconds."""

    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    errors: dict[str, dict[str, int]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)

    def record(self, name: str, status: int | None, error: str | None, seconds: float) -> None:
        if error is not None:
            counts = self.errors.setdefault(name, {})
            counts[error] = counts.get(error, 0) + 1
            return
        counts = self.statuses.setdefault(name, {})
        counts[status] = counts.get(status, 0) + 1
        self.latencies.setdefault(name, []).append(seconds)

    def add(self, other: Tally) -> None:
        for name, counts in other.statuses.items():
            for status, n in counts.items():
                self.statuses.setdefault(name, {}).setdefault(status, 0)
                self.statuses[name][status] += n
        for name, counts in other.errors.items():
            for error, n in counts.items():
                self.errors.setdefault(name, {}).setdefault(error, 0)
                self.errors[name][error] += n
        for name, values in other.latencies.items():
            self.latencies.setdefault(name, []).extend(values)

    def failed(self, name: str) -> int:
        """Answers other than the ones this class is designed to get."""
        expected = EXPECTED.get(name, {200})
        return sum(n for status, n in self.statuses.get(name, {}).items() if status not in expected)

    def requests(self, name: str) -> int:
        return sum(self.statuses.get(name, {}).values()) + sum(self.errors.get(name, {}).values())


# Requests: each sends one and returns the status (0: hung up before any answer, by design) ----------------


def get(target: Target, path: str, headers: dict | None = None) -> int:
    """GET path and read the whole answer."""
    connection = http.client.HTTPConnection(target.host, target.port, timeout=CLIENT_TIMEOUT)
    try:
        connection.request("GET", path, headers={"User-Agent": target.agent, **(headers or {})})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def post(target: Target, path: str, body: bytes, content_type: str) -> int:
    connection = http.client.HTTPConnection(target.host, target.port, timeout=CLIENT_TIMEOUT)
    try:
        connection.request(
            "POST", path, body=body, headers={"User-Agent": target.agent, "Content-Type": content_type}
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def sparql_get(target: Target, query: str, accept: str = "application/sparql-results+json") -> int:
    return get(target, "/sparql?" + urlencode({"query": query}), {"Accept": accept})


def simple_query(kind: str, rng: random.Random, target: Target, unique: str) -> tuple[str, str]:
    """A simple query of a kind, with parameters from rng, and its Accept; unique (if given) is added as a
    comment, so that no cache can answer it."""
    comment = f"\n# {unique}" if unique else ""
    if kind == "label lookup":
        text, lang = rng.choice(target.labels)
        literal = json.dumps(text, ensure_ascii=False) + (f"@{lang}" if lang else "")
        query = PREFIXES + f"SELECT ?s WHERE {{ ?s rdfs:label {literal} }}"
    elif kind == "2-hop join":
        lang = rng.choice(("en", "zh-Hans", "zh-Hant"))
        query = PREFIXES + (
            "SELECT ?unit ?parent ?label WHERE { ?unit org:subOrganizationOf ?parent . "
            f'?parent rdfs:label ?label FILTER(langMatches(lang(?label), "{lang}")) }} LIMIT {rng.randint(1, 300)}'
        )
    elif kind == "GROUP BY":
        query = (
            "SELECT ?class (COUNT(?s) AS ?n) WHERE { ?s a ?class } GROUP BY ?class ORDER BY DESC(?n) "
            f"LIMIT {rng.randint(1, 100)}"
        )
    else:
        iri = BASE + "id/" + rng.choice(target.entities).removeprefix("doc/")
        return f"DESCRIBE <{iri}>{comment}", "text/turtle"
    return query + comment, "application/sparql-results+json"


def ask_simple(kind: str, target: Target, rng: random.Random, unique: str = "") -> int:
    query, accept = simple_query(kind, rng, target, unique)
    return sparql_get(target, query, accept)


def page(target: Target, rng: random.Random, accept: str) -> int:
    return get(
        target, "/" + quote(rng.choice(target.entities)), {"Accept": accept, "Accept-Encoding": "gzip"}
    )


def runaway(target: Target, rng: random.Random, unique: str) -> int:
    """A query that runs into the time limit; its worker answers 503 and is replaced."""
    return sparql_get(target, rng.choice(RUNAWAY_QUERIES) + f"\n# {unique}")


def over_the_cap(target: Target) -> int:
    """A POST body just over the server's cap: 413."""
    body = b"query=" + b"%20" * ((target.max_request_bytes + 4096) // 3)
    return post(target, "/sparql", body, "application/x-www-form-urlencoded")


def head(method: str, path: str, target: Target, headers: str = "") -> bytes:
    """The request line and headers of a request sent over a bare socket."""
    return f"{method} {path} HTTP/1.1\r\nHost: {target.host}\r\nUser-Agent: {target.agent}\r\n{headers}\r\n".encode()


def hang_up(sock: socket.socket, rng: random.Random) -> None:
    """Close a socket, half the time with a reset (as a killed client does) instead of a FIN."""
    if rng.random() < 0.5:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def hang_up_mid_response(target: Target, rng: random.Random) -> int:
    """Ask for a large answer, read its first bytes, then hang up."""
    if rng.random() < 0.5:
        path = "/sparql?" + urlencode({"query": BIG_QUERY.replace("{n}", str(rng.randint(5000, 9000)))})
        headers = "Accept: text/csv\r\n"
    else:
        path, headers = "/dumps/" + rng.choice(DUMPS), ""
    with socket.create_connection((target.host, target.port), timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(head("GET", path, target, headers))
        first = sock.recv(64)
        hang_up(sock, rng)
    if not first:
        raise ConnectionResetError("closed before any answer")
    return int(first.split()[1])


def hang_up_during_runaway(target: Target, rng: random.Random, unique: str) -> int:
    """Send a runaway query and hang up while it runs, long before its time limit."""
    path = "/sparql?" + urlencode({"query": rng.choice(RUNAWAY_QUERIES) + f"\n# {unique}"})
    with socket.create_connection((target.host, target.port), timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(head("GET", path, target))
        time.sleep(QUERY_TIMEOUT / 4)
        hang_up(sock, rng)
    return 0


def hang_up_mid_request(target: Target, rng: random.Random) -> int:
    """Send the headers and half the body of a POST, then close."""
    body = urlencode({"query": "SELECT * WHERE { ?s ?p ?o } LIMIT " + str(rng.randint(1, 1000))}).encode()
    headers = f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
    with socket.create_connection((target.host, target.port), timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(head("POST", "/sparql", target, headers) + body[: len(body) // 2])
    return 0


def send(name: str, target: Target, rng: random.Random, unique: str) -> int:
    """One request of a class; its status."""
    if name in SIMPLE:
        return ask_simple(name, target, rng)
    if name == "page HTML":
        return page(target, rng, "text/html")
    if name == "page Turtle":
        return page(target, rng, "text/turtle")
    if name == "search":
        return get(target, "/search?" + urlencode({"q": rng.choice(target.words), "format": "json"}))
    if name == "diagram SVG":
        return get(target, "/" + quote(rng.choice(target.entities)) + "/diagram.svg")
    if name == "dump":
        return get(target, "/dumps/" + rng.choice(DUMPS))
    if name == "healthz":
        return get(target, "/healthz")
    if name == "runaway query":
        return runaway(target, rng, unique)
    if name == "runaway query, hung up":
        return hang_up_during_runaway(target, rng, unique)
    if name == "body over the cap":
        return over_the_cap(target)
    if name == "hang up mid-response":
        return hang_up_mid_response(target, rng)
    if name == "hang up mid-request":
        return hang_up_mid_request(target, rng)
    raise ValueError(f"no request class {name!r}")


def timed(tally: Tally, name: str, request, *args) -> None:
    """Run request(*args) and record its status (or connection error) and time under name."""
    started = time.perf_counter()
    try:
        status, error = request(*args), None
    except (OSError, http.client.HTTPException) as err:
        status, error = None, type(err).__name__
    tally.record(name, status, error, time.perf_counter() - started)


def client(plan: Plan) -> Tally:
    """A client process: requests of the plan's mix, one at a time, until its deadline. It runs at a lower
    priority than the server and the probe: its load is meant to come from elsewhere, not from their CPUs."""
    os.nice(CLIENT_NICE)
    rng = random.Random(plan.seed)
    target = dataclasses.replace(plan.target, agent=f"hkgraph-soak client {plan.seed}")
    names, weights = list(plan.mix), list(plan.mix.values())
    tally = Tally()
    count = 0
    while time.monotonic() < plan.deadline:
        name = rng.choices(names, weights)[0]
        count += 1
        timed(tally, name, send, name, target, rng, f"client {plan.seed} request {count}")
        time.sleep(min(rng.expovariate(1 / plan.think), max(0.0, plan.deadline - time.monotonic())))
    return tally


def probe(target: Target, deadline: float, seed: int) -> Tally:
    """Simple queries one after another until the deadline, each distinct (never from a cache). It runs in a
    process of its own, so that nothing else in the process (the memory sampler) delays it."""
    rng = random.Random(seed)
    target = dataclasses.replace(target, agent="hkgraph-soak probe")
    tally = Tally()
    count = 0
    while time.monotonic() < deadline:
        kind = SIMPLE[count % len(SIMPLE)]
        count += 1
        timed(tally, kind, ask_simple, kind, target, rng, f"probe {seed} {count}")
        time.sleep(PROBE_PAUSE)
    return tally


# Memory of the server's processes --------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The processes whose parent is pid (gunicorn's workers, for its master)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry))
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time a process and its ended children used (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def server_cpu_seconds(master: int) -> float:
    """CPU time the server used so far: its master and workers, and the workers that ended."""
    return sum(cpu_seconds(pid) for pid in [master, *children(master)])


def memory(pid: int) -> tuple[int, int, int] | None:
    """RSS, PSS and USS (private pages) of a process in bytes; None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    kb = {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+) kB", text, re.M)}
    return kb["Rss"] * 1024, kb["Pss"] * 1024, (kb["Private_Clean"] + kb["Private_Dirty"]) * 1024


class MemorySampler(threading.Thread):
    """Every SAMPLE_SECONDS, the memory of the master and of each of its workers, by pid."""

    def __init__(self, master: int, every: float = SAMPLE_SECONDS):
        super().__init__(name="memory-sampler", daemon=True)
        self.master = master
        self.every = every
        self.samples: dict[int, list[tuple[float, int, int, int]]] = {}  # pid: (time, rss, pss, uss)
        self.stopped = threading.Event()

    def sample(self) -> None:
        now = time.monotonic()
        for pid in [self.master, *children(self.master)]:
            value = memory(pid)
            if value is not None:
                self.samples.setdefault(pid, []).append((now, *value))

    def run(self) -> None:
        while not self.stopped.is_set():
            self.sample()
            self.stopped.wait(self.every)

    def stop(self) -> None:
        self.stopped.set()
        self.join()


@dataclass
class Growth:
    """One process over the run."""

    pid: int
    role: str  # "master" or "worker"
    seconds: float  # how long it was sampled
    samples: int
    first_mb: float  # memory (a worker's USS, the master's RSS) at its first sample after warm-up
    last_mb: float
    growth_mb: float | None  # None: it did not live past warm-up long enough to say
    peak_rss_mb: float
    peak_pss_mb: float


def growth(samples: dict[int, list[tuple]], master: int, warm: float) -> list[Growth]:
    """Each process's growth from its first sample after warm-up to its last: of a worker's private memory
    (USS: what it allocated or copied from the master), of the master's RSS (its USS moves whenever a worker
    that shared its pages ends)."""
    out = []
    for pid, rows in samples.items():
        metric = 1 if pid == master else 3
        warm_rows = [row for row in rows if row[0] >= rows[0][0] + warm]
        measured = len(warm_rows) >= 2
        first, last = (warm_rows[0], warm_rows[-1]) if measured else (rows[0], rows[-1])
        out.append(
            Growth(
                pid,
                "master" if pid == master else "worker",
                round(rows[-1][0] - rows[0][0], 1),
                len(rows),
                round(first[metric] / MB, 1),
                round(last[metric] / MB, 1),
                round((last[metric] - first[metric]) / MB, 1) if measured else None,
                round(max(row[1] for row in rows) / MB, 1),
                round(max(row[2] for row in rows) / MB, 1),
            )
        )
    return out


def total_pss(samples: dict[int, list[tuple]]) -> list[tuple[float, float]]:
    """The PSS of all the server's processes together at each sampling time, in MB."""
    totals: dict[float, int] = {}
    for rows in samples.values():
        for row in rows:
            totals[row[0]] = totals.get(row[0], 0) + row[2]
    return [(t, round(v / MB, 1)) for t, v in sorted(totals.items())]


# The server and what it says --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log: Path, workers: int | None) -> subprocess.Popen:
    """`hkgraph serve` on 127.0.0.1:port with the short query limit; returns once it answers."""
    command = [str(VENV_BIN / "hkgraph"), "serve", "--port", str(port), "--timeout", str(QUERY_TIMEOUT),
               "--cache-mb", str(CACHE_MB)]  # fmt: skip
    command += ["--workers", str(workers)] if workers else []
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=HERE.parent)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"hkgraph serve exited: {log.read_text()[-2000:]}")
        try:
            if get(Target("127.0.0.1", port, [], [], []), "/healthz") == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit(f"hkgraph serve did not start: {log.read_text()[-2000:]}")


def select(target: Target, query: str) -> list[list[str]]:
    """Rows of a SELECT asked of the server, as lists of plain values (TSV without the header)."""
    connection = http.client.HTTPConnection(target.host, target.port, timeout=CLIENT_TIMEOUT)
    try:
        connection.request("GET", "/sparql?" + urlencode({"query": query}), headers={"Accept": "text/csv"})
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    if response.status != 200:
        raise SystemExit(f"the server answered {response.status} to {query}: {body[:500]}")
    return list(csv.reader(io.StringIO(body)))[1:]


def discover(url: str) -> Target:
    """The server's entities, labels and search words, asked of the server itself."""
    parts = urlsplit(url)
    target = Target(parts.hostname, parts.port, [], [], [])
    base = BASE + "id/"
    rows = select(target, PREFIXES + "SELECT DISTINCT ?s ?l (LANG(?l) AS ?lang) WHERE { ?s rdfs:label ?l "
                  f'FILTER(STRSTARTS(STR(?s), "{base}")) }} ORDER BY ?s ?l')  # fmt: skip
    target.entities = sorted({"doc/" + s.removeprefix(base) for s, _, _ in rows})
    target.labels = sorted({(label, lang) for _, label, lang in rows})
    target.words = sorted({w for _, label, _ in rows for w in re.findall(r"\w{4,}", label)[:2]})
    if not target.entities:
        raise SystemExit(f"the server at {url} holds no entities under {base}")
    return target


def warm_up(target: Target, rounds: int) -> Tally:
    """Each request class except the runaway query, a few times, so lazy caches and dumps are built."""
    rng = random.Random(0)
    tally = Tally()
    for n in range(rounds):
        for name in MIX:
            timed(tally, name, send, name, target, rng, f"warm-up {n}")
    return tally


def log_problems(log: Path, offset: int) -> dict[str, int]:
    """What the server's log says since offset: errors, tracebacks, stopped queries, workers started."""
    text = log.read_bytes()[offset:].decode(errors="replace")
    return {
        "errors (ERROR, CRITICAL, Traceback)": len(re.findall(r"\[ERROR\]|\[CRITICAL\]|Traceback", text)),
        "queries stopped by the watchdog": len(re.findall(r"this worker ends", text)),
        "workers booted": len(re.findall(r"Booting worker", text)),
        "status 500 in the access log": len(re.findall(r'"status": 5(?!03)\d\d', text)),
    }


def open_connections(port: int) -> int:
    """Sockets on the server's port that are neither listening nor in TIME_WAIT (a hung connection)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if int(local.rsplit(":", 1)[1], 16) == port and state not in ("0A", "06"):
                count += 1
    return count


# The run --------------------------------------------------------------------------------------------


@dataclass
class Options:
    seconds: float = 600.0  # the mixed load
    unloaded_seconds: float = 60.0  # the probe alone, before
    clients: int = 4  # load client processes (besides the runaway client and the probe)
    think: float = 0.15  # mean seconds a load client waits between two requests
    runaway_pause: float = 3.0  # seconds the runaway client waits after each runaway query
    warm: float = WARM_SECONDS
    warm_up_rounds: int = 5
    memory_bound_mb: float = MEMORY_BOUND_MB
    p99_ratio: float = P99_RATIO
    mix: dict[str, int] = field(default_factory=lambda: dict(MIX))
    runaway_mix: dict[str, int] = field(default_factory=lambda: dict(RUNAWAY_MIX))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def soak(url: str, master: int, log: Path, options: Options) -> dict:
    """The whole soak against a running server (master: its gunicorn master's pid); the figures."""
    target = discover(url)
    started = time.monotonic()
    load_before = os.getloadavg()
    warming = warm_up(target, options.warm_up_rounds)
    log_offset = log.stat().st_size
    workers = len(children(master))
    sampler = MemorySampler(master)
    sampler.start()
    spawn = multiprocessing.get_context("spawn")
    plans = [Plan(target, options.mix, 0.0, options.think, 100 + i) for i in range(options.clients)]
    plans.append(Plan(target, options.runaway_mix, 0.0, options.runaway_pause, 99))
    with (
        ProcessPoolExecutor(1, mp_context=spawn) as prober,
        ProcessPoolExecutor(len(plans), mp_context=spawn) as clients,
    ):
        prober.submit(time.sleep, 0).result()  # its process is up before it measures
        unloaded = prober.submit(probe, target, time.monotonic() + options.unloaded_seconds, 1).result()
        deadline = time.monotonic() + options.seconds
        cpu_before = server_cpu_seconds(master)
        futures = [clients.submit(client, dataclasses.replace(plan, deadline=deadline)) for plan in plans]
        time.sleep(1.0)  # the clients' processes start
        loaded = prober.submit(probe, target, deadline, 2).result()
        load = Tally()
        for future in futures:
            load.add(future.result())
        ended = time.monotonic()
        server_cpu = server_cpu_seconds(master) - cpu_before
        after = prober.submit(probe, target, time.monotonic() + options.unloaded_seconds, 3).result()
    sampler.sample()
    sampler.stop()
    still_answers = {
        "healthz": get(target, "/healthz"),
        "query": ask_simple("label lookup", target, random.Random(4), "after the soak"),
    }
    processes = growth(sampler.samples, master, options.warm)
    return {
        "config": {
            "seconds": options.seconds,
            "unloaded_seconds": options.unloaded_seconds,
            "load_clients": options.clients,
            "think_seconds": options.think,
            "runaway_pause_seconds": options.runaway_pause,
            "query_timeout_seconds": QUERY_TIMEOUT,
            "cache_mb": CACHE_MB,
            "workers_at_start": workers,
            "cpus": os.cpu_count(),
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
            "warm_seconds": options.warm,
            "memory_bound_mb": options.memory_bound_mb,
            "p99_ratio_target": options.p99_ratio,
            "wall_seconds": round(ended - started, 1),
            "server_cpu_seconds": round(server_cpu, 1),
        },
        "load": asdict(load),
        "warm_up": asdict(warming),
        "unloaded": asdict(unloaded),
        "loaded": asdict(loaded),
        "after": asdict(after),
        "processes": [asdict(p) for p in processes],
        "total_pss_mb": total_pss(sampler.samples),
        "log": log_problems(log, log_offset),
        "open_connections": open_connections(target.port),
        "still_answers": still_answers,
    }


# The report -----------------------------------------------------------------------------------------


def tally_of(figures: dict, key: str) -> Tally:
    raw = figures[key]
    return Tally(
        {name: {int(s): n for s, n in counts.items()} for name, counts in raw["statuses"].items()},
        raw["errors"],
        raw["latencies"],
    )


def simple_latencies(tally: Tally) -> list[float]:
    return [s for name in SIMPLE for s in tally.latencies.get(name, [])]


def p99_ratio(figures: dict) -> tuple[float, float, float]:
    """Unloaded p99, loaded p99 (ms) of the probe's simple queries and their ratio."""
    before = percentile(simple_latencies(tally_of(figures, "unloaded")), 0.99) * 1000
    during = percentile(simple_latencies(tally_of(figures, "loaded")), 0.99) * 1000
    return before, during, during / before


def targets(figures: dict) -> list[tuple[str, bool]]:
    """Each target with its figure, and whether it is met."""
    config = figures["config"]
    tallies = [tally_of(figures, key) for key in ("warm_up", "load", "unloaded", "loaded", "after")]
    failed = sum(t.failed(name) for t in tallies for name in t.statuses)
    errors = sum(n for t in tallies for counts in t.errors.values() for n in counts.values())
    measured = [p for p in figures["processes"] if p["growth_mb"] is not None]
    workers = [p for p in measured if p["role"] == "worker"]
    worst = max(workers, key=lambda p: p["growth_mb"], default=None)
    master = next((p for p in measured if p["role"] == "master"), None)
    bound = config["memory_bound_mb"]
    before, during, ratio = p99_ratio(figures)
    log = figures["log"]
    return [
        (f"failed responses (not 200, nor 503 for a runaway query, nor 413 over the cap): {failed}", failed == 0),
        (f"connection errors and hung connections (no answer within {CLIENT_TIMEOUT:g} s): {errors}", errors == 0),
        (f"errors in the server's log: {log['errors (ERROR, CRITICAL, Traceback)']}, 5xx other than 503: "
         f"{log['status 500 in the access log']}",
         log["errors (ERROR, CRITICAL, Traceback)"] == 0 and log["status 500 in the access log"] == 0),
        (f"connections left open on the server after the run: {figures['open_connections']}",
         figures["open_connections"] == 0),
        (f"the server still answers: /healthz {figures['still_answers']['healthz']}, "
         f"a query {figures['still_answers']['query']}", set(figures["still_answers"].values()) == {200}),
        (f"worker private memory growth after warm-up, at most {bound:g} MB: largest "
         + (f"{worst['growth_mb']:+.1f} MB (pid {worst['pid']}, sampled {worst['seconds']:.0f} s) "
            f"over {len(workers)} workers that lived past warm-up" if worst else "none lived past warm-up"),
         worst is not None and worst["growth_mb"] <= bound),
        (f"master memory (RSS) growth, at most {bound:g} MB: "
         + (f"{master['growth_mb']:+.1f} MB" if master else "not measured"),
         master is not None and master["growth_mb"] <= bound),
        (f"p99 of simple queries under load while runaway queries are stopped: {during:.1f} ms, "
         f"{ratio:.2f}x the unloaded {before:.1f} ms (target <= {config['p99_ratio_target']:g}x)",
         ratio <= config["p99_ratio_target"]),
    ]  # fmt: skip


def status_text(counts: dict[int, int]) -> str:
    return ", ".join(f"{status or 'hung up'}: {n}" for status, n in sorted(counts.items()))


def report(figures: dict) -> str:
    """The Markdown report: set-up, requests by class, probe latencies, memory, targets."""
    config = figures["config"]
    load = tally_of(figures, "load")
    workers = [p for p in figures["processes"] if p["role"] == "worker"]
    lines = [
        f"Soak: {config['seconds']:g} s of mixed load from {config['load_clients']} client processes (mean "
        f"{config['think_seconds']:g} s between two requests each, at nice {CLIENT_NICE}) and one runaway "
        f"client (a runaway query, a quarter of them abandoned while they run, then "
        f"{config['runaway_pause_seconds']:g} s), between {config['unloaded_seconds']:g} s of the probe alone "
        f"before and after; `hkgraph serve`, {config['workers_at_start']} workers, query limit "
        f"{config['query_timeout_seconds']:g} s, result caches of {config['cache_mb']} MB, {config['cpus']} CPUs, "
        "127.0.0.1. Load average (1, 5, 15 "
        f"min) before: {', '.join(map(str, config['load_average_before']))}; after: "
        f"{', '.join(map(str, config['load_average_after']))} (the machine is shared with other work).",
        "",
        "| load: class | requests | statuses | failed | connection errors | p50 ms | p99 ms |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for name in [n for n in [*MIX, *RUNAWAY_MIX] if load.requests(n)]:
        values = load.latencies.get(name, [])
        errors = ", ".join(f"{e}: {n}" for e, n in load.errors.get(name, {}).items()) or "0"
        lines.append(
            f"| {name} | {load.requests(name)} | {status_text(load.statuses.get(name, {}))} | "
            f"{load.failed(name)} | {errors} | {percentile(values, 0.5) * 1000:.1f} | "
            f"{percentile(values, 0.99) * 1000:.1f} |"
        )
    lines += [
        "",
        "| probe: simple queries, one at a time | requests | failed or errors | p50 ms | p99 ms | "
        + " | ".join(f"p99 {name}" for name in SIMPLE)
        + " |",
        "| --- | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in SIMPLE) + " |",
    ]
    phases = {"alone, before": "unloaded", "under load": "loaded", "alone, after": "after"}
    for title, key in phases.items():
        tally = tally_of(figures, key)
        values = simple_latencies(tally)
        bad = sum(tally.failed(n) for n in SIMPLE) + sum(
            sum(tally.errors.get(n, {}).values()) for n in SIMPLE
        )
        lines.append(
            f"| {title} | {sum(tally.requests(n) for n in SIMPLE)} | {bad} | {percentile(values, 0.5) * 1000:.1f} | "
            f"{percentile(values, 0.99) * 1000:.1f} | "
            + " | ".join(f"{percentile(tally.latencies.get(n, []), 0.99) * 1000:.1f}" for n in SIMPLE)
            + " |"
        )
    total = sum(load.requests(name) for name in set(load.statuses) | set(load.errors))
    lines += [
        "",
        f"Load: {total} requests in {config['seconds']:g} s ({total / config['seconds']:.1f}/s) besides the probe; "
        f"the server's processes used {config['server_cpu_seconds']:g} CPU seconds meanwhile "
        f"({config['server_cpu_seconds'] / config['seconds']:.2f} of {config['cpus']} CPUs).",
        "",
        "Memory: RSS, PSS and private USS from /proc/PID/smaps_rollup every "
        f"{SAMPLE_SECONDS:g} s, by pid; growth is from a process's first sample at least {config['warm_seconds']:g} s "
        "after it was first seen to its last, of a worker's USS (what it allocated or copied) and of the master's "
        "RSS.",
        "",
        "| processes | count | sampled s (median, max) | growth MB (median, max) | peak RSS MB | peak PSS MB |",
        "| --- | ---: | --- | --- | ---: | ---: |",
    ]
    groups = {
        "master": [p for p in figures["processes"] if p["role"] == "master"],
        "workers that lived past warm-up": [p for p in workers if p["growth_mb"] is not None],
        "workers replaced sooner": [p for p in workers if p["growth_mb"] is None],
    }
    for title, group in groups.items():
        if not group:
            continue
        seconds = [p["seconds"] for p in group]
        grown = [p["growth_mb"] for p in group if p["growth_mb"] is not None]
        growth_text = f"{percentile(grown, 0.5):+.1f}, {max(grown):+.1f}" if grown else "—"
        lines.append(
            f"| {title} | {len(group)} | {percentile(seconds, 0.5):.0f}, {max(seconds):.0f} | {growth_text} | "
            f"{max(p['peak_rss_mb'] for p in group):.0f} | {max(p['peak_pss_mb'] for p in group):.0f} |"
        )
    totals = [mb for _, mb in figures["total_pss_mb"]]
    log = figures["log"]
    lines += [
        "",
        f"All server processes together (PSS): {min(totals):.0f} to {max(totals):.0f} MB over the run; first "
        f"{totals[0]:.0f} MB, last {totals[-1]:.0f} MB."
        if totals
        else "No memory samples.",
        f"Server log during the run: {log['queries stopped by the watchdog']} queries stopped by the watchdog, "
        f"{log['workers booted']} workers booted, {log['errors (ERROR, CRITICAL, Traceback)']} errors.",
        "",
        "Targets:",
        "",
    ]
    lines += [f"- {text}: {'met' if ok else 'NOT met'}" for text, ok in targets(figures)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Options()
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", defaults.seconds)),
                        help="length of the mixed load (default $SOAK_SECONDS or 600)")  # fmt: skip
    parser.add_argument("--unloaded-seconds", type=float, default=defaults.unloaded_seconds)
    parser.add_argument("--clients", type=int, default=defaults.clients, help="load client processes")
    parser.add_argument("--think", type=float, default=defaults.think, help="mean pause of a load client, s")
    parser.add_argument("--runaway-pause", type=float, default=defaults.runaway_pause)
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: hkgraph serve's)")
    parser.add_argument("--memory-bound", type=float, default=defaults.memory_bound_mb, help="MB")
    args = parser.parse_args()
    options = Options(
        seconds=args.seconds,
        unloaded_seconds=min(args.unloaded_seconds, args.seconds),
        clients=args.clients,
        think=args.think,
        runaway_pause=args.runaway_pause,
        memory_bound_mb=args.memory_bound,
    )
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / "soak-server.log"
    port = free_port()
    server = start_server(port, log, args.workers)
    try:
        figures = soak(f"http://127.0.0.1:{port}/", server.pid, log, options)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    text = report(figures)
    (RESULTS / "soak-latest.md").write_text(text)
    (RESULTS / "soak-latest.json").write_text(json.dumps(figures, indent=1))
    print(text)
    sys.exit(0 if all(ok for _, ok in targets(figures)) else 1)


if __name__ == "__main__":
    main()
