"""The SPARQL endpoint at /sparql: the W3C protocol, every result format, the service description and the UI."""

from __future__ import annotations

import contextlib
import functools
import json
from pathlib import Path

import pyoxigraph as ox
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    has_request_context,
    render_template,
    request,
    url_for,
)

from hkgraph.app import get_store
from hkgraph.blueprints.linkeddata import external_href
from hkgraph.errors import BadRequest, HkgraphError, NotAcceptable
from hkgraph.i18n import select_language
from hkgraph.queries import named_queries
from hkgraph.sparql_description import SD, VOID, dataset_statistics, service_description
from hkgraph.sparql_formats import GRAPH_FORMATS, HTML, JSON, NTRIPLES, SOLUTION_FORMATS, choose_format
from hkgraph.sparql_guard import inspect_query, with_prefix_declarations
from hkgraph.sparql_protocol import SparqlRequest, read_request
from hkgraph.sparql_runner import Job, Outcome, QueryEngine
from hkgraph.sparql_watchdog import Watchdog

bp = Blueprint("sparql", __name__)

DEFAULT_QUERY = """# Which classes have the most members? Click a class to see its page.
SELECT ?class (COUNT(?entity) AS ?entities) WHERE {
  ?entity a ?class .
}
GROUP BY ?class
ORDER BY DESC(?entities)
LIMIT 25
"""
HTML_ROWS = 1000  # rows shown on the no-JavaScript results page
LABEL = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")


def settings():
    return current_app.config["HKGRAPH"]


def store():
    return get_store()


def engine() -> QueryEngine:
    return query_engine(current_app)


def query_engine(app: Flask) -> QueryEngine:
    """The app's query engine (result cache; runners, or the watchdog in gunicorn workers), made on first use."""
    extensions = app.extensions
    if "hkgraph.sparql" not in extensions:
        config, store = app.config["HKGRAPH"], app.extensions["hkgraph.store"]
        watchdog = None
        if config.queries_in_worker:
            watchdog = Watchdog(
                config.query_memory_bytes,
                functools.partial(answer, app),
                store.files_to_open(),
                config.result_cache_bytes,
            )
        extensions["hkgraph.sparql"] = QueryEngine(
            store, config.query_memory_bytes, config.result_cache_bytes, watchdog
        )
    return extensions["hkgraph.sparql"]


def answer(app: Flask, error: HkgraphError, seconds: float, environ: dict) -> bytes:
    """The app's whole HTTP response to an error, as bytes, for the watchdog to write on the socket itself
    (the worker's own thread is stuck in the query)."""
    response = error_after_query(app, environ, error, seconds)
    headers = response.get_wsgi_headers(environ)
    head = [f"HTTP/1.1 {response.status}", *(f"{k}: {v}" for k, v in headers.items()), "Connection: close"]
    body = b"".join(response.get_app_iter(environ))
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def error_after_query(app: Flask, environ: dict, error: Exception, seconds: float) -> Response:
    """The app's response to an error of a query that ran (or started): from within the request's context,
    or, for a request the fast path took (hkgraph.sparql_fastpath), from a context made for it now. An
    error that is not a HkgraphError is a 500, logged, as Flask answers any other."""
    with contextlib.ExitStack() as stack:
        if not has_request_context():
            stack.enter_context(app.request_context(environ))
            g.started, g.query_id = environ["hkgraph.started"], environ["hkgraph.query_id"]
            if environ.get("hkgraph.rate_ticket") is not None:
                g.rate_ticket = environ["hkgraph.rate_ticket"]
        g.cache, g.query_ms = "miss", round(seconds * 1000, 2)
        if not isinstance(error, HkgraphError):
            return app.handle_exception(error)
        return app.finalize_request(app.handle_user_exception(error))


@bp.route("/sparql", methods=["GET", "POST"])
def endpoint():
    config = settings()
    req = read_request(request, config.query_timeout, config.max_request_bytes)
    if req.query is None:
        return describe_service(req)
    shape = inspect_query(req.query)
    fmt = choose_format(shape.kind, request.environ.get("HTTP_ACCEPT"), req.format, html=True)
    if fmt is HTML:
        return ui_page(req, run_here=req.format is not None)
    return results_response(make_job(req, shape.has_dataset_clause, fmt.key, config), config)


def make_job(req: SparqlRequest, query_dataset: bool, format_key: str, config) -> Job:
    return Job(
        query=req.query,
        format_key=format_key,
        default_graphs=req.default_graphs,
        named_graphs=req.named_graphs,
        query_dataset=query_dataset,
        max_rows=config.max_rows,
        max_bytes=config.max_result_bytes,
        timeout=req.timeout or config.query_timeout,
    )


def cache_headers(tag: str, config) -> list[tuple[str, str]]:
    """ETag from the dataset version and the request; results may be reused until the data changes."""
    return [
        ("ETag", f'W/"{tag}"'),
        ("Cache-Control", f"public, max-age={config.cache_max_age}"),
        ("Vary", "Accept"),
    ]


def not_modified(tag: str, config) -> Response | None:
    """304 if a GET revalidates a representation the client already has."""
    if (
        "HTTP_IF_NONE_MATCH" in request.environ
        and request.method in ("GET", "HEAD")
        and request.if_none_match.contains_weak(tag)
    ):
        g.cache = "304"
        return Response(status=304, headers=cache_headers(tag, config))
    return None


def run(job: Job) -> tuple[Outcome, str, float]:
    """The job's outcome, whether it came from the cache ("hit" or "miss") and the query's time in ms (also
    kept in g for the access log)."""
    outcome, hit = engine().run(job, request.environ)
    cache, query_ms = g.cache, g.query_ms = cache_and_time(outcome, hit)
    return outcome, cache, query_ms


def cache_and_time(outcome: Outcome, hit: bool) -> tuple[str, float]:
    """ "hit" or "miss", and the query's time in ms (0 for a result the cache answered)."""
    return ("hit", 0.0) if hit else ("miss", round(outcome.seconds * 1000, 2))


def results_response(job: Job, config) -> Response:
    """The query's result (from the cache or run now), with its row count, timing and caching headers."""
    query_id = g.query_id = job.digest()
    tag = f"{store().version}-{query_id}"
    unchanged = not_modified(tag, config)
    if unchanged is not None:
        return unchanged
    outcome, cache, query_ms = run(job)
    status, headers = results_headers(job, outcome, tag, cache, query_ms, config)
    return Response(outcome.body, status=status, headers=headers, content_type=outcome.format.content_type)


def results_headers(job: Job, outcome: Outcome, tag: str, cache: str, query_ms: float, config):
    """The status of a result (200, or 206 if it was cut at a cap) and its headers but Content-Type: row
    count, timing, and caching (none for a cut result)."""
    headers = [("Server-Timing", f"query;dur={query_ms}, cache;desc={cache}")]
    if outcome.rows is not None:
        headers.append(("X-SPARQL-Rows", str(outcome.rows)))
    if not outcome.truncated:
        return 200, headers + cache_headers(tag, config)
    headers += [
        ("X-SPARQL-Truncated", outcome.truncated),
        ("X-SPARQL-MaxRows", str(job.max_rows)),
        ("X-SPARQL-MaxBytes", str(job.max_bytes)),
        ("Cache-Control", "no-store"),
        ("Vary", "Accept"),
    ]
    return 206, headers


# Service description ----------------------------------------------------------------------------------


def statistics() -> dict:
    """VoID counts of the dataset, computed once per app (the graph is read-only)."""
    extensions = current_app.extensions
    if "hkgraph.sparql.stats" not in extensions:
        extensions["hkgraph.sparql.stats"] = dataset_statistics(store())
    return extensions["hkgraph.sparql.stats"]


def describe_service(req: SparqlRequest) -> Response:
    """GET /sparql without a query: the service description in RDF, or the UI for a browser."""
    if request.method == "POST":
        raise BadRequest(
            "the request has no query: send query=... (form) or the query as application/sparql-query"
        )
    try:
        fmt = choose_format("graph", request.headers.get("Accept"), req.format, html=True)
    except NotAcceptable:
        raise BadRequest(
            "no query given: add query=... . Without a query, /sparql describes the service in RDF "
            f"({', '.join(f.media_type for f in GRAPH_FORMATS)}) or opens the query UI in a browser"
        ) from None
    if fmt is HTML:
        return ui_page(req, run_here=False)
    endpoint_url = url_for("sparql.endpoint", _external=True)
    tag = f"{store().version}-sd-{fmt.key}-{abs(hash(endpoint_url)):x}"
    config = settings()
    unchanged = not_modified(tag, config)
    if unchanged is not None:
        return unchanged
    limits = {"timeout": config.query_timeout, "rows": config.max_rows, "bytes": config.max_result_bytes}
    triples = service_description(statistics(), endpoint_url, request.url_root + ".well-known/void", limits)
    prefixes = {"sd": SD, "void": VOID, "rdfs": "http://www.w3.org/2000/01/rdf-schema#"}
    body = ox.serialize(triples, format=fmt.ox_format, prefixes=prefixes)
    return Response(body, headers=cache_headers(tag, config), content_type=fmt.content_type)


# The query UI -----------------------------------------------------------------------------------------


def has_yasgui() -> bool:
    return (Path(current_app.static_folder) / "vendor" / "yasgui" / "yasgui.min.js").is_file()


def label_language() -> str:
    """The label language for the UI: ?lang=, else Accept-Language (zh-Hant for HK/TW), else English."""
    wanted = (request.args.get("lang") or request.accept_languages.best or "en").lower()
    if wanted.startswith("zh"):
        return "zh-hant" if any(t in wanted for t in ("hant", "hk", "tw", "mo")) else "zh-hans"
    return "en"


def labels(iris: list[str], language: str) -> dict[str, str]:
    """The best label of each IRI: in the wanted language, else English, else any."""
    if not iris:
        return {}
    values = " ".join(f"<{iri}>" for iri in iris)
    result = store().query(f"SELECT ?s ?label WHERE {{ VALUES ?s {{ {values} }} ?s rdfs:label ?label }}")
    preference = [language, "en", "zh-hans", "zh-hant", ""]
    best: dict[str, tuple[int, str]] = {}
    for row in result:
        lang = row["label"].language or ""
        rank = preference.index(lang) if lang in preference else len(preference)
        iri = row["s"].value
        if iri not in best or rank < best[iri][0]:
            best[iri] = (rank, row["label"].value)
    return {iri: label for iri, (_, label) in best.items()}


def entity_href(iri: str) -> str:
    """Where an IRI's page is: on this server for the graph's own IRIs, else external_href."""
    base = store().base
    return request.script_root + "/" + iri[len(base) :] if iri.startswith(base) else external_href(iri)


def short_name(iri: str, prefixes: dict[str, str]) -> str:
    """prefix:local with the longest matching namespace (hkgm: before hkg:), else the IRI."""
    matches = [(len(ns), p) for p, ns in prefixes.items() if iri.startswith(ns) and len(iri) > len(ns)]
    if not matches:
        return iri
    length, prefix = max(matches)
    return f"{prefix}:{iri[length:]}"


def json_cell(binding: dict | None) -> dict | None:
    if binding is None:
        return None
    kind = {"uri": "iri", "bnode": "bnode"}.get(binding["type"], "literal")
    return {
        "kind": kind,
        "value": binding["value"],
        "lang": binding.get("xml:lang"),
        "datatype": binding.get("datatype"),
    }


def term_cell(term) -> dict:
    if isinstance(term, ox.NamedNode):
        return {"kind": "iri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"kind": "bnode", "value": term.value}
    return {"kind": "literal", "value": term.value, "lang": term.language, "datatype": term.datatype.value}


def results_table(outcome: Outcome) -> dict:
    """An outcome (SPARQL JSON or N-Triples) as a table for the template, IRIs with labels and page links."""
    if outcome.format is JSON:
        data = json.loads(outcome.body)
        if "boolean" in data:
            return {"boolean": data["boolean"]}
        names = data["head"].get("vars", [])
        bindings = data["results"]["bindings"]
        total = len(bindings) if outcome.rows is None else outcome.rows
        rows = [[json_cell(b.get(n)) for n in names] for b in bindings[:HTML_ROWS]]
    else:
        names = ["subject", "predicate", "object"]
        triples = list(ox.parse(outcome.body, format=ox.RdfFormat.N_TRIPLES))
        total = len(triples)
        triples = triples[:HTML_ROWS]
        rows = [[term_cell(q.subject), term_cell(q.predicate), term_cell(q.object)] for q in triples]
    iris = sorted({c["value"] for row in rows for c in row if c and c["kind"] == "iri"})
    found = labels(iris, label_language())
    prefixes = {**store().prefixes(), "hkid": store().iri("id/")}
    for row in rows:
        for c in row:
            if c and c["kind"] == "iri":
                c.update(
                    href=entity_href(c["value"]),
                    label=found.get(c["value"]),
                    short=short_name(c["value"], prefixes),
                )
    return {"names": names, "rows": rows, "total": total, "truncated": outcome.truncated}


def examples(prefixes: dict[str, str]) -> list[dict]:
    """Every queries/*.rq, with PREFIX lines added for the prefixes it uses, so it runs anywhere."""
    return [
        {"name": q.name, "question": q.question_en, "question_zh": q.question_zh,
         "text": with_prefix_declarations(q.text, prefixes)}
        for q in named_queries()
    ]  # fmt: skip


def ui_page(req: SparqlRequest, run_here: bool) -> Response:
    """The query UI: YASGUI with the graph's prefixes and examples, and a plain form that works without JS.
    With format=html the query runs here and its results are shown as a table."""
    select_language()
    config = settings()
    prefixes = store().prefixes()
    results, error, status = None, None, 200
    if run_here and req.query:
        try:
            shape = inspect_query(req.query)
            key = NTRIPLES.key if shape.kind == "graph" else JSON.key
            job = make_job(req, shape.has_dataset_clause, key, config)
            results = results_table(run(job)[0])
        except HkgraphError as err:
            error, status = err.message, err.status
    page_config = {
        "endpoint": url_for("sparql.endpoint"),
        "root": request.script_root + "/",
        "base": store().base,
        "prefixes": {**prefixes, "hkid": store().iri("id/")},  # hkid: only shortens IRIs in the table
        "defaultQuery": with_prefix_declarations(DEFAULT_QUERY, prefixes),
        "examples": examples(prefixes),
        "query": req.query,
        "language": label_language(),
    }
    html = render_template(
        "sparql/ui.html",
        sparql_query=req.query or page_config["defaultQuery"],
        page_config=page_config,
        examples=page_config["examples"],
        yasgui=has_yasgui(),
        results=results,
        error=error,
        solution_formats=SOLUTION_FORMATS,
        graph_formats=GRAPH_FORMATS,
        graphs=store().graphs(),
        limits=config,
    )
    response = Response(html, status=status, mimetype="text/html")
    response.vary.add("Accept")
    return response
