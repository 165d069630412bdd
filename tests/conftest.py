"""Shared fixtures: one loaded store per session, the app, its test client and a CLI runner."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from hkgraph.app import create_app
from hkgraph.config import Config
from hkgraph.store import Store


@pytest.fixture(scope="session")
def store() -> Store:
    """The built-in graph, loaded once for the whole run (read-only, so sharing is safe)."""
    return Store.load()


@pytest.fixture(scope="session")
def dumps_dir(tmp_path_factory) -> Path:
    """One folder for the dumps the test apps build (instead of the project's build/dumps)."""
    return tmp_path_factory.mktemp("dumps")


@pytest.fixture()
def config(dumps_dir) -> Config:
    return Config(testing=True, dumps_dir=str(dumps_dir))


@pytest.fixture()
def app(config, store):
    return create_app(config, store=store if config.base_uri == store.base and not config.data else None)


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """A real `hkgraph serve` (gunicorn) whose base IRI is its own address, so every IRI it mints is fetchable.

    Yields the base URL (http://127.0.0.1:PORT/); started once per test session, stopped at its end.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    log = tmp_path_factory.mktemp("live") / "server.log"
    hkgraph = Path(sys.executable).with_name("hkgraph")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(hkgraph), "serve", "--port", str(port), "--base-uri", base, "--workers", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "healthz", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hkgraph serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
