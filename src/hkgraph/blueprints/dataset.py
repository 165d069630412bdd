"""The dataset: its VoID + DCAT description at /.well-known/void and its dumps with checksums at /dumps/."""

from __future__ import annotations

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, jsonify, render_template, request, send_from_directory

from hkgraph.app import cached, get_store
from hkgraph.blueprints.linkeddata import curie
from hkgraph.describe import names_of
from hkgraph.dumps import CHECKSUMS, MANIFEST, Manifest, checksums_text, ensure_dumps
from hkgraph.errors import NotFound
from hkgraph.i18n import current_language, labeller, predicate_labels
from hkgraph.negotiation import choose
from hkgraph.void import DESCRIPTION, FORMAT_NAMES, TITLE, DatasetInfo, dataset_info, void_triples

bp = Blueprint("dataset", __name__)

# Turtle first: /.well-known/void is mostly read by programs; browsers ask for HTML by name.
VOID_FORMATS = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "text/html": None,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
}


def manifest() -> Manifest:
    """The dumps of the served store, built into the configured folder on first use if missing or stale."""
    folder = current_app.config["HKGRAPH"].dumps_dir
    return cached("hkgraph.dumps_manifest", lambda: ensure_dumps(get_store(), folder))


def info() -> DatasetInfo:
    licence = current_app.config["HKGRAPH"].licence
    return cached("hkgraph.dataset_info", lambda: dataset_info(get_store(), manifest(), licence))


@bp.get("/.well-known/void")
def void():
    """VoID and DCAT: licence, source, version, dates, counts, partitions, examples, endpoint, dumps."""
    store = get_store()
    media = choose(request.headers.get("Accept"), list(VOID_FORMATS))
    description = info()
    if VOID_FORMATS[media] is None:
        names = {**predicate_labels(), **names_of(store, [*description.classes, *description.properties])}
        names.update(names_of(store, description.examples))
        page = render_template(
            "dataset/void.html",
            info=description,
            title=TITLE,
            description=DESCRIPTION,
            format_names=FORMAT_NAMES,
            name=labeller(names, current_language(), curie),
        )
        response = Response(page, mimetype="text/html")
    else:
        body = ox.serialize(void_triples(description), format=VOID_FORMATS[media], prefixes=store.prefixes())
        response = Response(body, mimetype=media)
    response.vary.add("Accept")
    return response


@bp.get("/dumps/")
def dumps():
    """The dumps with sizes and SHA-256 checksums, as a page or as JSON."""
    current = manifest()
    if choose(request.headers.get("Accept"), ["text/html", "application/json"]) == "application/json":
        response = jsonify(
            {
                "version": current.version,
                "base": current.base,
                "dumps": [
                    {**vars(dump), "url": request.url_root + "dumps/" + dump.name} for dump in current.dumps
                ],
            }
        )
    else:
        response = Response(
            render_template("dataset/dumps.html", manifest=current, format_names=FORMAT_NAMES),
            mimetype="text/html",
        )
    response.vary.add("Accept")
    return response


@bp.get("/dumps/<name>")
def dump_file(name: str):
    """One dump file, SHA256SUMS or manifest.json."""
    current = manifest()
    folder = current_app.config["HKGRAPH"].dumps_dir
    if name == CHECKSUMS:
        return Response(checksums_text(current), mimetype="text/plain")
    if name == MANIFEST:
        return send_from_directory(folder, MANIFEST, mimetype="application/json")
    if name not in {dump.name for dump in current.dumps}:
        err = NotFound(f"there is no dump called {name!r}")
        err.links = [(dump.name, request.script_root + "/dumps/" + dump.name) for dump in current.dumps]
        raise err
    return send_from_directory(folder, name, mimetype="application/gzip", as_attachment=True)
