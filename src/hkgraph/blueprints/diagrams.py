"""Diagrams over HTTP: the interactive /diagram page and every entity's /doc/<path>/diagram.<suffix>.

The same query parameters everywhere: root (IRI, path, slug, abbreviation or name; none: the landscape),
relations (comma-separated or repeated), depth (a number or all), direction (down, up, both) and lang.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, redirect, render_template, request
from markupsafe import Markup

from hkgraph import diagram as dg
from hkgraph.app import cached, get_store
from hkgraph.errors import HkgraphError, NotAcceptable, NotFound
from hkgraph.i18n import LANGUAGE_NAMES, LANGUAGES, current_language
from hkgraph.negotiation import choose
from hkgraph.resolve import Resolver, described

MAX_ROOT_OPTIONS = 1000  # entities offered as roots in the page's list

bp = Blueprint("diagrams", __name__)

FORMAT_BY_SUFFIX = {suffix: fmt for fmt, suffix in dg.SUFFIXES.items()}
FORMAT_NAMES = {"svg": "SVG", "png": "PNG", "pdf": "PDF", "dot": "DOT", "mmd": "Mermaid", "graphml": "GraphML",
                "json": "JSON"}  # fmt: skip
CACHE_ENTRIES = 200  # rendered diagrams kept per worker

# The page's own words, in en, zh-Hans, zh-Hant.
WORDS = {
    "title": ("Organisation diagrams", "组织架构图", "組織架構圖"),
    "intro": (
        "Who sits under whom, who oversees whom, who manages which facility and who administers or funds "
        "which programme, drawn from the graph. Click a box to open its page.",
        "由数据图谱绘出：谁隶属谁、谁监督谁、谁管理哪些设施、谁推行或资助哪些计划。点击方框可打开其页面。",
        "由數據圖譜繪出：誰隸屬誰、誰監督誰、誰管理哪些設施、誰推行或資助哪些計劃。點擊方框可打開其頁面。",
    ),
    "root": ("Start from", "起点", "起點"),
    "landscape": ("The whole landscape (government)", "整体架构（政府）", "整體架構（政府）"),
    "relations": ("Relations", "关系", "關係"),
    "depth": ("Depth", "层数", "層數"),
    "all": ("all", "全部", "全部"),
    "direction": ("Direction", "方向", "方向"),
    "down": ("below", "向下", "向下"),
    "up": ("above", "向上", "向上"),
    "both": ("above and below", "上下", "上下"),
    "language": ("Language", "语言", "語言"),
    "draw": ("Draw", "绘制", "繪製"),
    "usual": ("usual", "默认", "預設"),
    "download": ("Download", "下载", "下載"),
    "open_page": ("Page of {}", "{}的页面", "{}的頁面"),
    "embed_title": ("Organisation chart", "组织架构图", "組織架構圖"),
    "open_tool": ("Open in the diagram tool", "在架构图工具中打开", "在架構圖工具中打開"),
    "unlinked": (
        "In the data, these are not linked to the government; each has its own diagram:",
        "以下各项在数据中未与政府相连，各有其架构图：",
        "以下各項在數據中未與政府相連，各有其架構圖：",
    ),
    "nodes": ("boxes", "个方框", "個方框"),
    "edges": ("lines", "条连线", "條連線"),
}


def word(key: str) -> str:
    return WORDS[key][LANGUAGES.index(current_language())]


def resolver() -> Resolver:
    """The app's entity resolver, built on first use."""
    from hkgraph.blueprints.search import search_index

    return cached("hkgraph.resolver", lambda: Resolver.build(get_store(), search_index()))


def entity_href(iri: str) -> str:
    """The absolute address of an entity's page on this server (so saved files keep working links)."""
    from hkgraph.blueprints.linkeddata import local_href

    href = local_href(iri)
    return request.host_url.rstrip("/") + href if href.startswith("/") else href


def choices(root: str | None) -> dict:
    """The diagram's choices from the query string; root as an IRI or None for the landscape."""
    store = get_store()
    relations = ",".join(request.args.getlist("relations")) or None
    if root is None and request.args.get("root", "").strip():
        root = resolve_root(request.args["root"])
    if root is not None and root == store.iri(dg.GOVERNMENT) and not request.args.get("direction"):
        root = None  # the government's own diagram is the landscape
    return {
        "root": root,
        "relations": dg.parse_relations(relations),
        "depth": dg.parse_depth(request.args.get("depth")),
        "direction": request.args.get("direction") or None,
        "lang": current_language(),
    }


def render_cached(options: dict, fmt: str) -> bytes:
    """The diagram in a format, rendered once per worker for the same choices (the graph is read-only)."""
    cache = cached("hkgraph.diagram_cache", dict)
    key = (fmt, request.host_url, *(str(v) for v in options.values()))
    if key not in cache:
        diagram = dg.build_diagram(get_store(), **options)
        if len(cache) >= CACHE_ENTRIES:
            cache.pop(next(iter(cache)))
        cache[key] = dg.render(diagram, fmt, entity_href)
    return cache[key]


def file_response(options: dict, suffix: str) -> Response:
    """One format of a diagram, with a file name for saving, an ETag and the usual cache lifetime."""
    fmt = FORMAT_BY_SUFFIX.get(suffix)
    if fmt is None:
        raise NotFound(f"no diagram format .{suffix}: use {', '.join('.' + s for s in FORMAT_BY_SUFFIX)}")
    body = render_cached(options, fmt)
    media = dg.MEDIA_TYPES[fmt] + ("; charset=utf-8" if fmt in ("dot", "mermaid") else "")
    response = Response(body, mimetype=media)
    name = dg.short_id(get_store(), options["root"]).replace("/", "-") if options["root"] else "landscape"
    response.headers["Content-Disposition"] = f'inline; filename="{name}-{options["lang"]}.{suffix}"'
    response.cache_control.public = True
    response.cache_control.max_age = current_app.config["HKGRAPH"].cache_max_age
    response.add_etag()
    return response.make_conditional(request)


def entity_root(doc_rel: str) -> str:
    """The entity a /doc/ path names (org/itc → {base}id/org/itc); 404 with close matches if none."""
    store = get_store()
    iri = store.iri("id/" + doc_rel.strip("/"))
    if not described(store, iri):
        err = NotFound(f"nothing is known about {iri}, so it has no diagram")
        words = doc_rel.rstrip("/").rpartition("/")[2].replace("-", " ")
        err.links = page_links(resolver().close_matches(words))
        raise err
    return iri


def resolve_root(text: str) -> str:
    """The entity ?root= names; on an unknown or ambiguous name, the error links to the candidates' diagrams."""
    try:
        return resolver().resolve(text)
    except HkgraphError as err:
        err.links = page_links([iri for _, iri in err.links])
        raise


def page_links(iris: list[str]) -> list[tuple[str, str]]:
    """(label, diagram page) for each IRI."""
    store, lang = get_store(), current_language()
    return [
        (
            resolver().label(iri, lang),
            f"{request.script_root}/diagram?" + urlencode({"root": dg.short_id(store, iri)}),
        )
        for iri in iris
    ]


# Routes -------------------------------------------------------------------------------------------------


@bp.get("/diagram")
def page():
    """The interactive page: choose root, relations, depth, direction, language; the picture updates."""
    options = choices(None)
    diagram = dg.build_diagram(get_store(), **options)
    svg = render_cached(options, "svg").decode()
    svg = svg[svg.index("<svg") :]  # inline: without the XML declaration and doctype
    query = query_string(options)
    return render_template(
        "diagrams/page.html",
        w=word,
        diagram=diagram,
        svg=Markup(svg),  # Graphviz output; every label in it was escaped by diagram.html_label
        options=options,
        root_options=root_options(diagram.lang),
        root_value=dg.short_id(get_store(), options["root"]) if options["root"] else "",
        relations=[(r.name, r.words[LANGUAGES.index(diagram.lang)], r.colour) for r in dg.RELATIONS.values()],
        directions=dg.DIRECTIONS,
        languages=LANGUAGE_NAMES,
        downloads=[(FORMAT_NAMES[s], f"{request.script_root}/diagram.{s}?{query}") for s in FORMAT_NAMES],
        root_href=entity_href(diagram.root),
        unlinked=unlinked_links(options) if diagram.landscape else [],
    )


@bp.get("/diagram.<suffix>")
def diagram_file(suffix: str):
    """A diagram in one format: ?root= names the entity (none: the landscape)."""
    return file_response(choices(None), suffix)


@bp.get("/doc/<path:doc_rel>/diagram.<suffix>")
def entity_diagram(doc_rel: str, suffix: str):
    """An entity's diagram in one format: /doc/org/itc/diagram.svg."""
    return file_response(choices(entity_root(doc_rel)), suffix)


@bp.get("/doc/<path:doc_rel>/diagram")
def entity_diagram_negotiated(doc_rel: str):
    """An entity's diagram in the format Accept prefers (SVG on a tie); HTML is the interactive page."""
    iri = entity_root(doc_rel)
    offered = ["image/svg+xml", "text/html", *(dg.MEDIA_TYPES[f] for f in dg.FORMATS[1:])]
    try:
        media = choose(request.headers.get("Accept"), offered)
    except NotAcceptable as err:
        err.links = [(FORMAT_NAMES[s], f"{request.path}.{s}") for s in FORMAT_NAMES]
        raise
    if media == "text/html":
        query = urlencode({"root": dg.short_id(get_store(), iri), **request.args})
        return redirect(f"{request.script_root}/diagram?{query}", code=303)
    fmt = next(f for f in dg.FORMATS if dg.MEDIA_TYPES[f] == media)
    response = file_response(choices(iri), dg.SUFFIXES[fmt])
    response.vary.add("Accept")
    response.headers["Content-Location"] = f"{request.path}.{dg.SUFFIXES[fmt]}"
    return response


# Page helpers ---------------------------------------------------------------------------------------------


def query_string(options: dict) -> str:
    """The query string that asks for the same diagram again."""
    store = get_store()
    params = {"root": dg.short_id(store, options["root"]) if options["root"] else ""}
    if options["relations"] != tuple(dg.RELATIONS):
        params["relations"] = ",".join(options["relations"])
    if options["depth"]:
        params["depth"] = str(options["depth"])
    if options["direction"]:
        params["direction"] = options["direction"]
    params["lang"] = options["lang"]
    return urlencode({k: v for k, v in params.items() if v})


def unlinked_links(options: dict) -> list[tuple[str, str]]:
    """(label, diagram page) of each tree the landscape does not reach."""
    store = get_store()
    relations = options["relations"]
    tops = cached(f"hkgraph.diagram_tops.{','.join(relations)}", lambda: dg.unlinked_tops(store, relations))
    tops = dg.node_details(store, tops)
    query = {"lang": options["lang"]}
    return sorted(
        (
            (
                node.label(options["lang"]),
                f"{request.script_root}/diagram?" + urlencode({"root": node.id, **query}),
            )
            for node in tops.values()
        ),
        key=lambda pair: pair[0].casefold(),
    )


def root_options(lang: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Everything that can be a diagram's root (whatever has a drawn relation), grouped by kind."""

    def build():
        store = get_store()
        edges = dg.relation_edges(store, dg.RELATIONS)
        below = Counter(e.upper for e in edges)
        iris = set(below) | {e.lower for e in edges}
        if len(iris) > MAX_ROOT_OPTIONS:  # a big graph: those with most under them (others by name or URL)
            iris = {iri for iri, _ in below.most_common(MAX_ROOT_OPTIONS)}
        return dg.node_details(store, iris)

    nodes = cached("hkgraph.diagram_roots", build)
    store = get_store()
    groups = []
    for kind in dg.KINDS:
        members = sorted(
            ((dg.short_id(store, n.iri), n.label(lang)) for n in nodes.values() if n.kind == kind.name),
            key=lambda pair: pair[1].casefold(),
        )
        if members:
            groups.append((kind.words[LANGUAGES.index(lang)], members))
    return groups


@bp.app_template_global()
def diagram_embed(iri: str) -> dict | None:
    """For an organisation's page: where its diagram is, in every format; None for anything else."""
    store = get_store()
    if not iri.startswith(store.iri("id/")) or not store.ask(
        f"ASK {{ {{ <{iri}> a hkg:Organization }} UNION {{ <{iri}> a org:Organization }} }}"
    ):
        return None
    path = dg.short_id(store, iri)
    base = f"{request.script_root}/doc/{path}/diagram"
    lang = current_language()
    return {
        "svg": f"{base}.svg?lang={lang}",
        "downloads": [(FORMAT_NAMES[s], f"{base}.{s}?lang={lang}") for s in FORMAT_NAMES],
        "page": f"{request.script_root}/diagram?" + urlencode({"root": path, "lang": lang}),
        "title": word("embed_title"),
        "open_tool": word("open_tool"),
        "download": word("download"),
    }
