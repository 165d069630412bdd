"""What the fair-use limits (hkgraph.ratelimit) cost a request: a micro-benchmark, in-process.

    .venv/bin/python bench/ratelimit.py

1. The limiter alone: admit() and finish() of one request of a limited client (two turns of the shared
   table's lock: a thread lock and a POSIX record lock, two system calls each), and key() of an exempt
   loopback client (no lock, no table).
2. A whole cheap request through the app (Flask's test client, a SPARQL query answered from the result
   cache): a loopback client (exempt, the default), the same client with the limits applied to it, and no
   limits at all; median times (requests alternating between the three) and their differences, and the
   Python function calls per request, which do not depend on the load on the machine.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import time

from hkgraph.app import create_app
from hkgraph.config import Config
from hkgraph.ratelimit import RateLimiter, client_key
from hkgraph.store import Store

CLIENT = "203.0.113.7"


def per_call_us(work, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        work()
    return (time.perf_counter() - started) / n * 1e6


def limiter_alone(n: int = 50_000) -> dict[str, float]:
    limiter = RateLimiter(Config(limit_loopback=True, query_seconds_per_minute=1e12, errors_per_minute=0))
    key = client_key(CLIENT)[0]

    def request():
        ticket = limiter.admit(key, sparql=True)
        limiter.finish(ticket, 0.001, failed=False)

    exempt = RateLimiter(Config())
    loopback = {"REMOTE_ADDR": "127.0.0.1"}
    rounds = [(per_call_us(request, n), per_call_us(lambda: exempt.key(loopback), n)) for _ in range(5)]
    return {
        "admit + finish, limited client (us)": min(r[0] for r in rounds),
        "key(), exempt loopback client (us)": min(r[1] for r in rounds),
    }


def through_the_app(store: Store, n: int = 3000) -> dict[str, float]:
    """Median time of a cheap request, requests of the three apps alternating (so load on the machine
    falls on all three alike), and Python function calls per request (exact, whatever the load)."""
    apps = {
        "exempt loopback (default)": Config(),
        "limits applied": Config(limit_loopback=True, query_seconds_per_minute=1e12),
        "no limits at all": Config(
            max_concurrent_per_client=0, query_seconds_per_minute=0, errors_per_minute=0
        ),
    }
    clients = {name: create_app(config, store=store).test_client() for name, config in apps.items()}
    form = {"query": "ASK { ?s ?p ?o }", "format": "json"}
    for client in clients.values():
        assert client.post("/sparql", data=form).status_code == 200  # now in the result cache
    times: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(n):
        for name, client in clients.items():
            started = time.perf_counter()
            client.post("/sparql", data=form)
            times[name].append((time.perf_counter() - started) * 1e6)
    median = {name: statistics.median(t) for name, t in times.items()}
    result = {f"request, {name} (us, median)": value for name, value in median.items()}
    base = median["no limits at all"]
    for name in ("exempt loopback (default)", "limits applied"):
        result[f"  difference, {name} (us)"] = median[name] - base
    for name, client in clients.items():
        profile = cProfile.Profile()
        profile.runcall(lambda c=client: [c.post("/sparql", data=form) for _ in range(100)])
        result[f"function calls per request, {name}"] = pstats.Stats(profile).total_calls / 100
    return result


def main() -> None:
    store = Store.load()
    for name, value in {**limiter_alone(), **through_the_app(store)}.items():
        print(f"{name:55} {value:9.2f}")


if __name__ == "__main__":
    main()
