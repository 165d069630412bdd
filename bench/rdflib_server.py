"""The nearest Python peer: rdflib-endpoint (FastAPI + rdflib's SPARQL engine) on the same data, under uvicorn.

Runs in bench/.venv (bench/requirements.txt), not in the package's environment.
Usage: bench/.venv/bin/python bench/rdflib_server.py DATA.nq PORT WORKERS
"""

from __future__ import annotations

import os
import sys

import rdflib
import uvicorn
from rdflib_endpoint import SparqlEndpoint


def build_app(data: str) -> SparqlEndpoint:
    dataset = rdflib.Dataset(default_union=True)  # the default graph is the union, as on our endpoint
    dataset.parse(data, format="nquads")
    return SparqlEndpoint(graph=dataset, path="/sparql", cors_enabled=True)


app = build_app(os.environ["BENCH_DATA"]) if "BENCH_DATA" in os.environ else None

if __name__ == "__main__":
    data, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.environ["BENCH_DATA"] = os.path.abspath(data)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    uvicorn.run("rdflib_server:app", host="127.0.0.1", port=port, workers=workers, log_level="warning")
