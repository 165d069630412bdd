"""The dataset described in VoID and DCAT: licence, source, counts, partitions, examples, endpoint, dumps."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pyoxigraph as ox

from hkgraph import __version__
from hkgraph.dumps import Manifest
from hkgraph.stats import graph_stats
from hkgraph.store import Store

VOID = "http://rdfs.org/ns/void#"
DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
FOAF = "http://xmlns.com/foaf/0.1/"
SPDX = "http://spdx.org/rdf/terms#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XSD = "http://www.w3.org/2001/XMLSchema#"
IANA = "https://www.iana.org/assignments/media-types/"

DOCUMENT_PATH = ".well-known/void"
TITLE = {
    "en": "hkgraph: how Hong Kong organises, funds and measures innovation and technology",
    "zh-Hans": "hkgraph：香港创新科技知识图谱",
    "zh-Hant": "hkgraph：香港創新科技知識圖譜",
}
DESCRIPTION = {
    "en": "A linked-data knowledge graph of chapter 16 (Innovation, Technology and Industry) of the Hong Kong "
    "Yearbook 2024: the bodies, programmes, places, documents and digital services it names, how they relate, "
    "and every figure it states, each with the paragraph and words it comes from.",
    "zh-Hans": "《香港年报2024》第十六章（创新科技和工业）的关联数据知识图谱：章中提及的机构、计划、地点、文件和数码服务，"
    "它们之间的关系，以及每一项统计数字，并附出处段落和原文。",
    "zh-Hant": "《香港年報2024》第十六章（創新科技和工業）的關聯數據知識圖譜：章中提及的機構、計劃、地點、文件和數碼服務，"
    "它們之間的關係，以及每一項統計數字，並附出處段落和原文。",
}
PUBLISHER = "hkgraph contributors"
VOCABULARIES = [
    "http://www.w3.org/ns/org#",
    "https://schema.org/",
    "http://www.w3.org/ns/prov#",
    "http://www.w3.org/2004/02/skos/core#",
    "http://purl.org/dc/terms/",
    "http://qudt.org/schema/qudt/",
    "http://www.w3.org/2006/time#",
    "http://xmlns.com/foaf/0.1/",
]
FORMAT_FEATURES = {
    "application/n-quads": "http://www.w3.org/ns/formats/N-Quads",
    "application/trig": "http://www.w3.org/ns/formats/TriG",
    "text/turtle": "http://www.w3.org/ns/formats/Turtle",
    "application/ld+json": "http://www.w3.org/ns/formats/JSON-LD",
}
FORMAT_NAMES = {
    "application/n-quads": "N-Quads",
    "application/trig": "TriG",
    "text/turtle": "Turtle",
    "application/ld+json": "JSON-LD",
}
EXAMPLES = 6


@dataclass
class DatasetInfo:
    """What /.well-known/void says, as plain values for the page and the RDF alike."""

    document: str
    iri: str
    landing_page: str
    sparql: str
    licence: str
    source: str
    version: str
    issued: str | None
    modified: str
    triples: int
    entities: int
    distinct_subjects: int
    distinct_objects: int
    classes: dict[str, int] = field(default_factory=dict)  # class → instances
    properties: dict[str, int] = field(default_factory=dict)  # property → triples
    graphs: dict[str, int] = field(default_factory=dict)  # named graph → triples
    examples: list[str] = field(default_factory=list)
    dumps: list[tuple[str, object]] = field(default_factory=list)  # (download IRI, Dump)
    checksums: str = ""
    spatial: str | None = None
    temporal: str | None = None


def example_resources(store: Store, limit: int = EXAMPLES) -> list[str]:
    """The most connected entities (links in and out), a good first look at the graph."""
    ids = store.iri("id/")
    rows = store.select(
        f"""SELECT ?e (COUNT(*) AS ?n) WHERE {{
              {{ ?e ?p ?x }} UNION {{ ?x ?p ?e }}
              FILTER(isIRI(?e) && STRSTARTS(STR(?e), "{ids}"))
              FILTER(!STRSTARTS(STR(?e), "{ids}obs/") && !STRSTARTS(STR(?e), "{ids}source/")
                     && !STRSTARTS(STR(?e), "{ids}period/"))
            }} GROUP BY ?e ORDER BY DESC(?n) ?e LIMIT {limit}"""
    )
    return [r["e"] for r in rows]


def dataset_info(store: Store, manifest: Manifest | None, licence: str) -> DatasetInfo:
    """Gather the description of the dataset from the store and the dumps' manifest."""
    stats = graph_stats(store)
    count = store.select("SELECT (COUNT(DISTINCT ?s) AS ?s_) (COUNT(DISTINCT ?o) AS ?o_) WHERE { ?s ?p ?o }")[
        0
    ]
    issued = store.select(f"SELECT ?d WHERE {{ <{store.iri('def/')}> dcterms:created ?d }}")
    modified = max((s.path.stat().st_mtime for s in store.sources if s.path.exists()), default=0)
    info = DatasetInfo(
        document=store.iri(DOCUMENT_PATH),
        iri=store.iri(DOCUMENT_PATH + "#dataset"),
        landing_page=store.iri(""),
        sparql=store.iri("sparql"),
        licence=licence,
        source=store.iri("id/source/hkyb2024/ch16"),
        version=f"{__version__}+{store.version}",
        issued=issued[0]["d"] if issued else None,
        modified=dt.datetime.fromtimestamp(modified, dt.UTC).date().isoformat(),
        triples=stats["triples"],
        entities=stats["entities"],
        distinct_subjects=count["s_"],
        distinct_objects=count["o_"],
    )
    rows = store.select(
        "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c FILTER(isIRI(?c)) } GROUP BY ?c"
    )
    info.classes = {r["c"]: r["n"] for r in sorted(rows, key=lambda r: (-r["n"], r["c"]))}
    rows = store.select("SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p")
    info.properties = {r["p"]: r["n"] for r in sorted(rows, key=lambda r: (-r["n"], r["p"]))}
    info.graphs = {g: sum(1 for _ in store.quads(g)) for g in store.graphs()}
    info.examples = example_resources(store)
    if manifest is not None:
        info.dumps = [(store.iri("dumps/" + d.name), d) for d in manifest.dumps]
        info.checksums = store.iri("dumps/SHA256SUMS")
    for attr, path in (("spatial", "id/place/hong-kong"), ("temporal", "id/period/2024")):
        if store.mentions(store.iri(path)):
            setattr(info, attr, store.iri(path))
    return info


def void_triples(info: DatasetInfo) -> list[ox.Triple]:
    """The VoID and DCAT description as triples."""
    out: list[ox.Triple] = []
    ds = ox.NamedNode(info.iri)

    def add(s, p: str, o) -> None:
        out.append(ox.Triple(s, ox.NamedNode(p), o))

    def iri(value: str) -> ox.NamedNode:
        return ox.NamedNode(value)

    def number(n: int, datatype: str = XSD + "integer") -> ox.Literal:
        return ox.Literal(str(n), datatype=ox.NamedNode(datatype))

    doc = iri(info.document)
    add(doc, RDF + "type", iri(VOID + "DatasetDescription"))
    add(doc, DCT + "title", ox.Literal("VoID and DCAT description of hkgraph", language="en"))
    add(doc, FOAF + "primaryTopic", ds)

    add(ds, RDF + "type", iri(VOID + "Dataset"))
    add(ds, RDF + "type", iri(DCAT + "Dataset"))
    for lang, text in TITLE.items():
        add(ds, DCT + "title", ox.Literal(text, language=lang))
    for lang, text in DESCRIPTION.items():
        add(ds, DCT + "description", ox.Literal(text, language=lang))
    add(ds, DCT + "license", iri(info.licence))
    add(ds, DCT + "source", iri(info.source))
    publisher = ox.BlankNode()
    add(ds, DCT + "publisher", publisher)
    add(publisher, RDF + "type", iri(FOAF + "Organization"))
    add(publisher, FOAF + "name", ox.Literal(PUBLISHER))
    add(ds, DCAT + "version", ox.Literal(info.version))
    if info.issued:
        add(ds, DCT + "issued", ox.Literal(info.issued, datatype=iri(XSD + "date")))
    add(ds, DCT + "modified", ox.Literal(info.modified, datatype=iri(XSD + "date")))
    for code in ("en", "zh"):
        add(ds, DCT + "language", iri(f"http://id.loc.gov/vocabulary/iso639-1/{code}"))
    if info.spatial:
        add(ds, DCT + "spatial", iri(info.spatial))
    if info.temporal:
        add(ds, DCT + "temporal", iri(info.temporal))
    add(ds, DCAT + "landingPage", iri(info.landing_page))
    for word in ("innovation", "technology", "Hong Kong", "government", "research and development"):
        add(ds, DCAT + "keyword", ox.Literal(word, language="en"))

    add(ds, VOID + "uriSpace", ox.Literal(info.landing_page + "id/"))
    add(ds, VOID + "vocabulary", iri(info.landing_page + "def/"))
    for vocabulary in VOCABULARIES:
        add(ds, VOID + "vocabulary", iri(vocabulary))
    add(ds, VOID + "triples", number(info.triples))
    add(ds, VOID + "entities", number(info.entities))
    add(ds, VOID + "classes", number(len(info.classes)))
    add(ds, VOID + "properties", number(len(info.properties)))
    add(ds, VOID + "distinctSubjects", number(info.distinct_subjects))
    add(ds, VOID + "distinctObjects", number(info.distinct_objects))
    for cls, n in info.classes.items():
        part = ox.BlankNode()
        add(ds, VOID + "classPartition", part)
        add(part, VOID + "class", iri(cls))
        add(part, VOID + "entities", number(n))
    for prop, n in info.properties.items():
        part = ox.BlankNode()
        add(ds, VOID + "propertyPartition", part)
        add(part, VOID + "property", iri(prop))
        add(part, VOID + "triples", number(n))
    for graph, n in info.graphs.items():
        add(ds, VOID + "subset", iri(graph))
        add(iri(graph), RDF + "type", iri(VOID + "Dataset"))
        add(iri(graph), VOID + "triples", number(n))
    for example in info.examples:
        add(ds, VOID + "exampleResource", iri(example))

    add(ds, VOID + "sparqlEndpoint", iri(info.sparql))
    service, api = ox.BlankNode(), ox.BlankNode()
    add(ds, DCAT + "distribution", api)
    add(api, RDF + "type", iri(DCAT + "Distribution"))
    add(api, DCT + "title", ox.Literal("SPARQL endpoint", language="en"))
    add(api, DCAT + "accessURL", iri(info.sparql))
    add(api, DCAT + "accessService", service)
    add(service, RDF + "type", iri(DCAT + "DataService"))
    add(service, DCAT + "endpointURL", iri(info.sparql))
    add(service, DCT + "conformsTo", iri("https://www.w3.org/TR/sparql11-protocol/"))
    add(service, DCAT + "servesDataset", ds)

    for url, dump in info.dumps:
        add(ds, VOID + "dataDump", iri(url))
        add(ds, VOID + "feature", iri(FORMAT_FEATURES[dump.media_type]))
        dist = ox.BlankNode()
        add(ds, DCAT + "distribution", dist)
        add(dist, RDF + "type", iri(DCAT + "Distribution"))
        add(dist, DCT + "title", ox.Literal(f"{FORMAT_NAMES[dump.media_type]}, gzip", language="en"))
        add(dist, DCT + "license", iri(info.licence))
        add(dist, DCAT + "downloadURL", iri(url))
        add(dist, DCAT + "mediaType", iri(IANA + dump.media_type))
        add(dist, DCAT + "compressFormat", iri(IANA + "application/gzip"))
        add(dist, DCAT + "byteSize", number(dump.bytes, XSD + "nonNegativeInteger"))
        checksum = ox.BlankNode()
        add(dist, SPDX + "checksum", checksum)
        add(checksum, RDF + "type", iri(SPDX + "Checksum"))
        add(checksum, SPDX + "algorithm", iri(SPDX + "checksumAlgorithm_sha256"))
        add(checksum, SPDX + "checksumValue", ox.Literal(dump.sha256, datatype=iri(XSD + "hexBinary")))
    return out
