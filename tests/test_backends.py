"""The two other homes of the graph: an on-disk pyoxigraph store (`hkgraph build`, `serve --store`) and a
triplestore behind a SPARQL endpoint (`hkgraph load`, `serve --endpoint`), here a real Virtuoso."""

from __future__ import annotations

import pyoxigraph as ox
import pytest
import rdflib
import requests
from conftest import hkgraph_load, serve_process
from rdflib.compare import isomorphic

from hkgraph.app import create_app
from hkgraph.cli import main
from hkgraph.config import Config
from hkgraph.errors import BackendUnavailable, LoadError, QueryRefused, QuerySyntaxError, QueryTimeout
from hkgraph.load import load_endpoint
from hkgraph.remote import RemoteStore, Virtuoso
from hkgraph.store import DEFAULT_BASE, Store, file_sources
from hkgraph.virtuoso import PASSWORD, USER

ITC = DEFAULT_BASE + "id/org/itc"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
SHAPES = DEFAULT_BASE + "graph/shapes"
CROSS_JOIN = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


@pytest.fixture(scope="module")
def memory() -> Store:
    return Store.load()


@pytest.fixture(scope="module")
def disk(tmp_path_factory) -> Store:
    return Store.build(tmp_path_factory.mktemp("disk") / "store")


@pytest.fixture(scope="module")
def remote(virtuoso) -> RemoteStore:
    return RemoteStore.open(virtuoso.endpoint)


def as_rdflib(triples) -> rdflib.Graph:
    """Triples (pyoxigraph) as an rdflib graph, to compare graphs with blank nodes by isomorphism."""
    graph = rdflib.Graph()
    data = ox.serialize(
        [ox.Triple(t.subject, t.predicate, t.object) for t in triples], format=ox.RdfFormat.N_TRIPLES
    )
    return graph.parse(data=data, format="nt")


def same_dataset(a: Store, b: Store) -> bool:
    """Same graphs, and every graph isomorphic (blank node labels differ between stores)."""
    return a.graphs() == b.graphs() and all(
        isomorphic(as_rdflib(a.quads(g)), as_rdflib(b.quads(g))) for g in a.graphs()
    )


# The on-disk store ---------------------------------------------------------------------------------------


def test_built_store_holds_the_same_dataset_and_version(memory, disk):
    assert disk.directory and disk.triples == len(memory) == len(disk)
    assert disk.version == memory.version
    assert same_dataset(memory, disk)
    assert disk.ask(
        f"ASK {{ GRAPH <{disk.inferred_graph.value}> {{ <{DEFAULT_BASE}id/org/itib> hkg:oversees <{ITC}> }} }}"
    )


def test_opened_store_is_read_only(disk):
    with pytest.raises(RuntimeError, match="read-write"):
        disk.oxigraph.add(ox.Quad(ox.NamedNode(ITC), ox.NamedNode(ITC), ox.NamedNode(ITC)))


def test_build_under_another_base_mints_its_iris_there(tmp_path):
    local = Store.build(tmp_path / "store", base="http://127.0.0.1:9999/")
    assert local.base == "http://127.0.0.1:9999/" and len(local) == len(Store.load(base=local.base))
    assert local.ask("ASK { <http://127.0.0.1:9999/id/org/itc> a <http://127.0.0.1:9999/def/Department> }")
    assert not local.ask(f"ASK {{ <{ITC}> ?p ?o }}")


def test_a_failed_build_leaves_the_old_store(tmp_path):
    good = tmp_path / "good.ttl"
    good.write_text("<http://x/a> <http://x/b> <http://x/c> .\n", encoding="utf-8")
    bad = tmp_path / "bad.ttl"
    bad.write_text("<http://x/a> <http://x/b> .\n", encoding="utf-8")
    Store.build(tmp_path / "store", file_sources([good]))
    with pytest.raises(LoadError, match="bad.ttl:1"):
        Store.build(tmp_path / "store", file_sources([good, bad]))
    assert len(Store.open(tmp_path / "store")) == 1
    assert not (tmp_path / "store.building").exists()


def test_a_folder_that_is_not_a_store_is_a_load_error(tmp_path):
    with pytest.raises(LoadError, match="not an hkgraph store"):
        Store.open(tmp_path)


def test_build_command(runner, tmp_path):
    data = tmp_path / "extra.ttl"
    data.write_text("<http://x/a> <http://x/b> <http://x/c> .\n", encoding="utf-8")
    result = runner.invoke(main, ["build", "--store", str(tmp_path / "s"), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "1 triples in 1 graphs" in result.output
    bad = runner.invoke(
        main, ["build", "--store", str(tmp_path / "t"), "--data", str(tmp_path / "missing.ttl")]
    )
    assert bad.exit_code == 2
    assert bad.output.count("\n") == 1 and "missing.ttl" in bad.output


def test_app_over_the_on_disk_store_runs_queries_in_runners(disk, dumps_dir):
    """Queries run in the sandboxed runner processes, which must keep the database's files open."""
    client = create_app(
        Config(testing=True, store_dir=disk.directory, dumps_dir=str(dumps_dir))
    ).test_client()
    count = client.get(
        "/sparql", query_string={"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", "format": "json"}
    )
    assert count.status_code == 200, count.data
    assert int(count.json["results"]["bindings"][0]["n"]["value"]) == len(disk)
    described = client.get("/sparql", query_string={"query": f"DESCRIBE <{ITC}>", "format": "ntriples"})
    assert described.status_code == 200, described.data
    triples = {
        (q.subject, q.predicate, q.object) for q in ox.parse(described.data, format=ox.RdfFormat.N_TRIPLES)
    }
    assert (ox.NamedNode(ITC), ox.NamedNode(DEFAULT_BASE + "def/abbreviation"), ox.Literal("ITC")) in triples
    page = client.get("/doc/org/itc", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Innovation and Technology Commission" in page.get_data(as_text=True)


def test_serve_store_with_several_workers(disk, tmp_path):
    """Real gunicorn: each worker opens the store itself; runners forked from them answer queries."""
    with serve_process(tmp_path / "serve.log", "--store", disk.directory, "--workers", "2") as (url, _):
        for _ in range(6):  # several requests, so that both workers answer some
            answer = requests.get(
                url + "sparql", params={"query": "ASK { ?s a hkg:Department }", "format": "json"}
            )
            assert answer.json()["boolean"] is True
        health = requests.get(url + "healthz").json()
        assert health["triples"] == len(disk) and health["version"] == disk.version
        assert requests.get(url + "doc/org/itc", headers={"Accept": "text/turtle"}).ok


def test_serve_store_built_for_another_base_is_refused(disk, runner):
    result = runner.invoke(main, ["serve", "--store", disk.directory, "--base-uri", "http://example.org/"])
    assert result.exit_code == 2
    assert "was built for the base" in result.output


# The remote store -----------------------------------------------------------------------------------------


def test_load_put_every_graph_and_the_manifest_tells_what(memory, remote):
    assert remote.dialect.name == "Virtuoso"
    assert remote.graphs() == memory.graphs()
    assert remote.graph_sizes == {g: sum(1 for _ in memory.quads(g)) for g in memory.graphs()}
    assert len(remote) == len(memory) and remote.version == memory.version
    assert {s.graph for s in remote.sources} == {s.graph for s in memory.sources}


def test_remote_dataset_is_exactly_the_loaded_one(memory, remote):
    """Virtuoso's own system graphs never show: the union default graph is this dataset's graphs."""
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    assert remote.select(count) == memory.select(count) == [{"n": len(memory)}]
    graphs = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g"
    assert remote.select(graphs) == memory.select(graphs)
    assert same_dataset(memory, remote)


@pytest.mark.parametrize(
    "query",
    [
        f"SELECT ?l (LANG(?l) AS ?lang) WHERE {{ <{ITC}> rdfs:label ?l }} ORDER BY ?l",
        "SELECT ?o ?v ?unit WHERE { ?o qudt:numericValue ?v ; qudt:hasUnit ?unit } ORDER BY ?o",
        "SELECT ?s ?d WHERE { ?s hkg:asOf|hkg:established|hkg:launched ?d } ORDER BY ?s ?d",
        "SELECT ?s ?flag WHERE { ?s hkg:englishNameConfirmed ?flag } ORDER BY ?s",
        'SELECT ?s WHERE { ?s rdfs:label "创新科技署"@zh-Hans }',
        "SELECT ?class (COUNT(?s) AS ?n) WHERE { ?s a ?class } GROUP BY ?class ORDER BY DESC(?n) ?class",
        f"SELECT ?unit ?label WHERE {{ ?unit org:subOrganizationOf <{ITC}> ; rdfs:label ?label }} ORDER BY ?unit ?label",
    ],
    ids=["language tags", "decimals", "dates", "booleans", "label lookup", "group by", "join"],
)
def test_remote_select_answers_as_the_embedded_store(memory, remote, query):
    """The same solutions, term for term (compared as sets of rows: how ORDER BY ranks literals of different
    languages is left to each engine by the standard)."""

    def rows(result) -> list[str]:
        return sorted(str([row[v] for v in result.variables]) for row in result)

    expected = rows(memory.query(query))
    assert rows(remote.query(query)) == expected and expected


def test_remote_construct_and_describe_are_pyoxigraph_triples(memory, remote):
    for query in (f"DESCRIBE <{ITC}>", f"DESCRIBE <{DEFAULT_BASE}shapes/ObservationShape>",
                  "CONSTRUCT { ?s rdfs:label ?l } WHERE { ?s a hkg:Bureau ; rdfs:label ?l }"):  # fmt: skip
        result = remote.query(query)
        assert isinstance(result, ox.QueryTriples)
        assert isomorphic(as_rdflib(result), as_rdflib(memory.query(query))), query


def test_remote_ask_match_and_mentions(memory, remote):
    assert remote.ask(f"ASK {{ <{ITC}> a hkg:Department }}") is True
    assert remote.ask("ASK { ?s a <http://example.org/Nothing> }") is False
    assert sorted(map(str, remote.match(ITC))) == sorted(map(str, memory.match(ITC)))
    assert sorted(map(str, remote.match(None, None, ITC))) == sorted(map(str, memory.match(None, None, ITC)))
    assert remote.mentions(ITC) and remote.mentions(SHAPES) and not remote.mentions(ITC + "-nothing")


def test_mentions_finds_an_iri_in_each_position(memory, remote):
    """As subject, as object only (a class), as predicate, as a graph; asked one position at a time."""
    fresh = RemoteStore.open(remote.endpoint, base=remote.base)
    for iri in (
        ITC,
        "http://www.w3.org/ns/prov#Entity",
        "http://www.w3.org/ns/org#subOrganizationOf",
        SHAPES,
    ):
        assert fresh.mentions(iri) is memory.mentions(iri) is True, iri
    assert not fresh.mentions(ITC + "-nothing")


@pytest.mark.parametrize(
    "pattern",
    [
        (ITC, None, None),
        (ITC, RDF_TYPE, None),
        (ITC, RDF_TYPE, DEFAULT_BASE + "def/Department"),
        (None, None, ITC),
        (None, "http://www.w3.org/ns/org#subOrganizationOf", ITC),
        (None, None, "http://qudt.org/vocab/unit/CCY_HKD"),
    ],
)
def test_match_answers_from_what_it_keeps_as_the_embedded_store_does(memory, remote, pattern):
    """A page's many small questions about one resource are answered from one kept answer per subject, or
    per object, with the same quads as the embedded store (asked twice: fetched, then kept)."""
    fresh = RemoteStore.open(remote.endpoint, base=remote.base)
    expected = sorted(map(str, memory.match(*pattern)))
    assert sorted(map(str, fresh.match(*pattern))) == expected
    asked = []
    fresh.send = lambda *args, **kwargs: asked.append(args) or pytest.fail("asked the triplestore again")
    assert sorted(map(str, fresh.match(*pattern))) == expected
    assert asked == []


def test_prefetch_keeps_several_subjects_from_one_query(memory, remote):
    fresh = RemoteStore.open(remote.endpoint, base=remote.base)
    subjects = [ITC, DEFAULT_BASE + "id/org/itib", ITC + "-nothing"]
    fresh.prefetch(subjects)
    fresh.send = lambda *args, **kwargs: pytest.fail("asked the triplestore again")
    for subject in subjects:
        assert sorted(map(str, fresh.match(subject))) == sorted(map(str, memory.match(subject)))


def test_blank_nodes_from_the_triplestore_can_be_followed(memory, remote):
    """A shape's sh:property nodes: Virtuoso names them nodeID://..., the backend maps them both ways."""
    shape = DEFAULT_BASE + "shapes/ObservationShape"
    prop = "http://www.w3.org/ns/shacl#property"
    nodes = [q.object for q in remote.match(shape, prop) if isinstance(q.object, ox.BlankNode)]
    assert nodes
    followed = as_rdflib(t for n in nodes for t in remote.match(n))
    expected = as_rdflib(
        t
        for q in memory.match(shape, prop)
        if isinstance(q.object, ox.BlankNode)
        for t in memory.match(q.object)
    )
    assert len(followed) == len(expected) > 0


def test_syntax_errors_read_as_on_the_embedded_store(memory, remote):
    query = "SELECT *\nWHERE { ?s ?p }"
    with pytest.raises(QuerySyntaxError) as here:
        memory.query(query)
    with pytest.raises(QuerySyntaxError) as there:
        remote.query(query)
    assert there.value.message == here.value.message


def test_service_and_updates_never_reach_the_triplestore(remote, memory):
    with pytest.raises(QueryRefused):
        remote.query(f"SELECT * WHERE {{ SERVICE <{remote.endpoint}> {{ ?s ?p ?o }} }}")
    with pytest.raises(QueryRefused, match="read-only"):
        remote.query("INSERT DATA { <http://x/a> <http://x/b> <http://x/c> }")
    assert len(RemoteStore.open(remote.endpoint)) == len(memory)


def test_the_endpoint_protections_hold_over_the_remote_store(remote, dumps_dir):
    client = create_app(
        Config(testing=True, dumps_dir=str(dumps_dir), max_rows=5), store=remote
    ).test_client()
    service = client.get(
        "/sparql", query_string={"query": f"SELECT * WHERE {{ SERVICE <{remote.endpoint}> {{ ?s ?p ?o }} }}"}
    )
    assert service.status_code == 400 and "SERVICE is not allowed" in service.get_data(as_text=True)
    update = client.post("/sparql", data={"update": "DROP ALL"})
    assert update.status_code == 403
    capped = client.get("/sparql", query_string={"query": "SELECT ?s WHERE { ?s a ?c }", "format": "json"})
    assert capped.status_code == 206 and len(capped.json["results"]["bindings"]) == 5
    slow = client.get("/sparql", query_string={"query": CROSS_JOIN, "timeout": "0.5"})
    assert slow.status_code == 503 and "time limit of 0.5 s" in slow.get_data(as_text=True)
    assert client.get("/sparql", query_string={"query": "ASK { ?s ?p ?o }", "format": "json"}).json["boolean"]


def test_a_query_past_the_time_limit_is_stopped_by_the_triplestore(remote):
    with pytest.raises(QueryTimeout, match="time limit of 1 s"):
        list(remote.with_timeout(1).query(CROSS_JOIN))
    assert remote.ask("ASK { ?s ?p ?o }")  # Virtuoso stopped it and answers the next one


def test_an_unreachable_triplestore_is_a_503_with_a_message(remote, dumps_dir):
    gone = RemoteStore(
        endpoint="http://127.0.0.1:9/sparql", graph_sizes=dict(remote.graph_sizes), version="x"
    )
    client = create_app(Config(testing=True, dumps_dir=str(dumps_dir)), store=gone).test_client()
    response = client.get("/doc/org/itc", headers={"Accept": "text/plain"})
    assert response.status_code == 503
    assert "cannot reach the triplestore at http://127.0.0.1:9/sparql" in response.get_data(as_text=True)
    with pytest.raises(BackendUnavailable):
        RemoteStore.open("http://127.0.0.1:9/sparql")


def test_serve_an_endpoint_that_holds_no_dataset_is_refused(virtuoso, runner):
    result = runner.invoke(
        main, ["serve", "--endpoint", virtuoso.endpoint, "--base-uri", "http://nothing.example/"]
    )
    assert result.exit_code == 2
    assert "has no graphs under http://nothing.example/" in result.output


# Loading -------------------------------------------------------------------------------------------------


def small_files(tmp_path):
    a = tmp_path / "a.ttl"
    a.write_text(
        '<http://example.org/t/x> <http://example.org/t/p> "one"@en, [ <http://example.org/t/q> 1 ] .\n',
        encoding="utf-8",
    )
    b = tmp_path / "b.nt"
    b.write_text(
        "<http://example.org/t/y> <http://example.org/t/p> <http://example.org/t/x> .\n", encoding="utf-8"
    )
    return a, b


def test_load_again_replaces_graphs_and_drops_those_gone(virtuoso, tmp_path):
    base = "http://example.org/t/"
    a, b = small_files(tmp_path)
    report = hkgraph_load(virtuoso.endpoint, "--base-uri", base, "--data", str(a), "--data", str(b))
    assert "loaded 4 triples in 2 graphs" in report and "counts verified" in report
    assert RemoteStore.open(virtuoso.endpoint, base=base).graphs() == [base + "graph/a", base + "graph/b"]
    report = hkgraph_load(virtuoso.endpoint, "--base-uri", base, "--data", str(a))
    assert f"dropped     {base}graph/b" in report
    again = RemoteStore.open(virtuoso.endpoint, base=base)
    assert again.graphs() == [base + "graph/a"] and len(again) == 3
    assert again.select("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }") == [{"n": 3}]


def test_load_with_sparql_update(virtuoso, tmp_path):
    base = "http://example.org/u/"
    a, _ = small_files(tmp_path)
    source = Store.load(file_sources([a]), base=base)
    update = virtuoso.endpoint.removesuffix("/sparql") + "/sparql-auth"
    report = load_endpoint(source, virtuoso.endpoint, update=update, user=USER, password=PASSWORD)
    assert report.method == "SPARQL Update" and report.graphs == {base + "graph/a": 3}
    loaded = RemoteStore.open(virtuoso.endpoint, base=base)
    assert same_dataset(source, loaded)


def test_load_without_credentials_says_which_variables_to_set(virtuoso, runner, tmp_path, monkeypatch):
    monkeypatch.delenv("HKGRAPH_ENDPOINT_USER", raising=False)
    a, _ = small_files(tmp_path)
    result = runner.invoke(
        main,
        ["load", "--endpoint", virtuoso.endpoint, "--base-uri", "http://example.org/v/", "--data", str(a)],
    )
    assert result.exit_code == 2
    assert "HKGRAPH_ENDPOINT_USER" in result.output and result.output.count("\n") == 1


def test_a_dataset_loaded_without_a_manifest_is_found_by_its_base(virtuoso, tmp_path):
    base = "http://example.org/w/"
    graph = base + "graph/only"
    response = requests.put(
        virtuoso.endpoint.removesuffix("/sparql") + "/sparql-graph-crud-auth",
        params={"graph": graph},
        data=b"<http://example.org/w/s> <http://example.org/w/p> <http://example.org/w/o> .\n",
        headers={"Content-Type": "application/n-triples"},
        auth=requests.auth.HTTPDigestAuth(USER, PASSWORD),
    )
    assert response.status_code in (200, 201, 204)
    store = RemoteStore.open(virtuoso.endpoint, base=base)
    assert store.graph_sizes == {graph: 1} and len(store.version) == 16


def test_two_app_instances_over_one_triplestore_answer_alike(virtuoso, tmp_path):
    """The deployment of docs/deployment.md: stateless instances behind a load balancer agree, ETags too."""
    query = {"query": f"SELECT ?l WHERE {{ <{ITC}> rdfs:label ?l }} ORDER BY ?l", "format": "json"}
    answers = []
    for name in ("one", "two"):
        with serve_process(tmp_path / f"{name}.log", "--endpoint", virtuoso.endpoint, "--workers", "1") as (
            url,
            _,
        ):
            response = requests.get(url + "sparql", params=query)
            answers.append((response.headers["ETag"], response.json()["results"]["bindings"]))
    assert answers[0] == answers[1] and len(answers[0][1]) == 3


def test_virtuoso_dialect_undoes_its_quirks():
    dialect = Virtuoso()
    assert dialect.literal_value("0", "http://www.w3.org/2001/XMLSchema#boolean") == "false"
    assert dialect.literal_value("1", "http://www.w3.org/2001/XMLSchema#integer") == "1"
    assert dialect.blank_node_id("nodeID://b10024") == "b10024"
    assert dialect.blank_node_ref(ox.BlankNode("b10024")) == "<nodeID://b10024>"
    assert dialect.prepare("DESCRIBE <x:y>", "DESCRIBE").startswith('DEFINE sql:describe-mode "CBD"')
    assert dialect.prepare("SELECT * {}", "SELECT") == "SELECT * {}"
