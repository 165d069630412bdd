"""Shared fixtures: one loaded store per session, the app, its test client and a CLI runner."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
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


@contextlib.contextmanager
def serve_process(log: Path, *args: str):
    """Run `hkgraph serve --port PORT *args` until the block ends; yields (base URL, process).
    "{base}" in an argument becomes the server's own base URL (for --base-uri)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    hkgraph = Path(sys.executable).with_name("hkgraph")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(hkgraph), "serve", "--port", str(port), *(a.replace("{base}", base) for a in args)],
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
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


SPARQL_SERVER_TIMEOUT = 2.0  # seconds: short, so tests of runaway queries stay quick


@dataclass
class LiveServer:
    url: str  # base URL, ending in /
    log: Path  # the server's stderr: gunicorn's log and the JSON access log
    process: subprocess.Popen

    @property
    def endpoint(self) -> str:
        return self.url + "sparql"


@pytest.fixture(scope="session")
def sparql_server(tmp_path_factory) -> LiveServer:
    """A real gunicorn `hkgraph serve` with a 2 s query limit and 3 workers, shared by the SPARQL tests."""
    log = tmp_path_factory.mktemp("sparql") / "server.log"
    with serve_process(log, "--timeout", str(SPARQL_SERVER_TIMEOUT), "--workers", "3") as (url, proc):
        yield LiveServer(url, log, proc)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """One headless Debian Chromium for the session (Selenium, Debian's chromedriver, a fresh profile);
    never downloads a browser or driver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch anything
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
                "--window-size=1280,1000", "--lang=en-GB"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
