"""`hkgraph load --endpoint URL`: push the dataset into a triplestore, graph by graph, then check the counts.

Writes go through the SPARQL 1.1 Graph Store Protocol (PUT replaces a graph, POST adds to it), or through
SPARQL 1.1 Update (DROP SILENT GRAPH, INSERT DATA) where an engine has no Graph Store endpoint. A graph
goes in chunks; all its triples with blank nodes go in the first one, because a blank node label names the
same node only within one request. Each graph's size on the endpoint is then compared with the dataset's.
Only after that is the manifest graph written (graphs, sizes, version, sources: what RemoteStore reads),
so a server started meanwhile never takes a half-loaded dataset for the new one; graphs of the previous
load that are gone are dropped last.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pyoxigraph as ox
import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from hkgraph.errors import LoadError
from hkgraph.remote import (
    DCTERMS,
    MANIFEST_PATH,
    OWL_VERSION,
    SOLUTIONS_MEDIA,
    VOID,
    Dialect,
    connection_problem,
    detect_dialect,
    new_session,
)
from hkgraph.store import Store

CHUNK = 50_000  # triples per request
WRITE_TIMEOUT = 600.0  # seconds for one chunk to be stored
N_TRIPLES = "application/n-triples"
XSD = "http://www.w3.org/2001/XMLSchema#"


@dataclass
class LoadReport:
    """What went where, and how long it took."""

    endpoint: str
    engine: str
    method: str
    graphs: dict[str, int]  # graph IRI: triples, as verified on the endpoint
    dropped: list[str]
    seconds: float

    def text(self) -> str:
        lines = [
            f"loaded {sum(self.graphs.values())} triples in {len(self.graphs)} graphs into {self.endpoint} "
            f"({self.engine}, {self.method}) in {self.seconds:.1f} s; counts verified"
        ]
        lines += [f"  {n:>10}  {g}" for g, n in sorted(self.graphs.items())]
        lines += [f"  dropped     {g} (not in this dataset any more)" for g in self.dropped]
        return "\n".join(lines) + "\n"


class GraphStoreWriter:
    """Writes graphs with the SPARQL 1.1 Graph Store Protocol."""

    method = "Graph Store Protocol"

    def __init__(self, session: requests.Session, url: str):
        self.session, self.url = session, url

    def replace(self, graph: str, triples: list[ox.Triple]) -> None:
        self.send("PUT", graph, triples)

    def add(self, graph: str, triples: list[ox.Triple]) -> None:
        self.send("POST", graph, triples)

    def drop(self, graph: str) -> None:
        response = self.session.delete(self.url, params={"graph": graph}, timeout=(5, WRITE_TIMEOUT))
        if response.status_code not in (200, 204, 404):
            raise write_error(self.url, response)

    def send(self, method: str, graph: str, triples: list[ox.Triple]) -> None:
        body = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES)
        response = self.session.request(
            method,
            self.url,
            params={"graph": graph},
            data=body,
            headers={"Content-Type": N_TRIPLES},
            timeout=(5, WRITE_TIMEOUT),
        )
        if response.status_code not in (200, 201, 204):
            raise write_error(self.url, response)


class UpdateWriter:
    """Writes graphs with SPARQL 1.1 Update."""

    method = "SPARQL Update"

    def __init__(self, session: requests.Session, url: str):
        self.session, self.url = session, url

    def replace(self, graph: str, triples: list[ox.Triple]) -> None:
        self.drop(graph)
        self.add(graph, triples)

    def add(self, graph: str, triples: list[ox.Triple]) -> None:
        if not triples:
            return
        data = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES).decode()
        if any(has_blank_node(t) for t in triples):
            # a template: its blank nodes are new nodes, one per label (Virtuoso refuses them in INSERT DATA)
            self.update(f"INSERT {{ GRAPH <{graph}> {{\n{data}}} }} WHERE {{}}")
        else:
            self.update(f"INSERT DATA {{ GRAPH <{graph}> {{\n{data}}} }}")

    def drop(self, graph: str) -> None:
        self.update(f"DROP SILENT GRAPH <{graph}>")

    def update(self, text: str) -> None:
        response = self.session.post(self.url, data={"update": text}, timeout=(5, WRITE_TIMEOUT))
        if response.status_code not in (200, 204):
            raise write_error(self.url, response)


def write_error(url: str, response: requests.Response) -> LoadError:
    text = " ".join(response.text.split())[:300]
    if response.status_code in (401, 403):
        return LoadError(
            f"{url} refused the write ({response.status_code}): set HKGRAPH_ENDPOINT_USER and "
            "HKGRAPH_ENDPOINT_PASSWORD to an account that may write"
        )
    return LoadError(f"{url} refused the write ({response.status_code}): {text}")


def choose_auth(session: requests.Session, url: str, user: str | None, password: str | None):
    """HTTP Digest or Basic authentication, whichever the writer URL asks for; None without a user."""
    if not user:
        return None
    challenge = session.get(url, timeout=(5, 30)).headers.get("WWW-Authenticate", "")
    auth = HTTPDigestAuth(user, password or "") if challenge.lower().startswith("digest") else None
    return auth or HTTPBasicAuth(user, password or "")


def chunks(store: Store, graph: str, size: int) -> Iterator[list[ox.Triple]]:
    """A graph's triples, request by request: first every triple with a blank node (a label names the same
    node only within one request), then the others, size at a time."""

    def triples() -> Iterator[ox.Triple]:
        return (ox.Triple(q.subject, q.predicate, q.object) for q in store.quads(graph))

    yield [t for t in triples() if has_blank_node(t)]
    rest = (t for t in triples() if not has_blank_node(t))
    while batch := list(itertools.islice(rest, size)):
        yield batch


def has_blank_node(t: ox.Triple) -> bool:
    return isinstance(t.subject, ox.BlankNode) or isinstance(t.object, ox.BlankNode)


def manifest_triples(store: Store, manifest: str, sizes: dict[str, int]) -> list[ox.Triple]:
    """What RemoteStore needs to serve the dataset without scanning it."""
    m = ox.NamedNode(manifest)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    triples = [
        ox.Triple(m, ox.NamedNode(OWL_VERSION), ox.Literal(store.version)),
        ox.Triple(m, ox.NamedNode(VOID + "triples"), integer(sum(sizes.values()))),
        ox.Triple(
            m, ox.NamedNode(DCTERMS + "modified"), ox.Literal(now, datatype=ox.NamedNode(XSD + "dateTime"))
        ),
    ]
    for graph, n in sizes.items():
        triples.append(ox.Triple(m, ox.NamedNode(VOID + "subset"), ox.NamedNode(graph)))
        triples.append(ox.Triple(ox.NamedNode(graph), ox.NamedNode(VOID + "triples"), integer(n)))
    for source in store.sources:
        graph = store.iri(source.graph)
        if graph in sizes:
            triples.append(
                ox.Triple(ox.NamedNode(graph), ox.NamedNode(DCTERMS + "source"), ox.Literal(str(source.path)))
            )
    return triples


def integer(n: int) -> ox.Literal:
    return ox.Literal(str(n), datatype=ox.NamedNode(XSD + "integer"))


def remote_count(session: requests.Session, endpoint: str, graph: str) -> int:
    query = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"
    response = session.post(
        endpoint, data={"query": query}, headers={"Accept": SOLUTIONS_MEDIA}, timeout=(5, 600)
    )
    response.raise_for_status()
    return int(response.json()["results"]["bindings"][0]["n"]["value"])


def previous_graphs(session: requests.Session, endpoint: str, manifest: str) -> list[str]:
    """The graphs the manifest of the last load under this base lists (none if there was none)."""
    query = f"SELECT ?g WHERE {{ GRAPH <{manifest}> {{ <{manifest}> <{VOID}subset> ?g }} }}"
    response = session.post(
        endpoint, data={"query": query}, headers={"Accept": SOLUTIONS_MEDIA}, timeout=(5, 60)
    )
    response.raise_for_status()
    return [row["g"]["value"] for row in response.json()["results"]["bindings"]]


def load_endpoint(
    store: Store,
    endpoint: str,
    *,
    graph_store: str | None = None,
    update: str | None = None,
    user: str | None = None,
    password: str | None = None,
    chunk: int = CHUNK,
) -> LoadReport:
    """Push every graph of the store to the endpoint, verify each graph's size there, then write the
    manifest. Writes go to graph_store (Graph Store Protocol) or update (SPARQL Update); by default to the
    engine's usual Graph Store URL, else to the endpoint itself with SPARQL Update."""
    started = time.perf_counter()
    session = new_session()
    try:
        dialect = detect_dialect(session.post(endpoint, data={"query": "ASK {}"}, timeout=(5, 30)))
    except requests.RequestException as err:
        raise LoadError(f"cannot reach {endpoint}: {connection_problem(err)}") from None
    writer = choose_writer(session, endpoint, dialect, graph_store, update)
    session.auth = choose_auth(session, writer.url, user, password)
    reader = new_session()  # queries go to the public endpoint, without credentials
    manifest = store.iri(MANIFEST_PATH)
    sizes = {}
    try:
        previous = previous_graphs(reader, endpoint, manifest)
        for graph in store.graphs():
            sizes[graph] = 0
            for i, batch in enumerate(chunks(store, graph, chunk)):
                (writer.add if i else writer.replace)(graph, batch)
                sizes[graph] += len(batch)
        wrong = {g: (n, remote_count(reader, endpoint, g)) for g, n in sizes.items()}
        wrong = {g: counts for g, counts in wrong.items() if counts[0] != counts[1]}
        if wrong:
            listing = "; ".join(
                f"{g}: {ours} here, {theirs} there" for g, (ours, theirs) in sorted(wrong.items())
            )
            raise LoadError(f"the endpoint does not hold what was sent: {listing}")
        writer.replace(manifest, manifest_triples(store, manifest, sizes))
        dropped = [g for g in previous if g not in sizes]
        for graph in dropped:
            writer.drop(graph)
    except requests.RequestException as err:
        raise LoadError(f"loading into {endpoint} failed: {connection_problem(err)}") from None
    return LoadReport(endpoint, dialect.name, writer.method, sizes, dropped, time.perf_counter() - started)


def choose_writer(session, endpoint: str, dialect: Dialect, graph_store: str | None, update: str | None):
    if graph_store:
        return GraphStoreWriter(session, graph_store)
    if update:
        return UpdateWriter(session, update)
    usual = dialect.graph_store(endpoint)
    return (
        GraphStoreWriter(session, usual)
        if usual
        else UpdateWriter(session, dialect.update_endpoint(endpoint))
    )
