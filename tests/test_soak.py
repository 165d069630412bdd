"""The soak of `make soak` (bench/soak.py), short: a real `hkgraph serve` under mixed traffic with runaway
queries and clients that hang up stays correct, keeps answering and leaves no connection open."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import serve_process

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import soak  # noqa: E402  (bench/soak.py; its client processes import it by the same name)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`hkgraph serve` as the soak starts it, with 3 workers; yields (base URL, master process, log)."""
    log = tmp_path_factory.mktemp("soak") / "server.log"
    limits = ["--timeout", str(soak.QUERY_TIMEOUT), "--cache-mb", str(soak.CACHE_MB)]
    with serve_process(log, *limits, "--workers", "3") as (url, process):
        yield url, process, log


@pytest.fixture(scope="module")
def figures(server) -> dict:
    """One short soak for the module: every request class at the same weight, runaway queries back to back."""
    url, process, log = server
    options = soak.Options(
        seconds=15,
        unloaded_seconds=2,
        clients=2,
        think=0.05,
        runaway_pause=0.5,
        warm_up_rounds=1,
        mix={name: 1 for name in soak.MIX},
        runaway_mix={name: 1 for name in soak.RUNAWAY_MIX},
    )
    figures = soak.soak(url, process.pid, log, options)
    figures["server_log"] = log.read_text()
    return figures


def tallies(figures: dict) -> dict[str, soak.Tally]:
    return {key: soak.tally_of(figures, key) for key in ("warm_up", "load", "unloaded", "loaded", "after")}


def test_every_request_class_ran(figures):
    load = soak.tally_of(figures, "load")
    assert {name for name in [*soak.MIX, *soak.RUNAWAY_MIX] if load.requests(name) == 0} == set()


def test_no_failed_response(figures):
    failed = {
        (phase, name): tally.statuses[name]
        for phase, tally in tallies(figures).items()
        for name in tally.statuses
        if tally.failed(name)
    }
    assert failed == {}


def test_no_connection_error_or_hung_connection(figures):
    errors = {
        (phase, name): e for phase, tally in tallies(figures).items() for name, e in tally.errors.items()
    }
    assert errors == {}
    assert figures["open_connections"] == 0


def test_runaway_queries_are_stopped_and_their_workers_replaced(figures):
    load = soak.tally_of(figures, "load")
    answered = load.statuses["runaway query"].get(503, 0)
    abandoned = load.statuses["runaway query, hung up"].get(0, 0)
    assert answered >= 2 and abandoned >= 1
    assert figures["log"]["queries stopped by the watchdog"] == answered + abandoned
    assert figures["log"]["workers booted"] == answered + abandoned
    workers = [p for p in figures["processes"] if p["role"] == "worker"]
    assert len(workers) > 3  # the replacements were sampled too, each by its own pid


def test_designed_limits_are_the_only_other_answers(figures):
    load = soak.tally_of(figures, "load")
    assert set(load.statuses["body over the cap"]) == {413}
    assert set(load.statuses["hang up mid-response"]) == {200}


def test_server_still_answers_and_logged_no_error(figures):
    assert figures["still_answers"] == {"healthz": 200, "query": 200}
    assert figures["log"]["errors (ERROR, CRITICAL, Traceback)"] == 0
    assert figures["log"]["status 500 in the access log"] == 0
    assert "Traceback" not in figures["server_log"]


def test_report_states_every_target(figures):
    text = soak.report(figures)
    for name in [*soak.MIX, *soak.RUNAWAY_MIX]:
        assert f"| {name} |" in text
    for line, _ in soak.targets(figures):
        assert f"- {line}: " in text


def test_a_body_far_over_the_cap_gets_its_413_not_a_reset(server, figures):
    """The server reads and drops a refused body (up to 16 MB) before answering: closing on unread data would
    reset the connection under a client still sending, which then never sees the 413."""
    url, _, _ = server
    port = urlsplit(url).port
    body = b"query=" + b"x" * (4 * 1024 * 1024)
    head = (
        "POST /sparql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + body)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 413")
    assert f"the request body has {len(body)} bytes; at most".encode() in answer
