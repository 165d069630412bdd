"""The API description: the OpenAPI 3.1 document of every route (hkgraph/openapi.json) at /openapi.json."""

from __future__ import annotations

import json
from importlib import resources

from flask import Blueprint, Response, request

from hkgraph.app import cached

bp = Blueprint("api", __name__)


def load_document() -> dict:
    """The OpenAPI document as written in the package."""
    return json.loads(resources.files("hkgraph").joinpath("openapi.json").read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi():
    """The document with `servers` set to this instance's address, so that tools work against it."""
    document = {
        **cached("hkgraph.openapi", load_document),
        "servers": [{"url": request.url_root.rstrip("/")}],
    }
    return Response(json.dumps(document, ensure_ascii=False, indent=1), mimetype="application/json")
