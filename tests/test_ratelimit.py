"""Fair use (hkgraph.ratelimit): per-client limits on concurrent requests, query time per minute and
failing queries; 429 with Retry-After; loopback exempt unless asked; X-Forwarded-For only from trusted
proxies; the limits hold across gunicorn worker processes, and a slot of a process that died is freed."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from conftest import free_port, in_forked_child, serve_process

from hkgraph.app import create_app
from hkgraph.config import Config
from hkgraph.errors import HkgraphError, RateLimited
from hkgraph.ratelimit import RateLimiter, client_address, client_key, proxy_networks

CHEAP = "ASK { ?s ?p ?o }"
COUNT_CROSS_JOIN = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
CLIENT = "203.0.113.7"  # documentation addresses (RFC 5737, RFC 3849)
OTHER = "198.51.100.20"
PROXY = "192.0.2.10"


class ManualClock:
    """A monotonic clock the test moves by hand, so a limiter's minute passes without waiting."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def limited_app(store, dumps_dir, clock=None, **limits):
    """An app with the given limits, applied to loopback clients too, and optionally a hand-moved clock."""
    config = Config(testing=True, dumps_dir=str(dumps_dir), limit_loopback=True, **limits)
    app = create_app(config, store=store)
    if clock is not None:
        app.extensions["hkgraph.ratelimit"].clock = clock
    return app


def limiter_of(app) -> RateLimiter:
    return app.extensions["hkgraph.ratelimit"]


def key(address: str) -> bytes:
    return client_key(address)[0]


def ask(client, address: str = CLIENT, query: str = CHEAP, **params):
    """POST a query (a repeated GET may be answered by the response cache in front of the limits)."""
    return client.post(
        "/sparql",
        data={"query": query, "format": "json", **params},
        headers={"Accept": "application/json"},  # also the format of an error
        environ_base={"REMOTE_ADDR": address},
    )


# Loopback ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_clients_are_exempt_by_default(store, dumps_dir, address):
    config = Config(
        testing=True, dumps_dir=str(dumps_dir), max_concurrent_per_client=1, query_seconds_per_minute=0.001,
        errors_per_minute=1,
    )  # fmt: skip
    client = create_app(config, store=store).test_client()
    statuses = [ask(client, address, query=q).status_code for q in ("SELECT", "SELECT", CHEAP, CHEAP)]
    assert statuses == [400, 400, 200, 200]
    assert [ask(client, CLIENT, query=q).status_code for q in ("SELECT", CHEAP)] == [400, 429]


def test_loopback_clients_are_limited_when_asked(store, dumps_dir):
    client = limited_app(store, dumps_dir, errors_per_minute=1).test_client()
    assert ask(client, "127.0.0.1", query="SELECT").status_code == 400
    assert ask(client, "127.0.0.1").status_code == 429


# Concurrent requests ----------------------------------------------------------------------------------


def test_a_client_at_its_concurrency_limit_gets_429_until_a_request_finishes(store, dumps_dir):
    app = limited_app(store, dumps_dir, max_concurrent_per_client=2)
    client, limiter = app.test_client(), limiter_of(app)
    held = [limiter.admit(key(CLIENT), sparql=True) for _ in range(2)]  # two requests still running
    refused = ask(client)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert "at most 2 of your requests may run at the same time" in refused.json["error"]
    assert ask(client, OTHER).status_code == 200  # another client is not affected
    assert client.get("/healthz", environ_base={"REMOTE_ADDR": CLIENT}).status_code == 200  # not counted
    limiter.finish(held.pop(), 0.0, failed=False)
    assert ask(client).status_code == 200
    assert limiter.usage(key(CLIENT))[0] == 1


def test_concurrent_requests_in_threads_hold_slots(store, dumps_dir):
    """Real requests: while two slow queries of the client run, its third is refused; afterwards it is not."""
    app = limited_app(store, dumps_dir, max_concurrent_per_client=2)
    client, limiter = app.test_client(), limiter_of(app)
    slow = [threading.Thread(target=ask, args=(app.test_client(), CLIENT, COUNT_CROSS_JOIN), kwargs={"timeout": "1"}) for _ in range(2)]  # fmt: skip
    for thread in slow:
        thread.start()
    while limiter.usage(key(CLIENT))[0] < 2 and any(t.is_alive() for t in slow):
        time.sleep(0.01)
    refused = ask(client)
    for thread in slow:
        thread.join()
    assert refused.status_code == 429
    assert "at the same time" in refused.json["error"]
    assert limiter.usage(key(CLIENT))[0] == 0
    assert ask(client).status_code == 200


def test_the_slot_of_a_process_that_died_is_freed_and_charged_the_time_limit(store, dumps_dir):
    """A worker ended mid-request (here a forked child that exits while its request runs) leaves its slot
    recorded; the client's next request finds the process gone, frees the slot and charges its time limit."""
    app = limited_app(store, dumps_dir, max_concurrent_per_client=1, query_timeout=4)
    client, limiter = app.test_client(), limiter_of(app)

    def worker(sock):
        limiter.admit(key(CLIENT), sparql=True)
        sock.sendall(str(os.getpid()).encode())  # then the process ends without finishing the request

    in_forked_child(worker)  # returns once the child has ended and been reaped
    assert limiter.usage(key(CLIENT))[:2] == (1, 0.0)
    response = ask(client)
    assert response.status_code == 200
    running, seconds, _ = limiter.usage(key(CLIENT))
    assert running == 0
    assert seconds >= 4  # the dead request's full time limit, plus this query's own time


# Query time per minute --------------------------------------------------------------------------------


def test_each_query_is_charged_its_own_query_time_and_cache_hits_nothing(store, dumps_dir):
    app = limited_app(store, dumps_dir)
    client, limiter = app.test_client(), limiter_of(app)
    query = "SELECT ?s ?label WHERE { ?s rdfs:label ?label } LIMIT 50"
    first = client.post("/sparql", data={"query": query}, environ_base={"REMOTE_ADDR": CLIENT})
    assert "cache;desc=miss" in first.headers["Server-Timing"]
    query_ms = float(first.headers["Server-Timing"].split("dur=")[1].split(",")[0])
    assert limiter.usage(key(CLIENT))[1] == pytest.approx(query_ms / 1000)
    again = client.post("/sparql", data={"query": query}, environ_base={"REMOTE_ADDR": CLIENT})
    assert "cache;desc=hit" in again.headers["Server-Timing"]
    assert limiter.usage(key(CLIENT))[1] == pytest.approx(query_ms / 1000)


def test_query_time_budget_refuses_until_the_window_ends(store, dumps_dir):
    """Runaway queries stopped at 0.3 s use up a 0.5 s budget; then every counted request of the client is
    refused with the seconds left in its minute, until the minute is over."""
    clock = ManualClock()
    app = limited_app(store, dumps_dir, clock, query_seconds_per_minute=0.5)
    client, limiter = app.test_client(), limiter_of(app)
    statuses = [ask(client, query=COUNT_CROSS_JOIN, timeout="0.3").status_code for _ in range(3)]
    stopped = statuses.count(503)
    assert statuses == [503] * stopped + [429] * (3 - stopped) and stopped in (1, 2)
    assert limiter.usage(key(CLIENT))[1] >= 0.3 * stopped  # a stopped query counts at least its time limit
    clock.advance(20)
    refused = ask(client)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "40"
    assert refused.headers["RateLimit"] == '"query-time";r=0;t=40'
    assert '"query-time";q=0.5;w=60' in refused.headers["RateLimit-Policy"]
    message = refused.json["error"]
    assert "0.5 s are allowed per minute" in message and "try again in 40 s" in message.lower()
    page = client.get("/", environ_base={"REMOTE_ADDR": CLIENT})
    assert page.status_code == 429  # pages run queries too
    assert ask(client, OTHER).status_code == 200
    clock.advance(40)
    assert ask(client).status_code == 200
    assert limiter.usage(key(CLIENT))[1] < 0.5  # a fresh minute


def test_pages_are_charged_the_time_the_app_took(store, dumps_dir):
    app = limited_app(store, dumps_dir)
    client, limiter = app.test_client(), limiter_of(app)
    assert client.get("/", environ_base={"REMOTE_ADDR": CLIENT}).status_code == 200
    assert limiter.usage(key(CLIENT))[1] > 0
    client.get("/static/missing.css", environ_base={"REMOTE_ADDR": OTHER})
    client.get("/healthz", environ_base={"REMOTE_ADDR": OTHER})
    assert limiter.usage(key(OTHER))[1] == 0  # static files and the health check are not counted


# Failing queries per minute ---------------------------------------------------------------------------


def test_failing_queries_are_capped_per_minute(store, dumps_dir):
    clock = ManualClock()
    app = limited_app(store, dumps_dir, clock, errors_per_minute=2)
    client = app.test_client()
    assert [ask(client, query=q).status_code for q in ("SELECT", CHEAP, "ASK {")] == [400, 200, 400]
    clock.advance(1)
    refused = ask(client)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "59"
    assert "at most 2 are allowed per minute" in refused.json["error"]
    assert (
        client.get("/", environ_base={"REMOTE_ADDR": CLIENT}).status_code == 200
    )  # pages do not fail queries
    clock.advance(59)
    assert ask(client).status_code == 200


def test_a_repeated_get_answered_by_the_response_cache_is_not_refused(store, dumps_dir):
    """The response cache answers a repeated identical GET in front of Flask: no query runs, and replaying it
    costs less than a 429 would, so it is served even to a client over its limits."""
    client = limited_app(store, dumps_dir, errors_per_minute=1).test_client()
    params = {"query": CHEAP, "format": "json"}
    assert client.get("/sparql", query_string=params, environ_base={"REMOTE_ADDR": OTHER}).status_code == 200
    assert ask(client, query="SELECT").status_code == 400
    assert ask(client).status_code == 429
    replayed = client.get("/sparql", query_string=params, environ_base={"REMOTE_ADDR": CLIENT})
    assert replayed.status_code == 200 and replayed.headers["Server-Timing"] == "cache;desc=hit"


# The answer -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "mimetype"),
    [
        ("application/json", "application/json"),
        ("text/plain", "text/plain"),
        ("text/html", "text/html"),
        ("application/sparql-results+json, */*;q=0.1", "text/plain"),
    ],
)
def test_429_says_which_limit_in_the_clients_error_format(store, dumps_dir, accept, mimetype):
    app = limited_app(store, dumps_dir, max_concurrent_per_client=1)
    client, limiter = app.test_client(), limiter_of(app)
    limiter.admit(key(CLIENT), sparql=True)
    response = client.get(
        "/sparql", query_string={"query": CHEAP}, headers={"Accept": accept}, environ_base={"REMOTE_ADDR": CLIENT}
    )  # fmt: skip
    assert response.status_code == 429
    assert response.mimetype == mimetype
    assert response.headers["Retry-After"] == "1"
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
    text = response.json["error"] if mimetype == "application/json" else response.get_data(as_text=True)
    assert "at most 1 of your requests may run at the same time" in text
    assert "Traceback" not in text


def test_429_is_in_the_access_log_with_its_limit(store, dumps_dir, capsys):
    app = limited_app(store, dumps_dir, max_concurrent_per_client=1, access_log=True)
    client, limiter = app.test_client(), limiter_of(app)
    limiter.admit(key(CLIENT), sparql=True)
    ask(client)
    entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert (entry["status"], entry["limit"], entry["remote"]) == (429, "concurrent", CLIENT)


# Who the client is ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "client"),
    [
        (OTHER, "1.2.3.4", [], OTHER),  # X-Forwarded-For from anyone else is ignored
        (PROXY, "1.2.3.4", [], PROXY),  # ... even from a proxy, unless it is trusted
        (PROXY, "1.2.3.4", [PROXY], "1.2.3.4"),
        (PROXY, "9.9.9.9, 1.2.3.4", [PROXY], "1.2.3.4"),  # the client's own X-Forwarded-For is not believed
        (PROXY, "1.2.3.4, 192.0.2.11", ["192.0.2.0/24"], "1.2.3.4"),  # proxies in a chain are skipped
        (PROXY, "not-an-address", [PROXY], PROXY),  # junk: the proxy itself is the client
        (PROXY, "", [PROXY], PROXY),
        ("2001:db8::1", "1.2.3.4", ["2001:db8::/32"], "1.2.3.4"),
    ],
)
def test_client_address(remote, forwarded, trusted, client):
    environ = {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_address(environ, proxy_networks(trusted)) == client


def test_ipv6_clients_are_counted_by_their_64():
    assert key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff::9")
    assert key("2001:db8:1:3::1") != key("2001:db8:1:2::1")
    assert key("::ffff:203.0.113.7") == key(CLIENT)


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(store, dumps_dir):
    for trusted in ([], [PROXY]):
        client = limited_app(store, dumps_dir, errors_per_minute=2, trusted_proxies=trusted).test_client()
        statuses = []
        for n in range(3):  # each "client" behind the proxy sends one failing query, then a good one
            environ = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"1.2.3.{n}"}
            for query in ("SELECT", CHEAP):
                statuses.append(
                    client.post("/sparql", data={"query": query}, environ_base=environ).status_code
                )
        if not trusted:
            assert statuses == [400, 200, 400, 429, 429, 429]  # all one client: the proxy
        else:
            assert statuses == [400, 200] * 3  # three clients


def test_a_trusted_proxy_on_loopback_does_not_exempt_its_clients(store, dumps_dir):
    config = Config(
        testing=True, dumps_dir=str(dumps_dir), errors_per_minute=1, trusted_proxies=["127.0.0.1"]
    )
    client = create_app(config, store=store).test_client()
    environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": CLIENT}
    statuses = [client.post("/sparql", data={"query": q}, environ_base=environ).status_code for q in ("SELECT", CHEAP)]  # fmt: skip
    assert statuses == [400, 429]


def test_a_bad_trusted_proxy_is_a_users_error(tmp_path):
    with pytest.raises(HkgraphError, match="'nonsense' is not an IP address or network"):
        RateLimiter(Config(trusted_proxies=["192.0.2.1,nonsense"]))
    hkgraph = Path(sys.executable).with_name("hkgraph")
    done = subprocess.run(
        [hkgraph, "serve", "--port", str(free_port()), "--trusted-proxy", "nonsense"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == "hkgraph: trusted proxy 'nonsense' is not an IP address or network\n"


def test_rate_limited_is_a_429_with_headers():
    err = RateLimited("over", 12, '"errors";q=30;w=60', "errors")
    assert (err.status, err.headers["Retry-After"], err.headers["RateLimit"]) == (
        429,
        "12",
        '"errors";r=0;t=12',
    )


# Under gunicorn ---------------------------------------------------------------------------------------


class SourceAddress(requests.adapters.HTTPAdapter):
    """Connects from a given local address: 127.0.0.2, 127.0.0.3, ... are other loopback clients."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def session_from(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", SourceAddress(address))
    return session


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory):
    """A real `hkgraph serve` with 3 workers, a 1 s query limit and tight fair-use limits on loopback too."""
    log = tmp_path_factory.mktemp("ratelimit") / "server.log"
    limits = [
        "--max-concurrent-per-client",
        "1",
        "--query-seconds-per-minute",
        "2",
        "--errors-per-minute",
        "0",
    ]
    with serve_process(log, "--workers", "3", "--timeout", "1", "--limit-loopback", *limits) as (url, _):
        yield url + "sparql", log


def test_limits_hold_across_gunicorn_workers_and_a_killed_workers_slot_is_freed(limited_server):
    """One client's runaway query holds its only slot in one worker while its other requests, which other
    workers answer, are refused; the watchdog stops the runaway and ends that worker, and the slot is free
    again. Another client's runaway queries, each ending its worker, use up its query time: the next
    request, answered by yet another process, is refused. (Each query differs by a comment, so no cache
    answers it.)"""
    endpoint, log = limited_server
    first, first_runaway, second = (session_from(a) for a in ("127.0.0.2", "127.0.0.2", "127.0.0.3"))
    numbers = itertools.count()

    def cheap(session):
        query = f"{CHEAP} # {next(numbers)}"
        return session.get(endpoint, params={"query": query, "format": "json"}, timeout=30)

    outcome: dict = {}
    runaway = {"query": COUNT_CROSS_JOIN, "timeout": "0.5"}
    for _attempt in range(3):  # a probe holding the slot just as the runaway arrives gets it refused: again
        thread = threading.Thread(target=lambda: outcome.update(runaway=first_runaway.post(endpoint, data=runaway, timeout=30)))  # fmt: skip
        thread.start()
        probes = []
        while thread.is_alive():
            probes.append(cheap(first))
            time.sleep(0.05)
        thread.join()
        if outcome["runaway"].status_code == 503:
            break
    assert outcome["runaway"].status_code == 503  # stopped by the watchdog, which ended its worker
    refused = [p for p in probes if p.status_code == 429]
    assert refused, [p.status_code for p in probes]
    assert "at the same time" in refused[0].text and refused[0].headers["Retry-After"] == "1"
    after = cheap(first)
    assert after.status_code == 200 and after.json()["boolean"] is True  # the killed worker's slot is free

    statuses = [second.post(endpoint, data={"query": f"{COUNT_CROSS_JOIN} # {n}"}, timeout=30).status_code for n in range(2)]  # fmt: skip
    assert statuses == [503, 503]  # each ran to the server's 1 s limit and ended its worker
    refused = cheap(second)
    assert refused.status_code == 429
    assert "query time used up" in refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert cheap(first).status_code == 200
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    second_client = [(e["status"], e.get("limit")) for e in entries if e["remote"] == "127.0.0.3"]
    assert second_client == [(503, None), (503, None), (429, "query-time")]
