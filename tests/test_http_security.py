"""Security headers on every response, path traversal and odd IRIs refused, and the pages in a real browser
under their Content-Security-Policy: the query UI (YASGUI) works with no violation, and the hostile data
(tests/fixtures/hostile.ttl, served by a real `hkgraph serve --no-validate`) runs nothing."""

from __future__ import annotations

import http.client
import signal
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests
from conftest import HOSTILE_DATA, ParsedHtml, assert_nothing_injected, hostile_files, serve_process
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

# Routes of every area, with what they answer (a page or data); 404s and redirects included.
ROUTES = [
    ("/", "page"),
    ("/doc/org/itc", "page"),
    ("/doc/def/", "page"),
    ("/search?q=itc", "page"),
    ("/sparql", "page"),
    ("/diagram?root=itc", "page"),
    ("/dumps/", "page"),
    ("/.well-known/void", "data"),
    ("/doc/org/no-such-thing", "page"),
    ("/no/such/route", "page"),
    ("/doc/org/itc.ttl", "data"),
    ("/doc/org/itc.jsonld", "data"),
    ("/id/org/itc", "page"),  # 303, with a small HTML body
    ("/search?q=itc&format=json", "data"),
    ("/sparql?query=ASK%7B%7D", "data"),
    ("/sparql?query=SELECT", "data"),  # 400
    ("/doc/org/itc/diagram.svg", "data"),
    ("/doc/org/itc/diagram.mmd", "data"),
    ("/dumps/SHA256SUMS", "data"),
    ("/healthz", "data"),
    ("/openapi.json", "data"),
    ("/static/site.css", "data"),
    ("/static/sparql/ui.js", "data"),
]


def policy(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: sources}."""
    directives = [d.split() for d in header.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


@pytest.mark.parametrize("path, kind", ROUTES)
def test_every_response_carries_the_security_headers(client, path, kind):
    accept = "text/html" if kind == "page" else "*/*"
    response = client.get(path, headers={"Accept": accept})
    assert response.status_code < 500, response.data[:300]
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert headers["Access-Control-Allow-Origin"] == "*"
    csp = policy(headers["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'self'"]
    if kind == "data":
        assert response.mimetype != "text/html"
        assert csp == {"default-src": ["'none'"], "frame-ancestors": ["'self'"]}
        return
    assert response.mimetype == "text/html"
    assert csp["default-src"] == ["'self'"] and "script-src" not in csp  # scripts: our own files only
    assert all(s == "'self'" or s.startswith("'sha256-") for s in csp["style-src"])
    assert csp["base-uri"] == ["'none'"] and csp["form-action"] == ["'self'"]
    page = ParsedHtml(response.get_data(as_text=True))
    for tag, attrs in page.elements:  # nothing inline the policy would block
        assert "style" not in attrs and tag != "style", (tag, attrs)
        assert tag != "script" or attrs.get("src") or attrs.get("type") == "application/json", attrs


# Path traversal and odd IRIs ---------------------------------------------------------------------------

LONG = "a" * 20_000
TRAVERSALS = [
    "/dumps/..%2fcanary.txt",
    "/dumps/%2e%2e%2fcanary.txt",
    "/dumps/%2e%2e/canary.txt",
    "/dumps/..%5ccanary.txt",
    "/dumps/..\\canary.txt",
    "/dumps/canary.txt%00",
    "/dumps/%00",
    "/dumps/..",
    "/dumps/%2fetc%2fpasswd",
    "/dumps/C:%5cWindows%5cwin.ini",
    "/dumps/" + LONG,
    "/static/..%2fapp.py",
    "/static/%2e%2e/app.py",
    "/static/..%5capp.py",
    "/static/%c0%ae%c0%ae/app.py",
    "/static/\uff0e\uff0e/app.py",
    "/static/site.css%00",
    "/static/%2fetc%2fpasswd",
    "/static//etc/passwd",
    "/id/..",
    "/id/%2e%2e/%2e%2e/etc/passwd",
    "/id/org/itc%00",
    "/id/org\\itc",
    "/id/org/%ef%bd%89tc",  # fullwidth i: NFKC would make it itc
    "/id/org/\u0130tc",
    "/id/" + LONG,
    "/doc/..",
    "/doc/%2e%2e/%2e%2e/etc/passwd",
    "/doc/org/itc%00.ttl",
    "/doc/org/it%E2%80%AEc",
    "/doc/C:%5cWindows%5cwin.ini",
    "/doc/" + LONG,
    "/def/..%2f..%2f",
    "/def/Bureau%00",
    "/shapes/%00",
    "/graph/%2e%2e",
    "/doc/..%2f..%2fetc%2fpasswd/diagram.svg",
    "/doc/org/itc/..%2f..%2fdiagram.svg",
    "/doc/org/a%00b/diagram.svg",
    "/doc/org/itc/diagram.svg%00",
    "/doc/org/" + LONG + "/diagram.png",
    "/diagram.svg?root=..%2f..%2fetc%2fpasswd",
    "/diagram.dot?root=file:///etc/passwd",
    "/diagram?root=%00",
    "/diagram?root=" + LONG,
]


@pytest.fixture(scope="module")
def canary(dumps_dir) -> Path:
    """A file just outside the dumps folder, which no request may read."""
    path = dumps_dir.parent / "canary.txt"
    path.write_text("CANARY-7c1e", encoding="utf-8")
    return path


@pytest.mark.parametrize("path", TRAVERSALS, ids=lambda p: p[:60])
def test_traversal_and_odd_paths_are_refused_with_a_message(client, canary, path):
    response = client.get(path, headers={"Accept": "text/html"}, follow_redirects=True)
    assert response.status_code in (400, 404), (response.status_code, response.data[:300])
    body = response.get_data(as_text=True)
    assert "CANARY-7c1e" not in body and "def create_app" not in body and "root:x:0:0" not in body
    assert "Traceback" not in body and body.strip()
    assert "\x00" not in body and "\u202e" not in body
    assert_nothing_injected(ParsedHtml(body))


@pytest.mark.parametrize(
    "path, shown",
    [
        ("/doc/org/itc%00", "id/org/itc\\x00"),
        ("/doc/org/it%E2%80%AEc", "id/org/it\\u202ec"),
        ("/doc/org/%1b%5b31mred", "id/org/\\x1b[31mred"),
        ("/dumps/%00", "'\\x00'"),
    ],
)
def test_an_error_quotes_control_and_bidi_characters_as_escapes(client, path, shown):
    """A message quoting the request never carries a NUL, a terminal escape or an RTL override itself."""
    for accept in ("text/plain", "application/json", "text/html"):
        response = client.get(path, headers={"Accept": accept})
        assert response.status_code == 404
        body = response.get_data(as_text=True)
        message = response.get_json()["error"] if accept == "application/json" else body
        assert shown in message or shown.replace("'", "&#39;") in message
        assert not {"\x00", "\x1b", "\u202e"} & set(message)


# The same in a real server, under gunicorn and in a browser --------------------------------------------


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory) -> str:
    """A real `hkgraph serve` of the built-in graph plus the hostile fixture, which breaks the SHACL shapes on
    purpose and so is served with --no-validate; yields its base URL."""
    log = tmp_path_factory.mktemp("hostile") / "server.log"
    data = [arg for path in hostile_files() for arg in ("--data", path)]
    with serve_process(log, *data, "--no-validate", "--workers", "2") as (base, process):
        yield base
        process.send_signal(signal.SIGQUIT)  # at once: Chromium's idle connections hold a graceful stop 10 s


def raw_get(base: str, path: str) -> tuple[int, bytes]:
    """GET a path exactly as written (no client normalises its dots or escapes)."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../../../../../etc/passwd",
        "/static/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/static/../app.py",
        "/dumps/../../pyproject.toml",
        "/doc/../../../etc/passwd",
        "/" + "a" * 10_000,  # longer than gunicorn's request line limit
    ],
)
def test_gunicorn_refuses_traversal_and_overlong_lines(hostile_server, path):
    status, body = raw_get(hostile_server, path)
    assert status in (400, 404, 414), (status, body[:200])  # 414: gunicorn's own answer to a long line
    assert b"root:x:0:0" not in body and b"def create_app" not in body and b"[project]" not in body
    assert requests.get(hostile_server + "healthz", timeout=10).ok


def test_gunicorn_responses_carry_the_headers(hostile_server):
    for path, kind in [("", "page"), ("static/site.css", "data"), ("sparql?query=ASK%7B%7D", "data")]:
        response = requests.get(
            hostile_server + path, headers={"Accept": "text/html" if kind == "page" else "*/*"}, timeout=10
        )
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert ("default-src 'self'" if kind == "page" else "default-src 'none'") in response.headers[
            "Content-Security-Policy"
        ]


# What the browser records: every Content-Security-Policy violation and every alert() a payload might call.
WATCH = """
window.__violations = [];
window.__alerts = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push({directive: e.violatedDirective, source: e.sourceFile, line: e.lineNumber,
                            blocked: e.blockedURI, sample: e.sample});
});
window.alert = window.confirm = window.prompt = function (message) { window.__alerts.push(String(message)); };
"""


@pytest.fixture()
def browser(chromium):
    """The session's Chromium, recording violations and alerts on every page it opens in this test."""
    added = chromium.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH})
    chromium.delete_all_cookies()
    yield chromium
    chromium.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": added["identifier"]})


def settled(browser, seconds: float = 0.5) -> dict:
    """After the page's scripts had time to run: what it recorded, and any element with an on* handler."""
    time.sleep(seconds)
    return browser.execute_script(
        """return {violations: window.__violations, alerts: window.__alerts,
                   handlers: Array.from(document.querySelectorAll("*")).filter(function (e) {
                     return Array.from(e.attributes).some(function (a) { return /^on/i.test(a.name); });
                   }).map(function (e) { return e.outerHTML.slice(0, 200); })};"""
    )


def test_the_query_ui_runs_under_the_policy_without_a_violation(browser, hostile_server):
    query = "SELECT ?class (COUNT(?s) AS ?n) WHERE { ?s a ?class } GROUP BY ?class ORDER BY DESC(?n) LIMIT 5"
    browser.get(hostile_server + "sparql?query=" + quote(query))
    WebDriverWait(browser, 20).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".yasr table tbody tr td a"))
    )
    rows = browser.find_elements(By.CSS_SELECTOR, ".yasr table tbody tr")
    assert len(rows) == 5
    recorded = settled(browser)
    assert recorded == {"violations": [], "alerts": [], "handlers": []}


def test_a_hostile_query_result_in_the_query_ui_runs_nothing(browser, hostile_server):
    query = "SELECT ?p ?o WHERE { <https://w3id.org/hkgraph/id/org/hostile-office> ?p ?o }"
    browser.get(hostile_server + "sparql?query=" + quote(query))
    WebDriverWait(browser, 20).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".yasr table tbody tr"))
    )
    table = browser.find_element(By.CSS_SELECTOR, ".yasr table").text
    assert '<script>alert("label")</script>' in table
    hrefs = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, ".yasr table a")]
    assert hrefs and not [h for h in hrefs if h.lower().startswith("javascript:")]
    assert settled(browser) == {"violations": [], "alerts": [], "handlers": []}


@pytest.mark.parametrize(
    "path",
    [
        "doc/org/hostile-office?lang=en",
        "doc/org/hostile-office?lang=zh-Hans",
        "doc/group/hostile-group?lang=zh-Hant",
        "diagram?root=org/hostile-office&lang=zh-Hant",
        "search?q=" + quote("<img src=x onerror=alert(1)>"),
        "doc/org/hostile-offic%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
    ],
)
def test_hostile_pages_run_nothing_in_a_browser(browser, hostile_server, path):
    browser.get(hostile_server + path)
    recorded = settled(browser, 0.5)
    assert recorded == {"violations": [], "alerts": [], "handlers": []}


def test_an_rtl_override_in_a_label_stays_inside_the_label(browser, hostile_server, tmp_path):
    """The office's zh-Hans label ends in an RTL override that nothing terminates: the label is its own bidi
    run, so the language tag after it is still drawn after it, not pulled into the reversed text."""
    assert HOSTILE_DATA.read_text(encoding="utf-8").count('\\u202Eexe.gnp"@zh-Hans') == 1
    browser.get(hostile_server + "doc/org/hostile-office?lang=en")
    span = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=names-h] span[lang=zh-Hans]")
    tag = span.find_element(By.XPATH, "following-sibling::small[1]")
    assert tag.text == "zh-Hans"
    assert browser.execute_script("return getComputedStyle(arguments[0]).unicodeBidi", span) == "isolate"
    assert tag.location["x"] >= span.location["x"] + span.size["width"] - 1
    browser.save_screenshot(str(tmp_path / "hostile-office.png"))
    assert (
        browser.find_element(By.TAG_NAME, "h1").text
        == '<script>alert("label")</script> Office & \'Co\' "><img src=x onerror=alert(1)>'
    )
