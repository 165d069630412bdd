"""The store over a remote SPARQL 1.1 endpoint: the same interface as the embedded store, over HTTP.

RemoteStore is a Store whose primitives (query, match, quads, graphs, mentions, len) go to a triplestore
(Virtuoso, QLever, GraphDB, Neptune, ...) over pooled keep-alive connections with timeouts. Answers are
parsed into pyoxigraph's own result types (QuerySolutions, QueryBoolean, QueryTriples), so every caller
and pyoxigraph's serialisers work unchanged. How engines differ is handled here and nowhere else:

- Dataset: a query sees the union of this dataset's named graphs (sent as default-graph-uri and
  named-graph-uri), never the engine's own system graphs; which graphs those are, the dataset's version
  and size come from the manifest graph that `hkgraph load` writes last.
- Syntax: pyoxigraph parses every query first, so a syntax error reads the same on every backend, and the
  preset prefixes are declared in the text the engine receives.
- Virtuoso (the Dialect subclass below): DESCRIBE gives the concise bounded description as pyoxigraph
  does; blank nodes (nodeID://b1) map to pyoxigraph blank nodes and back; booleans it keeps as 0/1 come
  back as false/true; its "anytime" timeout stops a query at the time limit, and a result it cut short
  there is an error here, never a silently partial answer.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import pyoxigraph as ox
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from hkgraph.errors import BackendUnavailable, LoadError, QueryFailed, QuerySyntaxError, QueryTimeout
from hkgraph.sparql_guard import inspect_query, tokens, with_prefix_declarations
from hkgraph.store import DEFAULT_BASE, RDFS_LABEL, Source, Store

MANIFEST_PATH = "load-manifest"  # under the base: the graph where `hkgraph load` records what it pushed
VOID = "http://rdfs.org/ns/void#"
OWL_VERSION = "http://www.w3.org/2002/07/owl#versionInfo"
DCTERMS = "http://purl.org/dc/terms/"
XSD_BOOLEAN = "http://www.w3.org/2001/XMLSchema#boolean"
SOLUTIONS_MEDIA = "application/sparql-results+json"
GRAPH_MEDIA = "application/n-triples, text/turtle;q=0.5"
CONNECT_TIMEOUT = 5.0  # seconds to open a connection to the triplestore
DUMP_TIMEOUT = 300.0  # seconds to wait for the next bytes of a whole-graph download
LABELS_PER_QUERY = 200  # IRIs whose labels one query asks for
SUBJECT_QUADS = 1000  # a subject (or object) with more quads than this is not kept (RemoteStore.kept_quads)
SUBJECTS_KEPT = 5000  # subjects and objects whose quads a worker keeps
MAX_RESPONSE_BYTES = 256 * 1024 * 1024  # a larger answer is refused: the worker would hold it all in memory


class Dialect:
    """A standard SPARQL 1.1 endpoint: nothing to adjust."""

    name = "SPARQL 1.1"

    def prepare(self, query: str, form: str) -> str:
        """The query text as this engine should receive it; form is SELECT, ASK, CONSTRUCT or DESCRIBE."""
        return query

    def timeout_parameters(self, seconds: float) -> list[tuple[str, str]]:
        """Request parameters that make the engine itself stop a query at the time limit."""
        return []

    def cut_short(self, response: requests.Response) -> bool:
        """Whether the engine stopped at its time limit and answered with part of the result."""
        return False

    def blank_node_id(self, label: str) -> str:
        """A pyoxigraph blank node id for the engine's blank node label."""
        return label

    def blank_node_ref(self, node: ox.BlankNode) -> str | None:
        """How a query names a blank node the engine returned; None if it cannot (standard SPARQL)."""
        return None

    def literal_value(self, value: str, datatype: str | None) -> str:
        """A literal's lexical form as the data had it."""
        return value

    def graph_store(self, endpoint: str) -> str | None:
        """The Graph Store Protocol URL that takes writes, if the engine has a usual one."""
        return None

    def update_endpoint(self, endpoint: str) -> str:
        """The URL that takes SPARQL Update."""
        return endpoint


class Virtuoso(Dialect):
    """OpenLink Virtuoso 7 (Debian's virtuoso-opensource)."""

    name = "Virtuoso"

    def prepare(self, query: str, form: str) -> str:
        # only for DESCRIBE: the pragma costs Virtuoso time on every query it is in
        return 'DEFINE sql:describe-mode "CBD"\n' + query if form == "DESCRIBE" else query

    def timeout_parameters(self, seconds: float) -> list[tuple[str, str]]:
        return [("timeout", str(max(1, round(seconds * 1000))))]

    def cut_short(self, response: requests.Response) -> bool:
        return response.headers.get("X-SQL-State") == "S1TAT"

    def blank_node_id(self, label: str) -> str:
        return label.removeprefix("nodeID://")

    def blank_node_ref(self, node: ox.BlankNode) -> str | None:
        return f"<nodeID://{node.value}>"

    def literal_value(self, value: str, datatype: str | None) -> str:
        if datatype == XSD_BOOLEAN and value in ("0", "1"):
            return "true" if value == "1" else "false"
        return value

    def graph_store(self, endpoint: str) -> str | None:
        return origin(endpoint) + "/sparql-graph-crud-auth"

    def update_endpoint(self, endpoint: str) -> str:
        return origin(endpoint) + "/sparql-auth"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def detect_dialect(response: requests.Response) -> Dialect:
    """The engine's dialect, from its Server header."""
    return Virtuoso() if "virtuoso" in response.headers.get("Server", "").lower() else Dialect()


def new_session(auth=None) -> requests.Session:
    """Keep-alive connections, pooled; a connection that cannot be opened is retried twice."""
    session = requests.Session()
    adapter = HTTPAdapter(
        pool_connections=4, pool_maxsize=16, max_retries=Retry(total=2, connect=2, read=0, status=0, other=0)
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.auth = auth
    session.headers["User-Agent"] = "hkgraph"
    session.trust_env = False  # no proxy or netrc look-ups from the environment on every request
    return session


class AnswerCache:
    """Recent answers by request, least recently used dropped first, bounded in bytes: the dataset does not
    change while it is served (a new load has a new version, and servers are restarted for it)."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024, max_item: int = 1024 * 1024):
        self.max_bytes, self.max_item = max_bytes, max_item
        self.items: OrderedDict[tuple, tuple[bytes, str]] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key: tuple) -> tuple[bytes, str] | None:
        with self.lock:
            answer = self.items.get(key)
            if answer is not None:
                self.items.move_to_end(key)
            return answer

    def put(self, key: tuple, body: bytes, media: str) -> None:
        if len(body) > self.max_item:
            return
        with self.lock:
            if key not in self.items:
                self.items[key] = (body, media)
                self.size += len(body)
            while self.size > self.max_bytes:
                _, (old, _) = self.items.popitem(last=False)
                self.size -= len(old)


@dataclass
class RemoteStore(Store):
    """The graph in a triplestore behind a SPARQL 1.1 endpoint; open it with RemoteStore.open."""

    remote: ClassVar[bool] = True
    oxigraph: ox.Store | None = None  # never used: every primitive goes over HTTP
    endpoint: str = ""
    timeout: float = 10.0  # seconds a query may take
    dialect: Dialect = field(default_factory=Dialect)
    session: requests.Session = field(default_factory=new_session, repr=False)
    graph_sizes: dict[str, int] = field(default_factory=dict)  # this dataset's named graphs and their sizes
    answers: AnswerCache = field(default_factory=AnswerCache, repr=False)
    subjects: OrderedDict = field(default_factory=OrderedDict, repr=False)  # see kept_quads
    subjects_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(
        cls, endpoint: str, base: str = DEFAULT_BASE, timeout: float = 10.0, session=None
    ) -> RemoteStore:
        """Connect to the endpoint and read the manifest of the dataset loaded under base."""
        if not base.endswith("/"):
            base += "/"
        store = cls(base=base, endpoint=endpoint, timeout=timeout, session=session or new_session())
        store.dialect = detect_dialect(store.send([("query", "ASK {}")], SOLUTIONS_MEDIA, timeout))
        store.read_manifest()
        return store

    @property
    def manifest_graph(self) -> str:
        return self.iri(MANIFEST_PATH)

    def read_manifest(self) -> None:
        """This dataset's graphs, sizes, version and sources, from the manifest `hkgraph load` wrote; without
        one (data loaded some other way), the graphs under the base and a version made from their sizes."""
        manifest = self.manifest_graph
        rows = self.select(
            f"""SELECT ?graph ?size ?version ?total ?source WHERE {{ GRAPH <{manifest}> {{
                  <{manifest}> <{OWL_VERSION}> ?version ; <{VOID}triples> ?total ; <{VOID}subset> ?graph .
                  ?graph <{VOID}triples> ?size . OPTIONAL {{ ?graph <{DCTERMS}source> ?source }} }} }}"""
        )
        if rows:
            self.graph_sizes = {r["graph"]: r["size"] for r in rows}
            self.version, self.triples = rows[0]["version"], rows[0]["total"]
            self.sources = [
                Source(Path(r["source"]), r["graph"][len(self.base) :]) for r in rows if "source" in r
            ]
            return
        rows = self.select(
            f"""SELECT ?graph (COUNT(*) AS ?size) WHERE {{ GRAPH ?graph {{ ?s ?p ?o }}
                  FILTER(STRSTARTS(STR(?graph), "{self.base}") && ?graph != <{manifest}>) }} GROUP BY ?graph"""
        )
        if not rows:
            raise LoadError(
                f"{self.endpoint} has no graphs under {self.base}: push the dataset first with "
                f"`hkgraph load --endpoint {self.endpoint}`"
            )
        self.graph_sizes = {r["graph"]: r["size"] for r in rows}
        self.triples = sum(self.graph_sizes.values())
        listing = json.dumps(sorted(self.graph_sizes.items())).encode()
        self.version = hashlib.sha256(self.endpoint.encode() + listing).hexdigest()[:16]

    def after_fork(self) -> None:
        """A forked worker opens its own connections (a pooled socket must not be shared across fork)."""
        self.session = new_session(self.session.auth)

    def with_timeout(self, seconds: float) -> RemoteStore:
        """The same store with another time limit per query (the endpoint's timeout= parameter)."""
        other = copy.copy(self)
        other.timeout = seconds
        return other

    # HTTP -------------------------------------------------------------------------------------------

    def send(self, params, accept: str, timeout: float, *, stream: bool = False, limit: bool = True):
        """POST a query; engine errors become HkgraphErrors that say what went wrong."""
        params = list(params) + (self.dialect.timeout_parameters(timeout) if limit else [])
        try:
            response = self.session.post(
                self.endpoint,
                data=params,
                headers={"Accept": accept},
                timeout=(CONNECT_TIMEOUT, 2 * timeout + 1 if limit else timeout),
                stream=stream,
            )
        except requests.Timeout as err:
            if isinstance(err, requests.ConnectTimeout):
                raise BackendUnavailable(f"the triplestore at {self.endpoint} does not answer") from None
            raise time_limit_error(timeout) from None
        except requests.RequestException as err:
            raise BackendUnavailable(
                f"cannot reach the triplestore at {self.endpoint}: {connection_problem(err)}"
            ) from None
        if response.status_code != 200:
            raise engine_error(response, timeout)
        if limit and self.dialect.cut_short(response):
            raise time_limit_error(timeout)
        return response

    def read_body(self, response: requests.Response) -> bytes:
        """The whole answer, refused if it would not fit in a worker's memory."""
        parts, size = [], 0
        for chunk in response.iter_content(1 << 16):
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                response.close()
                raise QueryFailed(
                    f"the triplestore's answer is larger than {MAX_RESPONSE_BYTES // 2**20} MB; "
                    "make the query more selective or add a LIMIT"
                )
            parts.append(chunk)
        return b"".join(parts)

    def dataset_parameters(self, default_graph, named_graphs, union_default_graph: bool) -> list[tuple]:
        """The protocol's dataset: the given graphs, else the union of this dataset's graphs, else nothing
        (the query names its own with FROM; or the manifest is not read yet)."""
        if default_graph is not None or named_graphs is not None:
            defaults = as_iris(default_graph) if default_graph is not None else []
            named = as_iris(named_graphs) if named_graphs is not None else self.graphs()
            return [("default-graph-uri", g) for g in defaults] + [("named-graph-uri", g) for g in named]
        if union_default_graph and self.graph_sizes:
            graphs = self.graphs()
            return [("default-graph-uri", g) for g in graphs] + [("named-graph-uri", g) for g in graphs]
        return []

    # Queries ----------------------------------------------------------------------------------------

    def query(
        self,
        sparql: str,
        *,
        default_graph=None,
        named_graphs=None,
        use_prefixes: bool = True,
        union_default_graph: bool = True,
    ):
        """Run a SPARQL query on the triplestore; results are pyoxigraph's types, as from the embedded store."""
        form = inspect_query(sparql).form  # SERVICE and updates are refused before anything runs
        prefixes = self.prefixes() if use_prefixes else None
        kind = query_kind(sparql, prefixes)
        text = with_prefix_declarations(sparql, prefixes) if prefixes else sparql
        if default_graph is not None or named_graphs is not None:
            # the protocol's dataset replaces the query's FROM clauses (Virtuoso would merge them)
            text = without_dataset_clauses(text)
        params = [("query", self.dialect.prepare(text, form))]
        params += self.dataset_parameters(default_graph, named_graphs, union_default_graph)
        accept = GRAPH_MEDIA if kind == "graph" else SOLUTIONS_MEDIA
        key = (tuple(params), accept)
        answer = self.answers.get(key)
        if answer is None:
            response = self.send(params, accept, self.timeout)
            answer = (self.read_body(response), response.headers.get("Content-Type", ""))
            self.answers.put(key, *answer)
        body, media = answer
        if kind == "graph":
            return as_query_triples(self.parse_graph(body, media))
        return self.parse_solutions(body)

    def parse_solutions(self, body: bytes):
        """SPARQL JSON results as pyoxigraph QuerySolutions or QueryBoolean, engine quirks undone."""
        if b'"bnode"' in body or XSD_BOOLEAN.encode() in body:
            data = json.loads(body)
            for row in data.get("results", {}).get("bindings", []):
                for term in row.values():
                    if term.get("type") == "bnode":
                        term["value"] = self.dialect.blank_node_id(term["value"])
                    elif "datatype" in term:
                        term["value"] = self.dialect.literal_value(term["value"], term["datatype"])
            body = json.dumps(data).encode()
        try:
            return ox.parse_query_results(body, ox.QueryResultsFormat.JSON)
        except (SyntaxError, ValueError) as err:
            raise BackendUnavailable(f"the triplestore's answer is not valid SPARQL JSON: {err}") from None

    def parse_graph(self, body, content_type: str) -> Iterator[ox.Triple]:
        """An RDF answer (N-Triples, or Turtle from engines without it) as triples, engine quirks undone."""
        media = (content_type or "application/n-triples").split(";")[0].strip()
        fmt = ox.RdfFormat.from_media_type(media)
        if fmt is None or fmt not in (ox.RdfFormat.N_TRIPLES, ox.RdfFormat.TURTLE):
            raise BackendUnavailable(f"the triplestore answered a graph query with {media}")
        try:
            for quad in ox.parse(body, format=fmt):
                yield ox.Triple(quad.subject, quad.predicate, self.fix_term(quad.object))
        except SyntaxError as err:
            raise BackendUnavailable(f"the triplestore's RDF answer does not parse: {err}") from None

    def fix_term(self, term):
        if isinstance(term, ox.Literal) and not term.language:
            value = self.dialect.literal_value(term.value, term.datatype.value)
            if value != term.value:
                return ox.Literal(value, datatype=term.datatype)
        return term

    def term_text(self, term) -> str | None:
        """A term as SPARQL text; None for a blank node the engine cannot name."""
        if isinstance(term, ox.BlankNode):
            return self.dialect.blank_node_ref(term)
        return str(term)

    def fetch_labels(self, iris: list[str]) -> dict[str, list[ox.Literal]]:
        """The rdfs:label literals of IRIs, in one query per few hundred (a round trip each)."""
        found: dict[str, list[ox.Literal]] = {}
        for start in range(0, len(iris), LABELS_PER_QUERY):
            values = " ".join(f"<{iri}>" for iri in iris[start : start + LABELS_PER_QUERY])
            for row in self.query(
                f"SELECT ?s ?l WHERE {{ VALUES ?s {{ {values} }} ?s <{RDFS_LABEL.value}> ?l }}"
            ):
                label = row["l"]
                if isinstance(label, ox.Literal) and label not in found.setdefault(row["s"].value, []):
                    found[row["s"].value].append(label)
        return found

    def match(self, subject=None, predicate=None, object=None, graph=None) -> Iterator[ox.Quad]:
        """Quads matching a pattern over this dataset's graphs; IRIs may be given as str. What is known of a
        subject, and what points to an IRI, is fetched once, in one query, and kept: pages ask many small
        questions about the same resources."""
        terms = [ox.NamedNode(t) if isinstance(t, str) else t for t in (subject, predicate, object, graph)]
        s, p, o, g = terms
        if g is not None and g.value not in self.graph_sizes:
            return iter(())
        kept = None
        if s is not None and (o is None or isinstance(o, ox.NamedNode)):
            kept = self.about(s)
        elif s is None and isinstance(o, ox.NamedNode):
            kept = self.pointing_to(o)
        if kept is None:
            return iter(self.quads_matching(terms))
        return iter(
            [
                q
                for q in kept
                if s in (None, q.subject) and p in (None, q.predicate) and o in (None, q.object)
                and g in (None, q.graph_name)
            ]
        )  # fmt: skip

    def prefetch(self, subjects) -> None:
        """Fetch what is known of several IRIs in one query and keep it (what about() would fetch one by one)."""
        with self.subjects_lock:
            kept = {key for position, key in self.subjects if position == 0}
        wanted = sorted({str(ox.NamedNode(str(s))) for s in subjects} - kept)
        if not wanted:
            return
        limit = SUBJECT_QUADS + 1
        query = (
            f"SELECT * WHERE {{ VALUES ?s {{ {' '.join(wanted)} }} GRAPH ?g {{ ?s ?p ?o }} }} LIMIT {limit}"
        )
        rows = list(self.query(query, use_prefixes=False, union_default_graph=False))
        if len(rows) >= limit:
            return  # too many to keep: about() asks subject by subject
        found = {key: [] for key in wanted}
        for row in rows:
            if row["g"].value in self.graph_sizes:
                found[str(row["s"])].append(ox.Quad(row["s"], row["p"], row["o"], row["g"]))
        self.keep({(0, key): quads for key, quads in found.items()})

    def about(self, subject) -> list[ox.Quad] | None:
        """Every quad with this subject (kept), or None if there are too many to keep."""
        return self.kept_quads(0, subject)

    def pointing_to(self, iri: ox.NamedNode) -> list[ox.Quad] | None:
        """Every quad with this IRI as object (kept), or None if there are too many to keep."""
        return self.kept_quads(2, iri)

    def kept_quads(self, position: int, term) -> list[ox.Quad] | None:
        """Every quad with the term at a position (0 subject, 2 object), fetched once and kept; None if there are
        more than SUBJECT_QUADS."""
        key = (position, str(term))
        with self.subjects_lock:
            if key in self.subjects:
                self.subjects.move_to_end(key)
                return self.subjects[key]
        pattern = [None, None, None, None]
        pattern[position] = term
        found = self.quads_matching(pattern, limit=SUBJECT_QUADS + 1)
        kept = found if len(found) <= SUBJECT_QUADS else None
        self.keep({key: kept})
        return kept

    def keep(self, entries: dict) -> None:
        """Keep quads by (position, term), the oldest dropped past SUBJECTS_KEPT."""
        with self.subjects_lock:
            self.subjects.update(entries)
            while len(self.subjects) > SUBJECTS_KEPT:
                self.subjects.popitem(last=False)

    def quads_matching(self, terms: list, limit: int | None = None) -> list[ox.Quad]:
        """Quads matching a pattern, asked of the engine in one query. Sent without a dataset (listing the
        graphs costs an engine time on every query); quads in graphs not of this dataset are dropped here."""
        texts = []
        for name, term in zip("spog", terms, strict=True):
            text = f"?{name}" if term is None else self.term_text(term)
            if text is None:
                return []
            texts.append(text)
        s, p, o, g = texts
        query = f"SELECT * WHERE {{ GRAPH {g} {{ {s} {p} {o} }} }}" + (f" LIMIT {limit}" if limit else "")
        result = self.query(query, use_prefixes=False, union_default_graph=False)
        quads = [
            ox.Quad(
                *(term if term is not None else row[name] for name, term in zip("spog", terms, strict=True))
            )
            for row in result
        ]
        return [q for q in quads if q.graph_name.value in self.graph_sizes]

    def quads(self, graph: str | None = None) -> Iterator[ox.Quad]:
        """Every quad of one graph or of the whole dataset, streamed graph by graph."""
        for name in [graph] if graph else self.graphs():
            if name in self.graph_sizes:
                yield from self.graph_quads(name)

    def graph_quads(self, graph: str) -> Iterator[ox.Quad]:
        """A whole graph, streamed; fewer triples than the manifest says is an error (an engine's row cap,
        such as Virtuoso's ResultSetMaxRows, must never cut a dump silently)."""
        query = f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"
        params = [("query", self.dialect.prepare(query, "CONSTRUCT"))] + self.dataset_parameters(
            None, None, True
        )
        response = self.send(params, GRAPH_MEDIA, DUMP_TIMEOUT, stream=True, limit=False)
        response.raw.decode_content = True
        node, count = ox.NamedNode(graph), 0
        with response:
            for triple in self.parse_graph(response.raw, response.headers.get("Content-Type", "")):
                count += 1
                yield ox.Quad(triple.subject, triple.predicate, triple.object, node)
        expected = self.graph_sizes[graph]
        if count != expected:
            raise BackendUnavailable(
                f"the triplestore returned {count} of the {expected} triples of {graph}: raise its result "
                "limit (Virtuoso: ResultSetMaxRows in virtuoso.ini)"
            )

    def mentions(self, iri: str) -> bool:
        """Whether the IRI occurs anywhere in this dataset: as graph name, subject (what is known of it is kept:
        its page reads it next), object or predicate. One position at a time: at 10^6 triples Virtuoso takes
        some 600 ms over the union of the three, 7 ms over each."""
        if iri in self.graph_sizes:
            return True
        node = ox.NamedNode(iri)
        about = self.about(node)
        if about is None or about:  # None: too many quads to keep
            return True
        return self.ask(f"ASK {{ ?s ?p {node} }}", use_prefixes=False) or self.ask(
            f"ASK {{ ?s {node} ?o }}", use_prefixes=False
        )

    def graphs(self) -> list[str]:
        return sorted(self.graph_sizes)

    def __len__(self) -> int:
        return self.triples or 0


def without_dataset_clauses(query: str) -> str:
    """The query without its FROM and FROM NAMED clauses (found as tokens: never inside a string or IRI)."""
    toks = tokens(query)
    kept, i = [], 0
    while i < len(toks):
        kind, text = toks[i]
        if kind == "word" and text.upper() == "FROM":
            j = next_token(toks, i + 1)
            if j < len(toks) and toks[j][0] == "word" and toks[j][1].upper() == "NAMED":
                j = next_token(toks, j + 1)
            if j < len(toks) and toks[j][0] in ("iri", "pname"):
                i = j + 1
                continue
        kept.append(text)
        i += 1
    return "".join(kept)


def next_token(toks: list[tuple[str, str]], i: int) -> int:
    """The index of the next token from i that is not space or a comment."""
    while i < len(toks) and toks[i][0] in ("space", "comment"):
        i += 1
    return i


def as_iris(graphs) -> list[str]:
    graphs = graphs if isinstance(graphs, list | tuple) else [graphs]
    return [g.value for g in graphs if isinstance(g, ox.NamedNode)]


EMPTY = ox.Store()


def query_kind(sparql: str, prefixes: dict | None) -> str:
    """'graph' (CONSTRUCT, DESCRIBE) or 'solutions' (SELECT, ASK), from pyoxigraph's own parser, so that
    a syntax error is reported exactly as the embedded store reports it. The query runs on an empty store:
    it never touches the data."""
    try:
        result = EMPTY.query(sparql, prefixes=prefixes)
    except SyntaxError as err:
        raise QuerySyntaxError(f"SPARQL syntax error: {err.msg}") from None
    except (OSError, ValueError, RuntimeError):
        return "solutions"  # parsed, but failed on no data: the engine will say what it makes of it
    return "graph" if isinstance(result, ox.QueryTriples) else "solutions"


def as_query_triples(triples: Iterator[ox.Triple]) -> ox.QueryTriples:
    """Triples as pyoxigraph's QueryTriples (the type CONSTRUCT and DESCRIBE return), via a scratch store."""
    scratch = ox.Store()
    scratch.extend(ox.Quad(t.subject, t.predicate, t.object) for t in triples)
    return scratch.query("CONSTRUCT WHERE { ?s ?p ?o }")


def connection_problem(err: requests.RequestException) -> str:
    """What went wrong with a connection, in the operating system's words when it gave them."""
    found = re.search(r"\[Errno -?\d+\] [^'\")]+", str(err))
    return found.group() if found else type(err).__name__


def time_limit_error(seconds: float) -> QueryTimeout:
    return QueryTimeout(
        f"the query ran longer than its time limit of {seconds:g} s and was stopped. "
        "Make it more selective (fewer cross joins, a LIMIT), or give a larger timeout= "
        "if the server's limit allows."
    )


def engine_error(response: requests.Response, seconds: float) -> Exception:
    """The HkgraphError for an engine's error answer: its own words, shortened."""
    text = " ".join(response.text.split())[:400]
    if "estimated execution time" in text.lower():
        return time_limit_error(seconds)
    if response.status_code in (401, 403):
        return BackendUnavailable(f"the triplestore refused access ({response.status_code}): {text}")
    if response.status_code >= 500 and not text:
        return BackendUnavailable(f"the triplestore failed ({response.status_code})")
    return QueryFailed(f"the triplestore could not run the query: {text}")
