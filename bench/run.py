"""`make bench`: throughput and latency of the SPARQL endpoint under concurrent load, on 127.0.0.1 only.

Three servers on the same data, started here and stopped at the end: ours (`hkgraph serve`, every feature
on: guard, queries under the watchdog, limits, negotiation, cache, ETag, CORS, access log), the ceiling (a
bare Flask view calling pyoxigraph, bench/ceiling.py) and rdflib-endpoint (bench/rdflib_server.py, in
bench/.venv); and the floor (gunicorn answering two bytes, bench/floor.py), which bounds what any answer
through gunicorn can reach. Load comes from wrk (Debian); each request carries a distinct comment so no
cache can answer it, except in the runs that measure a repeated identical query (our result cache, and 304
revalidation). Writes bench/results/latest.md and latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pyoxigraph as ox
import requests
from benchmark_queries import ACCEPT, QUERIES

from hkgraph.server import default_workers
from hkgraph.store import Store

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
FLOOR = "floor"
VENV_BIN = Path(sys.executable).parent
WRK_SCRIPT = """
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  path = args[1]
  unique = args[2] == "unique"
end
function request()
  local p = path
  if unique then
    counter = counter + 1
    p = path .. "%0A%23" .. id .. "-" .. counter
  end
  return wrk.format("GET", p)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(url, params={"query": "ASK { ?s ?p ?o }"}, timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server at {url} did not start: {log.read_text()[-2000:]}")


def start(name: str, command: list[str], port: int) -> tuple[subprocess.Popen, str]:
    log = RESULTS / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=HERE.parent)
    url = f"http://127.0.0.1:{port}/sparql"
    wait_ready(url, proc, log)
    return proc, url


def ensure_rdflib_venv() -> Path:
    python = HERE / ".venv" / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(HERE / ".venv")], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-r", str(HERE / "requirements.txt")], check=True
        )
    return python


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, query: str, seconds: float, connections: int, unique: bool, headers: dict) -> dict:
    """One wrk run: requests/s, p50 and p99 in ms, and how many answers were not 2xx/3xx."""
    base, _ = url.split("/sparql")
    path = "/sparql?query=" + quote(query, safe="")
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{int(seconds)}s",
        "--latency",
        "-s",
        str(RESULTS / "wrk.lua"),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command += [base, "--", path, "unique" if unique else "same"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": to_ms(percentiles["50"]) if "50" in percentiles else float("nan"),
        "p99_ms": to_ms(percentiles["99"]) if "99" in percentiles else float("nan"),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def tree_cpu_seconds(root: int) -> float:
    """CPU time used so far by a process and all its descendants (workers, query runners, reaped ones too)."""
    parent_of, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parent_of[int(entry)] = int(fields[1])
        cpu[int(entry)] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parent_of.items() if parent in tree} - tree
        grew, tree = bool(more), tree | more
    return sum(cpu.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def measure(
    server: dict, query: str, seconds: float, rounds: int, connections: int, unique: bool, headers: dict
) -> dict:
    """wrk in several short rounds (the caller interleaves servers between rounds, so that other load on the
    machine falls on all of them alike): median req/s and latencies, and the server's CPU ms per request."""
    runs, cpu, requests_done = [], 0.0, 0
    for _ in range(rounds):
        before = tree_cpu_seconds(server["pid"])
        run = wrk(server["url"], query, seconds, connections, unique, headers)
        cpu += tree_cpu_seconds(server["pid"]) - before
        requests_done += run["requests"]
        runs.append(run)
    return {
        "rps": median([r["rps"] for r in runs]),
        "p50_ms": median([r["p50_ms"] for r in runs]),
        "p99_ms": median([r["p99_ms"] for r in runs]),
        "cpu_ms": 1000 * cpu / max(requests_done, 1),
        "errors": sum(r["errors"] for r in runs),
        "socket_errors": " ".join(r["socket_errors"] for r in runs if r["socket_errors"]),
    }  # fmt: skip


def answer_size(url: str, query: str, accept: str) -> int:
    """Rows (or triples) a server answers, to check the three agree before timing them."""
    response = requests.get(url, params={"query": query}, headers={"Accept": accept}, timeout=60)
    response.raise_for_status()
    if "ld+json" in accept:
        # rdflib-endpoint answers DESCRIBE in RDF/XML (labelled sparql-results+xml) whatever the Accept
        xml = response.content.lstrip().startswith(b"<")
        return len(
            list(ox.parse(response.content, format=ox.RdfFormat.RDF_XML if xml else ox.RdfFormat.JSON_LD))
        )
    return len(list(ox.parse_query_results(response.content, ox.QueryResultsFormat.JSON)))


def table(results: dict, config: dict) -> str:
    lines = [
        f"Benchmark: {config['workers']} workers each, wrk -t2 -c{config['connections']}, "
        f"{config['seconds']} s per server and query ({config['rdflib_seconds']} s for rdflib-endpoint), "
        f"{config['cpus']} CPUs, {config['triples']} triples, 127.0.0.1; load average before: "
        f"{config['load_average_at_start']} (other work on the machine shares the CPUs).",
        "",
        "| query | server | req/s | p50 ms | p99 ms | CPU ms/req | errors | req/s vs ceiling |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for query, runs in results.items():
        ceiling = runs.get("ceiling", {}).get("rps")
        for server, r in runs.items():
            ratio = f"{r['rps'] / ceiling:.2f}x" if ceiling else ""
            lines.append(
                f"| {query} | {server} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['cpu_ms']:.2f} | "
                f"{r['errors']}{' ' + r['socket_errors'] if r['socket_errors'] else ''} | {ratio} |"
            )
    return "\n".join(lines) + "\n"


def targets(results: dict) -> list[str]:
    """The issue's targets, each with its figure and whether it is met."""
    out = []
    for query in QUERIES:
        runs = results[query]
        ours, ceiling = runs["hkgraph"]["rps"], runs["ceiling"]["rps"]
        out.append(f"{query}: hkgraph at {ours / ceiling:.0%} of the ceiling (target >= 90%): "
                   f"{'met' if ours >= 0.9 * ceiling else 'NOT met'}")  # fmt: skip
        if "rdflib-endpoint" in runs:
            peer = runs["rdflib-endpoint"]["rps"]
            out.append(f"{query}: hkgraph {ours / peer:.0f}x rdflib-endpoint (target >= 50x): "
                       f"{'met' if ours >= 50 * peer else 'NOT met'}")  # fmt: skip
    for query, runs in results.items():
        if query.startswith("repeated"):
            ceiling = runs["ceiling"]["rps"]
            for server in ("hkgraph (cache)", "hkgraph (304)"):
                ratio = runs[server]["rps"] / ceiling
                out.append(f"{query}, {server}: {ratio:.1f}x the ceiling (target >= 3x): "
                           f"{'met' if ratio >= 3 else 'NOT met'}")  # fmt: skip
            out.append(f"{query}: the floor (gunicorn answering two bytes, nothing else) is "
                       f"{runs[FLOOR]['rps'] / ceiling:.1f}x the ceiling: no answer through gunicorn can be faster")  # fmt: skip
    floors = [runs[FLOOR]["rps"] for query, runs in results.items() if FLOOR in runs]
    for query in QUERIES:
        runs = results[query]
        if floors and "rdflib-endpoint" in runs:
            peer = runs["rdflib-endpoint"]["rps"]
            out.append(f"{query}: 50x rdflib-endpoint would be {50 * peer:.0f} req/s; the floor answers "
                       f"{median(floors):.0f} req/s ({median(floors) / peer:.0f}x)")  # fmt: skip
    return out


def start_servers(args, data: Path) -> dict[str, dict]:
    """Our server, the ceiling, the floor and rdflib-endpoint, each with the same number of worker processes."""
    commands = {
        "hkgraph": [str(VENV_BIN / "hkgraph"), "serve", "--workers", str(args.workers), "--port"],
        "ceiling": [sys.executable, str(HERE / "ceiling.py")],
        FLOOR: [sys.executable, str(HERE / "floor.py")],
    }
    if not args.no_rdflib:
        commands["rdflib-endpoint"] = [str(ensure_rdflib_venv()), str(HERE / "rdflib_server.py"), str(data)]
    servers = {}
    for name, command in commands.items():
        port = free_port()
        command = command + [str(port)] + ([] if name == "hkgraph" else [str(args.workers)])
        proc, url = start(name, command, port)
        servers[name] = {"url": url, "pid": proc.pid, "proc": proc}
    return servers


def run_all(args, servers: dict[str, dict]) -> dict:
    """Every query on every SPARQL server (interleaved round by round), then the repeated identical queries,
    with the floor beside them."""
    results: dict[str, dict] = {}
    floor = servers[FLOOR]
    servers = {name: server for name, server in servers.items() if name != FLOOR}
    for name, query in QUERIES.items():
        accept = ACCEPT.get(name, "application/sparql-results+json")
        sizes = {server: answer_size(s["url"], query, accept) for server, s in servers.items()}
        if len(set(sizes.values())) != 1:
            raise SystemExit(f"{name}: the servers disagree on the answer size: {sizes}")
        rounds: dict[str, list] = {server: [] for server in servers}
        for _ in range(args.rounds):
            for server in servers:
                seconds = args.rdflib_seconds if server == "rdflib-endpoint" else args.seconds
                rounds[server].append(
                    measure(servers[server], query, seconds, 1, args.connections, True, {"Accept": accept})
                )
        results[name] = {server: combine(runs) for server, runs in rounds.items()}
        for server, r in results[name].items():
            print(f"{name:28} {server:16} {r['rps']:8.0f} req/s {r['cpu_ms']:6.2f} CPU ms/req", flush=True)
    ours = servers["hkgraph"]["url"]
    for name in ("GROUP BY aggregate", "DESCRIBE"):
        query, accept = QUERIES[name], ACCEPT.get(name, "application/sparql-results+json")
        etag = requests.get(ours, params={"query": query}, headers={"Accept": accept}, timeout=30).headers[
            "ETag"
        ]
        variants = {
            "ceiling": (servers["ceiling"], {"Accept": accept}),
            "hkgraph (cache)": (servers["hkgraph"], {"Accept": accept}),
            "hkgraph (304)": (servers["hkgraph"], {"Accept": accept, "If-None-Match": etag}),
            FLOOR: (floor, {"Accept": accept}),
        }
        rounds = {variant: [] for variant in variants}
        for _ in range(args.rounds):
            for variant, (server, headers) in variants.items():
                rounds[variant].append(
                    measure(server, query, args.seconds, 1, args.connections, False, headers)
                )
        key = f"repeated {name}"
        results[key] = {variant: combine(runs) for variant, runs in rounds.items()}
        for server, r in results[key].items():
            print(f"{key:28} {server:16} {r['rps']:8.0f} req/s {r['cpu_ms']:6.2f} CPU ms/req", flush=True)
    return results


def combine(runs: list[dict]) -> dict:
    """Rounds of one server: medians of rates and latencies, mean CPU per request, errors added up."""
    return {
        "rps": median([r["rps"] for r in runs]),
        "p50_ms": median([r["p50_ms"] for r in runs]),
        "p99_ms": median([r["p99_ms"] for r in runs]),
        "cpu_ms": sum(r["cpu_ms"] for r in runs) / len(runs),
        "errors": sum(r["errors"] for r in runs),
        "socket_errors": " ".join(r["socket_errors"] for r in runs if r["socket_errors"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3, help="length of each wrk round")
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds per server and query (interleaved; the median counts)"
    )
    parser.add_argument("--rdflib-seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--no-rdflib", action="store_true", help="skip rdflib-endpoint")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does this)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "wrk.lua").write_text(WRK_SCRIPT)
    store = Store.load()
    data = RESULTS / "data.nq"
    data.write_bytes(store.serialize(ox.RdfFormat.N_QUADS))
    servers: dict[str, dict] = {}
    try:
        servers = start_servers(args, data)
        load_before = os.getloadavg()[0]
        results = run_all(args, servers)
    finally:
        for server in servers.values():
            server["proc"].terminate()
        for server in servers.values():
            try:
                server["proc"].wait(timeout=20)
            except subprocess.TimeoutExpired:
                server["proc"].kill()
    config = {
        "workers": args.workers,
        "connections": args.connections,
        "seconds": f"{args.rounds} x {args.seconds}",
        "rdflib_seconds": f"{args.rounds} x {args.rdflib_seconds}",
        "cpus": os.cpu_count(),
        "triples": len(store),
        "load_average_at_start": round(load_before, 2),
    }
    report = table(results, config) + "\n" + "\n".join(f"- {line}" for line in targets(results)) + "\n"
    (RESULTS / "latest.md").write_text(report)
    (RESULTS / "latest.json").write_text(json.dumps({"config": config, "results": results}, indent=2))
    print()
    print(report)


if __name__ == "__main__":
    main()
