"""`make bench-scale`: how the costs of holding and serving the graph grow with its size, per backend.

For each size (10^4, 10^5, 10^6 triples; 10^7 with --with-1e7) a synthetic graph shaped like ours is made
(bench/scale/generate.py) and served three ways, each by a real `hkgraph serve` (gunicorn, 2 workers) on
127.0.0.1: in memory (`--data`), from an on-disk store (`hkgraph build`, then `--store`), and from a
Virtuoso loaded by `hkgraph load` (`--endpoint`). Measured: load time and its peak memory, store size on
disk, start-up time (process start to the first answer), the server's memory (PSS of every process of it,
Virtuoso included), and p50/p99 latency of the four benchmark queries of issue 4, an entity page and a
diagram. Every request is distinct (a comment in the query, another entity), so no cache answers it.
Prints a table and growth notes and writes them into bench/README.md and build/bench-scale/results.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # bench/: the benchmark queries

from benchmark_queries import ACCEPT, QUERIES  # noqa: E402
from generate import bodies_for, count_real_triples, generate  # noqa: E402

from hkgraph.store import STORE_MANIFEST  # noqa: E402
from hkgraph.virtuoso import PASSWORD, USER, free_port, run_virtuoso  # noqa: E402

WORK = ROOT / "build" / "bench-scale"
README = ROOT / "bench" / "README.md"
HKGRAPH = str(Path(sys.executable).with_name("hkgraph"))
SIZES = {"1e4": 10_000, "1e5": 100_000, "1e6": 1_000_000, "1e7": 10_000_000}
BACKENDS = ("memory", "disk", "virtuoso")
MEASURES = [*QUERIES, "entity page", "diagram"]
QUERY_TIMEOUT = 120  # seconds: the slow queries at 10^7 are measured, not cut
# The in-memory store took 1.8 GB per 10^6 triples here: 10^7 would need most of this machine's 23 GB
# (shared with other work), and the in-memory default is meant for the built-in graph only.
MEMORY_UP_TO = 1_000_000


# Processes and their memory --------------------------------------------------------------------------


def run_timed(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run a command to its end: wall seconds, its peak resident memory in MB, and its output."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed: {output[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, output


def tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def pss_mb(pids: list[int]) -> float:
    """Proportional set size of processes in MB: memory shared copy-on-write is counted once."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


@contextmanager
def server(label: str, *options: str):
    """`hkgraph serve` with the options; yields (base URL, process, start-up seconds)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    log = WORK / f"serve-{label}.log"
    started = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                HKGRAPH,
                "serve",
                "--port",
                str(port),
                "--workers",
                "2",
                "--timeout",
                str(QUERY_TIMEOUT),
                *options,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"hkgraph serve ({label}) stopped: {log.read_text()[-2000:]}")
            try:
                if requests.get(base + "healthz", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.05)
        yield base, proc, time.perf_counter() - started
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


# Latency -----------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def requests_for(measure: str, base: str, bodies: int, i: int) -> tuple[str, dict]:
    """The i-th distinct request of a measure: (URL, headers)."""
    if measure in QUERIES:
        query = QUERIES[measure] + f"\n# {time.time_ns()}-{i}"
        accept = ACCEPT.get(measure, "application/sparql-results+json")
        return base + "sparql?query=" + quote(query, safe=""), {"Accept": accept}
    k = (i * 7919 + 13) % max(bodies, 1) if bodies else None
    path = f"org/syn-{k}" if k is not None else "org/itc"
    if measure == "entity page":
        return base + f"doc/{path}", {"Accept": "text/html", "Accept-Language": "en"}
    return base + f"doc/{path}/diagram.svg?depth=2", {}


def latency(base: str, measure: str, bodies: int, count: int, budget: float) -> dict:
    """p50 and p99 in ms over up to count distinct requests (fewer if the budget of seconds runs out)."""
    session = requests.Session()
    times, statuses = [], {}
    deadline = time.monotonic() + budget
    for i in range(count):
        url, headers = requests_for(measure, base, bodies, i)
        started = time.perf_counter()
        response = session.get(url, headers=headers, timeout=QUERY_TIMEOUT + 30)
        times.append((time.perf_counter() - started) * 1000)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if time.monotonic() > deadline and i >= 2:
            break
    return {
        "p50": percentile(times, 50),
        "p99": percentile(times, 99),
        "n": len(times),
        "statuses": statuses,
    }


def measure_server(base: str, bodies: int, count: int, budget: float) -> dict:
    return {m: latency(base, m, bodies, count, budget) for m in MEASURES}


# One size ----------------------------------------------------------------------------------------------


def bench_size(label: str, backends: list[str], count: int, budget: float, earlier: list[dict]) -> list[dict]:
    """Measure one size; with earlier results (--reuse-stores), an existing store is served again and its
    load figures are taken from the run that built it."""
    target = SIZES[label]
    data = WORK / f"data-{label}"
    bodies = bodies_for(target, count_real_triples())
    store_dir = WORK / f"store-{label}"
    results = []
    previous = {r["backend"]: r for r in earlier if r["size"] == label}
    if "disk" in previous and (store_dir / STORE_MANIFEST).exists():
        print(f"\n== {label}: reusing {store_dir} (load figures from the run that built it)", flush=True)
        files = sorted(data.glob("syn-*.nt"))
        built = {k: previous["disk"][k] for k in ("load_s", "load_peak_mb", "store_mb")}
    else:
        files = generate(target, data)
        print(f"\n== {label}: building the on-disk store", flush=True)
        seconds, peak, _ = run_timed(
            [HKGRAPH, "build", "--no-validate", "--store", str(store_dir), *[f"--data={f}" for f in files]]
        )
        built = {"load_s": seconds, "load_peak_mb": peak, "store_mb": folder_mb(store_dir)}
        print(f"   built in {seconds:.1f} s", flush=True)
    triples = json.loads((store_dir / STORE_MANIFEST).read_text())["triples"]
    data_args = [a for f in files for a in ("--data", str(f))]

    def row(backend: str, **values) -> dict:
        entry = {"size": label, "backend": backend, "triples": triples, **values}
        results.append(entry)
        print(
            f"   {backend}: " + ", ".join(f"{k} {v:.1f}" for k, v in values.items() if isinstance(v, float)),
            flush=True,
        )
        return entry

    if "memory" in backends and target > MEMORY_UP_TO:
        print(f"== {label}: in memory skipped (above {MEMORY_UP_TO:,} triples; see MEMORY_UP_TO)", flush=True)
    elif "memory" in backends:
        print(f"== {label}: in memory", flush=True)
        with server(f"memory-{label}", "--no-validate", *data_args) as (base, proc, startup):
            lat = measure_server(base, bodies, count, budget)
            row("memory", load_s=startup, load_peak_mb=pss_mb(tree(proc.pid)), store_mb=float("nan"),
                startup_s=startup, memory_mb=pss_mb(tree(proc.pid)), latency=lat)  # fmt: skip
    if "disk" in backends:
        print(f"== {label}: on disk", flush=True)
        with server(f"disk-{label}", "--store", str(store_dir)) as (base, proc, startup):
            lat = measure_server(base, bodies, count, budget)
            row("disk", **built, startup_s=startup, memory_mb=pss_mb(tree(proc.pid)), latency=lat)
    if "virtuoso" in backends:
        print(f"== {label}: Virtuoso", flush=True)
        buffers = min(400_000, max(20_000, triples // 25))
        with run_virtuoso(WORK / f"virtuoso-{label}", buffers=buffers, query_seconds=QUERY_TIMEOUT) as vt:
            env = {**os.environ, "HKGRAPH_ENDPOINT_USER": USER, "HKGRAPH_ENDPOINT_PASSWORD": PASSWORD}
            seconds, peak, _ = run_timed(
                [HKGRAPH, "load", "--endpoint", vt.endpoint, "--store", str(store_dir)], env=env
            )
            with server(f"virtuoso-{label}", "--endpoint", vt.endpoint) as (base, proc, startup):
                lat = measure_server(base, bodies, count, budget)
                memory = pss_mb(tree(proc.pid)) + pss_mb([vt.process.pid])
            row("virtuoso", load_s=seconds, load_peak_mb=peak, store_mb=folder_mb(vt.folder),
                startup_s=startup, memory_mb=memory, latency=lat)  # fmt: skip
            shutil.rmtree(vt.folder, ignore_errors=True)
    return results


# Report ------------------------------------------------------------------------------------------------


def fmt_ms(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def fmt(value: float, digits: int = 1) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def tables(results: list[dict]) -> str:
    lines = [
        "| size | backend | triples | load s | load peak MB | on disk MB | start-up s | serving MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['size']} | {r['backend']} | {r['triples']:,} | {fmt(r['load_s'])} | {fmt(r['load_peak_mb'], 0)} "
            f"| {fmt(r['store_mb'], 0)} | {fmt(r['startup_s'], 2)} | {fmt(r['memory_mb'], 0)} |"
        )
    lines += ["", "Latency, p50 / p99 in ms (sequential distinct requests; non-2xx answers noted):", ""]
    lines.append("| size | backend | " + " | ".join(MEASURES) + " |")
    lines.append("| --- | --- | " + " | ".join("---:" for _ in MEASURES) + " |")
    for r in results:
        cells = []
        for m in MEASURES:
            lat = r["latency"][m]
            bad = {s: n for s, n in lat["statuses"].items() if not 200 <= int(s) < 300}
            note = " (" + ", ".join(f"{n}×{s}" for s, n in bad.items()) + ")" if bad else ""
            cells.append(f"{fmt_ms(lat['p50'])} / {fmt_ms(lat['p99'])}{note}")
        lines.append(f"| {r['size']} | {r['backend']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def exponent(a: float, b: float, n1: int, n2: int) -> float | None:
    if not a or not b or a <= 0 or b <= 0 or math.isnan(a) or math.isnan(b):
        return None
    return math.log(b / a) / math.log(n2 / n1)


def describe_growth(k: float | None) -> str:
    if k is None:
        return "n/a"
    kind = (
        "flat" if k < 0.15 else "sub-linear" if k < 0.75 else "about linear" if k < 1.25 else "super-linear"
    )
    return f"n^{k:.2f} ({kind})"


def growth_notes(results: list[dict]) -> str:
    """How each cost grows from the smallest to the largest size measured, as an exponent of the size."""
    lines = []
    for backend in BACKENDS:
        rows = [r for r in results if r["backend"] == backend]
        if len(rows) < 2:
            continue
        first, last = rows[0], rows[-1]
        n1, n2 = first["triples"], last["triples"]
        parts = []
        for key, name in [("load_s", "load time"), ("store_mb", "size on disk"), ("startup_s", "start-up"),
                          ("memory_mb", "serving memory")]:  # fmt: skip
            parts.append(f"{name} {describe_growth(exponent(first[key], last[key], n1, n2))}")
        for m in MEASURES:
            k = exponent(first["latency"][m]["p50"], last["latency"][m]["p50"], n1, n2)
            parts.append(f"{m} p50 {describe_growth(k)}")
        lines.append(f"- **{backend}** ({first['size']} → {last['size']}): " + "; ".join(parts) + ".")
    return "\n".join(lines)


def targets(results: list[dict]) -> str:
    """The issue's targets, met or not."""
    lines = []
    disk = {r["size"]: r for r in results if r["backend"] == "disk"}
    if "1e7" in disk:
        r = disk["1e7"]
        lines.append(f"- 10^7 triples load on disk in under 10 minutes: {r['load_s']:.0f} s "
                     f"({'met' if r['load_s'] < 600 else 'NOT met'}).")  # fmt: skip
    if disk:
        worst = max(r["startup_s"] for r in disk.values())
        lines.append(f"- start-up from the on-disk store under 2 s at any size: at most {worst:.2f} s "
                     f"({'met' if worst < 2 else 'NOT met'}).")  # fmt: skip
    for size in ("1e7",):
        for backend in BACKENDS:
            r = next((x for x in results if x["size"] == size and x["backend"] == backend), None)
            if r:
                lab, page = r["latency"]["label lookup"]["p50"], r["latency"]["entity page"]["p50"]
                ok = "met" if lab < 20 and page < 20 else "NOT met"
                lines.append(f"- {backend} at 10^7, label lookup and entity page p50 under 20 ms: "
                             f"{lab:.1f} ms and {page:.1f} ms ({ok}).")  # fmt: skip
    return "\n".join(lines)


def write_readme(results: list[dict], command: str, reused: bool = False) -> None:
    start, end = "<!-- bench-scale:start -->", "<!-- bench-scale:end -->"
    section = "\n".join([
        start,
        "## Growth (`make bench-scale`)",
        "",
        f"Measured on this machine ({os.cpu_count()} cores) by `{command}` on "
        f"{time.strftime('%Y-%m-%d')}; synthetic graphs from bench/scale/generate.py. "
        "\"load\" is `hkgraph build` for disk, `hkgraph load` (from the built store) for Virtuoso and the "
        "server's own start for memory; \"serving MB\" is the PSS of the server's processes (and Virtuoso's)."
        + (
            " This run served stores built earlier again (--reuse-stores): their load figures, and the rows of"
            " sizes and backends it did not measure, are from the runs before it (results.json keeps every row)."
            if reused
            else ""
        ),
        "",
        tables(results),
        "",
        "How each cost grows with the number of triples n:",
        "",
        growth_notes(results),
        "",
        "Targets of issue 7:",
        "",
        targets(results) or "- (10^7 not measured in this run)",
        end,
    ])  # fmt: skip
    text = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    if start in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    README.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e4,1e5,1e6", help="comma-separated, of " + ", ".join(SIZES))
    parser.add_argument("--with-1e7", action="store_true", help="also 10^7 triples (about half an hour)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--requests", type=int, default=30, help="distinct requests per measure")
    parser.add_argument(
        "--budget", type=float, default=20.0, help="seconds per measure at most (min 3 requests)"
    )
    parser.add_argument(
        "--reuse-stores",
        action="store_true",
        help="serve the on-disk stores of an earlier run again instead of building them (only serving is "
        "measured anew; other sizes and backends keep their earlier rows)",
    )
    args = parser.parse_args(argv)
    sizes = args.sizes.split(",") + (["1e7"] if args.with_1e7 else [])
    backends = args.backends.split(",")
    WORK.mkdir(parents=True, exist_ok=True)
    saved = WORK / "results.json"
    earlier = json.loads(saved.read_text()) if args.reuse_stores and saved.exists() else []
    results = []
    for label in sizes:
        results += bench_size(label, backends, args.requests, args.budget, earlier)
        measured = {(r["size"], r["backend"]) for r in results}
        kept = [r for r in earlier if (r["size"], r["backend"]) not in measured]
        order = list(SIZES)
        results_all = sorted(
            kept + results, key=lambda r: (order.index(r["size"]), BACKENDS.index(r["backend"]))
        )
        saved.write_text(json.dumps(results_all, indent=1))
    results = results_all
    print("\n" + tables(results) + "\n\n" + growth_notes(results) + "\n\n" + targets(results))
    flags = " ".join(argv if argv is not None else sys.argv[1:])
    write_readme(
        results, "make bench-scale" + (f" BENCH_SCALE_FLAGS='{flags}'" if flags else ""), args.reuse_stores
    )


if __name__ == "__main__":
    main()
