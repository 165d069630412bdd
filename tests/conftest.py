"""Shared fixtures: one loaded store per session and backend, the app, its test client and a CLI runner.

The endpoint, linked-data, search and diagram tests (the modules named in BOTH_BACKENDS) run twice: on
the embedded pyoxigraph store and on a real triplestore, a Virtuoso started for the session on loopback
and loaded with `hkgraph load`. Every other test runs on the embedded store. Differences between the
engines are handled in the backend (hkgraph.remote), never in a test.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from hypothesis import settings

from hkgraph.app import create_app
from hkgraph.config import Config
from hkgraph.remote import RemoteStore
from hkgraph.store import Store
from hkgraph.virtuoso import PASSWORD, USER, run_virtuoso

BOTH_BACKENDS = ("test_sparql_", "test_linked_", "test_search", "test_diagram", "test_dataset")

# HYPOTHESIS_PROFILE=fuzz (`make fuzz`): ten times the examples in tests/test_fuzz.py, new ones each run.
settings.register_profile("fuzz", max_examples=1000, deadline=None, print_blob=True)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


def pytest_generate_tests(metafunc):
    """Tests that use the store (or the app, client or a live server) get a backend: both in the modules
    of BOTH_BACKENDS, else the embedded one. @pytest.mark.embedded_only(reason) keeps a test that checks
    something only the embedded store has (its runner processes) on that one."""
    if "backend" in metafunc.fixturenames:
        embedded = metafunc.definition.get_closest_marker("embedded_only")
        both = metafunc.module.__name__.startswith(BOTH_BACKENDS) and embedded is None
        backends = ["memory", "virtuoso"] if both else ["memory"]
        metafunc.parametrize("backend", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request) -> str:
    """Where the graph is: "memory" (embedded pyoxigraph) or "virtuoso" (RemoteStore over its endpoint)."""
    return request.param


def hkgraph_load(endpoint: str, *args: str) -> str:
    """Run `hkgraph load --endpoint ENDPOINT *args` with Virtuoso's credentials in the environment."""
    hkgraph = Path(sys.executable).with_name("hkgraph")
    env = {**os.environ, "HKGRAPH_ENDPOINT_USER": USER, "HKGRAPH_ENDPOINT_PASSWORD": PASSWORD}
    done = subprocess.run(
        [str(hkgraph), "load", "--endpoint", endpoint, *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"hkgraph load failed: {done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def virtuoso(tmp_path_factory):
    """One Virtuoso for the session (Debian's virtuoso-opensource, its own database, free ports on
    127.0.0.1), loaded with the built-in graph by `hkgraph load`; stopped at the end of the session."""
    with run_virtuoso(tmp_path_factory.mktemp("virtuoso"), query_seconds=20) as server:
        hkgraph_load(server.endpoint)
        yield server


@pytest.fixture(scope="session")
def store(backend, request) -> Store:
    """The built-in graph, once per backend for the whole run (read-only, so sharing is safe)."""
    if backend == "virtuoso":
        return RemoteStore.open(request.getfixturevalue("virtuoso").endpoint)
    return Store.load()


def backend_options(backend: str, request, base: str | None = None) -> list[str]:
    """`hkgraph serve` options for the backend; for Virtuoso under another base, that base is loaded first."""
    if backend != "virtuoso":
        return []
    endpoint = request.getfixturevalue("virtuoso").endpoint
    if base is not None:
        hkgraph_load(endpoint, "--base-uri", base)
    return ["--endpoint", endpoint]


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
def live_server(tmp_path_factory, backend, request):
    """A real `hkgraph serve` (gunicorn) whose base IRI is its own address, so every IRI it mints is fetchable.

    Yields the base URL (http://127.0.0.1:PORT/); started once per test session, stopped at its end.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    log = tmp_path_factory.mktemp("live") / "server.log"
    options = backend_options(backend, request, base)
    with serve_process(log, "--base-uri", base, "--workers", "2", *options, port=port) as (url, _):
        yield url


@contextlib.contextmanager
def serve_process(log: Path, *args: str, port: int | None = None):
    """Run `hkgraph serve --port PORT *args` until the block ends; yields (base URL, process).
    "{base}" in an argument becomes the server's own base URL (for --base-uri)."""
    port = port or free_port()
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
def sparql_server(tmp_path_factory, backend, request) -> LiveServer:
    """A real gunicorn `hkgraph serve` with a 2 s query limit and 3 workers, shared by the SPARQL tests."""
    log = tmp_path_factory.mktemp("sparql") / "server.log"
    options = backend_options(backend, request)
    with serve_process(log, "--timeout", str(SPARQL_SERVER_TIMEOUT), "--workers", "3", *options) as (
        url,
        proc,
    ):
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


def in_forked_child(work) -> bytes:
    """Run work(sock) in a forked child process; returns all that the child wrote on sock before it ended.
    For what may end its process (the query watchdog of `hkgraph serve`) or change process-wide limits."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        try:
            ours.close()
            work(theirs)
        finally:
            os._exit(0)
    theirs.close()
    with ours:
        data = b"".join(iter(lambda: ours.recv(65536), b""))
    os.waitpid(pid, 0)
    return data


MERMAID_DIR = Path(__file__).parent / "mermaid"


@pytest.fixture(scope="session")
def mermaid_parse():
    """The real Mermaid parser (tests/mermaid, installed by `make test`), run once for many texts:
    parse(texts) gives, per text, {ok, error, type, vertices, edges, classes} (see tests/mermaid/parse.mjs)."""
    import json
    import shutil

    node = shutil.which("node")
    script = MERMAID_DIR / "parse.mjs"
    if node is None or not (MERMAID_DIR / "node_modules" / "mermaid").is_dir():
        pytest.fail("the Mermaid parser is not installed: run `make test` (npm ci --prefix tests/mermaid)")

    def parse(texts: list[str]) -> list[dict]:
        done = subprocess.run(
            [node, str(script)],
            input=json.dumps(texts).encode(),
            capture_output=True,
            check=True,
            timeout=120,
        )
        return json.loads(done.stdout)

    return parse


def mermaid_decode(text: str) -> str:
    """Label text as Mermaid shows it: its parser keeps #name; entities in an internal form until drawing."""
    import html

    return html.unescape(text.replace("ﬂ°°", "&#").replace("ﬂ°", "&").replace("¶ß", ";"))


# Hostile data and pages ---------------------------------------------------------------------------------

HOSTILE_DATA = Path(__file__).parent / "fixtures" / "hostile.ttl"
# what an injected element would look like, had a payload of HOSTILE_DATA or of a request escaped its text
INJECTED_TAGS = {"img", "b", "i", "ho", "z", "iframe", "embed"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href", "poster"}
UNSAFE_SCHEMES = ("javascript:", "vbscript:", "data:text/html")


def hostile_files() -> list[str]:
    """The built-in graph's files plus HOSTILE_DATA, as `hkgraph serve --data` takes them."""
    from hkgraph.store import default_sources

    return [str(s.path) for s in default_sources()] + [str(HOSTILE_DATA)]


class ParsedHtml(HTMLParser):
    """A page as a browser's tokenizer reads it: every element with its attributes, and all the text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []  # the content of each inline <script>
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)

    def attribute_values(self, name: str) -> list[str]:
        return [attrs[name] for _, attrs in self.elements if name in attrs]


def assert_nothing_injected(page: ParsedHtml) -> None:
    """No element, handler, script or URL that the data or the request could have put there."""
    for tag, attrs in page.elements:
        assert tag not in INJECTED_TAGS, (tag, attrs)
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        for name in URL_ATTRIBUTES & set(attrs):
            value = re.sub(r"[\x00-\x20]", "", attrs[name]).lower()
            assert not value.startswith(UNSAFE_SCHEMES), (tag, attrs)
        if tag == "script":  # only our own files and JSON data blocks
            assert attrs.get("type") == "application/json" or attrs.get("src", "").startswith("/static/"), (
                attrs
            )
    assert sum(tag == "html" for tag, _ in page.elements) == 1
