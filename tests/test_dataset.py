"""The dataset: landing page, VoID + DCAT at /.well-known/void, dumps with checksums, `hkgraph export --dumps`."""

import gzip
import hashlib
import json

import pyoxigraph as ox
import pytest
import rdflib
from rdflib.namespace import DCAT, DCTERMS, RDF, VOID

from hkgraph.cli import main
from hkgraph.dumps import DUMP_FORMATS, build_dumps, ensure_dumps, read_manifest

SPDX = rdflib.Namespace("http://spdx.org/rdf/terms#")


@pytest.fixture()
def void(client) -> rdflib.Graph:
    response = client.get("/.well-known/void", headers={"Accept": "text/turtle"})
    assert response.status_code == 200 and response.mimetype == "text/turtle"
    return rdflib.Graph().parse(data=response.data, format="turtle")


def dataset(void: rdflib.Graph) -> rdflib.URIRef:
    (node,) = set(void.subjects(RDF.type, VOID.Dataset)) & set(void.subjects(RDF.type, DCAT.Dataset))
    return node


def test_void_describes_licence_source_publisher_version_and_dates(void, store):
    ds = dataset(void)
    assert void.value(ds, DCTERMS.license) == rdflib.URIRef("https://creativecommons.org/licenses/by/4.0/")
    assert void.value(ds, DCTERMS.source) == rdflib.URIRef(store.iri("id/source/hkyb2024/ch16"))
    assert void.value(ds, DCTERMS.publisher) is not None
    assert store.version in str(void.value(ds, DCAT.version))
    assert void.value(ds, DCTERMS.modified).datatype == rdflib.XSD.date
    assert {str(t) for t in void.objects(ds, DCTERMS.title)} >= {"hkgraph：香港创新科技知识图谱"}


def test_void_counts_match_the_store(void, store):
    ds = dataset(void)
    assert int(void.value(ds, VOID.triples)) == len(store)
    departments = store.select("SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a hkg:Department }")[0]["n"]
    partitions = {
        void.value(p, VOID["class"]): int(void.value(p, VOID.entities))
        for p in void.objects(ds, VOID.classPartition)
    }
    assert partitions[rdflib.URIRef(store.iri("def/Department"))] == departments
    properties = {
        void.value(p, VOID.property): int(void.value(p, VOID.triples))
        for p in void.objects(ds, VOID.propertyPartition)
    }
    labels = store.select("SELECT (COUNT(*) AS ?n) WHERE { ?s rdfs:label ?o }")[0]["n"]
    assert properties[rdflib.RDFS.label] == labels
    assert int(void.value(ds, VOID.classes)) == len(partitions)
    graphs = set(void.objects(ds, VOID.subset))
    assert rdflib.URIRef(store.iri("graph/sources")) in graphs


def test_void_names_examples_endpoint_and_vocabularies(void, store):
    ds = dataset(void)
    examples = list(void.objects(ds, VOID.exampleResource))
    assert examples and all(str(e).startswith(store.iri("id/")) for e in examples)
    assert void.value(ds, VOID.sparqlEndpoint) == rdflib.URIRef(store.iri("sparql"))
    assert rdflib.URIRef(store.iri("def/")) in set(void.objects(ds, VOID.vocabulary))
    assert str(void.value(ds, VOID.uriSpace)) == store.iri("id/")


def test_void_lists_every_dump_with_its_checksum(void, client, store):
    ds = dataset(void)
    dumps = {str(u) for u in void.objects(ds, VOID.dataDump)}
    assert dumps == {store.iri(f"dumps/hkgraph.{suffix}.gz") for suffix in DUMP_FORMATS}
    for dist in void.objects(ds, DCAT.distribution):
        url = void.value(dist, DCAT.downloadURL)
        if url is None:
            assert void.value(dist, DCAT.accessURL) == rdflib.URIRef(store.iri("sparql"))
            continue
        body = client.get("/" + str(url)[len(store.base) :]).data
        checksum = void.value(dist, SPDX.checksum)
        assert str(void.value(checksum, SPDX.checksumValue)) == hashlib.sha256(body).hexdigest()
        assert int(void.value(dist, DCAT.byteSize)) == len(body)


@pytest.mark.parametrize("accept", ["application/ld+json", "application/n-triples", "application/rdf+xml"])
def test_void_in_other_syntaxes(client, accept):
    response = client.get("/.well-known/void", headers={"Accept": accept})
    fmt = {"application/ld+json": "json-ld", "application/n-triples": "nt", "application/rdf+xml": "xml"}[
        accept
    ]
    graph = rdflib.Graph().parse(data=response.data, format=fmt)
    assert set(graph.subjects(RDF.type, VOID.Dataset))


def test_void_as_html_for_browsers(client):
    response = client.get(
        "/.well-known/void", headers={"Accept": "text/html,application/xml;q=0.9,*/*;q=0.8"}
    )
    assert response.mimetype == "text/html"
    assert "CC BY" in response.get_data(as_text=True) or "creativecommons" in response.get_data(as_text=True)


def test_dumps_listing_matches_the_files(client):
    body = json.loads(client.get("/dumps/", headers={"Accept": "application/json"}).data)
    assert [d["name"] for d in body["dumps"]] == [f"hkgraph.{s}.gz" for s in DUMP_FORMATS]
    sums = client.get("/dumps/SHA256SUMS").get_data(as_text=True)
    for dump in body["dumps"]:
        data = client.get(f"/dumps/{dump['name']}").data
        assert hashlib.sha256(data).hexdigest() == dump["sha256"]
        assert f"{dump['sha256']}  {dump['name']}" in sums
        assert len(data) == dump["bytes"]


@pytest.mark.parametrize("suffix", list(DUMP_FORMATS))
def test_each_dump_parses_back_to_the_whole_dataset(client, store, suffix):
    data = gzip.decompress(client.get(f"/dumps/hkgraph.{suffix}.gz").data)
    syntax, _ = DUMP_FORMATS[suffix]
    parsed = list(ox.parse(data, format=syntax))
    if syntax.supports_datasets:
        assert len(set(parsed)) == len(store)
        graphs = {q.graph_name.value for q in parsed}
        assert graphs == set(store.graphs())
    else:
        assert len({ox.Triple(q.subject, q.predicate, q.object) for q in parsed}) == len(
            {ox.Triple(q.subject, q.predicate, q.object) for q in store.quads()}
        )


def test_dumps_page_lists_names_sizes_and_checksums(client):
    page = client.get("/dumps/", headers={"Accept": "text/html"}).get_data(as_text=True)
    manifest = json.loads(client.get("/dumps/manifest.json").data)
    for dump in manifest["dumps"]:
        assert dump["name"] in page and dump["sha256"] in page


def test_unknown_dump_is_404_with_the_real_names(client):
    response = client.get("/dumps/hkgraph.zip", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert {"label": "hkgraph.nq.gz", "href": "/dumps/hkgraph.nq.gz"} in json.loads(response.data)["see"]


def test_export_dumps_writes_files_and_checksums_reproducibly(runner, tmp_path):
    first = runner.invoke(main, ["export", "--dumps", str(tmp_path / "a")])
    second = runner.invoke(main, ["export", "--dumps", str(tmp_path / "b")])
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    assert first.output == second.output
    for line in first.output.splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((tmp_path / "a" / name).read_bytes()).hexdigest() == digest
    assert (tmp_path / "a" / "SHA256SUMS").read_text() == first.output


def test_export_dumps_and_output_together_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(main, ["export", "--dumps", str(tmp_path), "-o", str(tmp_path / "x.nq")])
    assert result.exit_code == 2
    assert "not both" in result.output


def test_stale_dumps_are_rebuilt(store, tmp_path):
    build_dumps(store, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["version"] = "older"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert ensure_dumps(store, tmp_path).version == store.version
    assert read_manifest(tmp_path).version == store.version


def test_landing_page_says_what_this_is_with_counts_examples_and_ways_in(client, store):
    page = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "Hong Kong Yearbook 2024" in page
    assert str(len(store)) in page
    for link in ('href="/doc/def/"', 'href="/dumps/"', 'href="/.well-known/void"', 'href="/search"'):
        assert link in page, link
    assert 'href="/doc/org/' in page or 'href="/doc/facility/' in page  # example entities


def test_landing_page_offers_the_example_questions(client):
    from hkgraph.queries import named_queries

    queries = named_queries()
    page = client.get("/?lang=zh-Hans", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert queries, "queries/ has example questions"
    for q in queries:
        if q.question_zh:
            assert q.question_zh.replace("'", "&#39;").replace('"', "&#34;") in page


def test_concurrent_first_use_builds_once_and_consistently(store, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=3) as pool:
        manifests = list(pool.map(lambda _: ensure_dumps(store, tmp_path), range(3)))
    assert len({tuple(d.sha256 for d in m.dumps) for m in manifests}) == 1
    for dump in manifests[0].dumps:
        assert hashlib.sha256((tmp_path / dump.name).read_bytes()).hexdigest() == dump.sha256
