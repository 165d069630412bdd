"""The four benchmark queries of issue 4, measured by `make bench` (bench/run.py) and `make bench-scale`."""

PREFIXES = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX org: <http://www.w3.org/ns/org#>
"""
QUERIES = {
    "label lookup": PREFIXES + 'SELECT ?s WHERE { ?s rdfs:label "创新科技署"@zh-Hans }',
    "2-hop join": PREFIXES
    + """SELECT ?unit ?parent ?label WHERE {
  ?unit org:subOrganizationOf ?parent . ?parent rdfs:label ?label FILTER(langMatches(lang(?label), "en")) }""",
    "GROUP BY aggregate": "SELECT ?class (COUNT(?s) AS ?n) WHERE { ?s a ?class } GROUP BY ?class ORDER BY DESC(?n)",
    "DESCRIBE": "DESCRIBE <https://w3id.org/hkgraph/id/org/itc>",
}
ACCEPT = {"DESCRIBE": "application/ld+json"}  # the others ask for SPARQL JSON results
