"""Counts that describe the graph: triples, entities by class, observations, sources."""

from __future__ import annotations


def graph_stats(store) -> dict:
    """Triples (asserted and inferred), entities by hkg class, observations and cited paragraphs."""
    hkg = store.iri("def/")
    inferred = store.iri("graph/inferred")
    total = len(store)
    inferred_count = sum(1 for _ in store.quads(inferred))
    by_class = store.select(
        f"""SELECT ?class (COUNT(DISTINCT ?s) AS ?n) WHERE {{
              GRAPH ?g {{ ?s a ?class }} FILTER(?g != <{inferred}>) FILTER(STRSTARTS(STR(?class), "{hkg}"))
              FILTER(STRSTARTS(STR(?s), "{store.iri("id/")}"))
            }} GROUP BY ?class ORDER BY DESC(?n) ?class"""
    )
    entities = store.select(
        f"""SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{
              GRAPH ?g {{ ?s a ?class }} FILTER(?g != <{inferred}>) FILTER(STRSTARTS(STR(?class), "{hkg}"))
              FILTER(STRSTARTS(STR(?s), "{store.iri("id/")}"))
              FILTER(?class NOT IN (hkg:Observation, hkg:Paragraph, hkg:Section, hkg:Chapter,
                                    hkg:Publication, hkg:Period))
            }}"""
    )[0]["n"]
    cited = store.select("SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?s prov:wasDerivedFrom ?p }")[0]["n"]
    paragraphs = store.select("SELECT (COUNT(?p) AS ?n) WHERE { ?p a hkg:Paragraph }")[0]["n"]
    relations = store.select(
        f"""SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH ?g {{ ?s ?p ?o }}
              FILTER(?g != <{inferred}>) FILTER(isIRI(?o))
              FILTER(STRSTARTS(STR(?s), "{store.iri("id/")}") && STRSTARTS(STR(?o), "{store.iri("id/")}"))
              FILTER(?p NOT IN (prov:wasDerivedFrom, schema:observationAbout, hkg:refPeriod, dcterms:isPartOf))
            }}"""
    )[0]["n"]
    return {
        "triples": total,
        "asserted_triples": total - inferred_count,
        "inferred_triples": inferred_count,
        "graphs": len(store.graphs()),
        "entities": entities,
        "observations": next((r["n"] for r in by_class if r["class"] == hkg + "Observation"), 0),
        "relationships": relations,
        "paragraphs": paragraphs,
        "paragraphs_cited": cited,
        "classes": {r["class"][len(hkg) :]: r["n"] for r in by_class},
        "version": store.version,
    }


def stats_text(stats: dict) -> str:
    lines = [
        f"triples            {stats['triples']} ({stats['asserted_triples']} asserted, "
        f"{stats['inferred_triples']} inferred)",
        f"named graphs       {stats['graphs']}",
        f"entities           {stats['entities']}",
        f"observations       {stats['observations']}",
        f"relationships      {stats['relationships']} (between entities, asserted)",
        f"source paragraphs  {stats['paragraphs']} ({stats['paragraphs_cited']} cited)",
        "entities by class:",
    ]
    lines += [f"  {name:<34}{n}" for name, n in stats["classes"].items()]
    return "\n".join(lines) + "\n"
