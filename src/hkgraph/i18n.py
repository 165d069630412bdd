"""Languages of the pages (en, zh-Hans, zh-Hant): which one a request wants, labels in it, UI words."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import quote, urlencode

from flask import Flask, Response, g, request

from hkgraph.errors import BadRequest

LANGUAGES = ("en", "zh-Hans", "zh-Hant")
LANGUAGE_NAMES = {"en": "English", "zh-Hans": "简体中文", "zh-Hant": "繁體中文"}
DEFAULT_LANGUAGE = "en"
COOKIE = "lang"

# Where a label is missing in the chosen language, the next one in this order is shown.
FALLBACKS = {
    "en": ("en", "zh-Hans", "zh-Hant"),
    "zh-Hans": ("zh-Hans", "zh-Hant", "en"),
    "zh-Hant": ("zh-Hant", "zh-Hans", "en"),
}

# Language tags people and browsers send, mapped to the page language that serves them.
ALIASES = {
    "en": "en",
    "zh-hans": "zh-Hans",
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh-my": "zh-Hans",
    "zh": "zh-Hans",
    "zh-hant": "zh-Hant",
    "zh-hk": "zh-Hant",
    "zh-tw": "zh-Hant",
    "zh-mo": "zh-Hant",
}


def language_of_tag(tag: str) -> str | None:
    """The page language for a language tag (zh-TW → zh-Hant, en-GB → en), or None if we have none."""
    tag = tag.strip().lower().replace("_", "-")[:64]  # a real tag is short; a long one costs n² below
    while tag:
        if tag in ALIASES:
            return ALIASES[tag]
        if tag.startswith("zh-hant") or tag.startswith("zh-hans"):
            return ALIASES[tag[:7]]
        tag = tag.rpartition("-")[0]
    return None


def language_from_accept(header: str | None) -> str | None:
    """The best page language for an Accept-Language header, by q-value then order, or None."""
    candidates = []
    for order, part in enumerate((header or "").split(",")):
        tag, _, params = part.partition(";")
        q = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
        lang = language_of_tag(tag)
        if lang and q > 0:
            candidates.append((q, -order, lang))
    return max(candidates)[2] if candidates else None


def choose_language(param: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page language: ?lang= first, then the cookie a switch set, then Accept-Language, then en."""
    if param:
        lang = language_of_tag(param)
        if lang is None:
            raise BadRequest(f"unknown language {param!r}: use one of {', '.join(LANGUAGES)}")
        return lang
    return (cookie and language_of_tag(cookie)) or language_from_accept(accept_language) or DEFAULT_LANGUAGE


def pick(labels: Mapping[str, str] | None, lang: str) -> str | None:
    """The label in the language, else in its fallbacks, else any; labels are keyed by lower-case tag."""
    if not labels:
        return None
    for candidate in FALLBACKS[lang]:
        if candidate.lower() in labels:
            return labels[candidate.lower()]
    return labels.get("") or next(iter(labels.values()))


def labeller(names: Mapping[str, Mapping[str, str]], lang: str, fallback: Callable[[str], str]) -> Callable:
    """A function giving an IRI's label in the language, or fallback(iri) where it has none."""

    def name(iri: str) -> str:
        return pick(names.get(iri), lang) or fallback(iri)

    return name


# Labels for the reused vocabularies' properties that the ontology does not label itself.
PREDICATE_LABELS = {
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#type": ("type", "类型", "類型"),
    "http://www.w3.org/2000/01/rdf-schema#label": ("name", "名称", "名稱"),
    "http://www.w3.org/2000/01/rdf-schema#comment": ("comment", "注释", "註釋"),
    "http://www.w3.org/2000/01/rdf-schema#subClassOf": ("subclass of", "子类", "子類"),
    "http://www.w3.org/2000/01/rdf-schema#subPropertyOf": ("subproperty of", "子属性", "子屬性"),
    "http://www.w3.org/2000/01/rdf-schema#isDefinedBy": ("defined by", "定义于", "定義於"),
    "http://www.w3.org/2000/01/rdf-schema#seeAlso": ("see also", "参见", "參見"),
    "http://www.w3.org/2004/02/skos/core#altLabel": ("also called", "又称", "又稱"),
    "http://www.w3.org/2004/02/skos/core#hiddenLabel": ("misspelling", "误写", "誤寫"),
    "http://www.w3.org/2004/02/skos/core#definition": ("definition", "定义", "定義"),
    "http://www.w3.org/2004/02/skos/core#note": ("note", "注", "註"),
    "http://www.w3.org/2004/02/skos/core#editorialNote": ("editorial note", "编辑注", "編輯註"),
    "http://www.w3.org/2004/02/skos/core#inScheme": ("in scheme", "所属体系", "所屬體系"),
    "http://www.w3.org/2004/02/skos/core#related": ("related", "相关", "相關"),
    "https://schema.org/description": ("description", "简介", "簡介"),
    "https://schema.org/observationAbout": ("about", "关于", "關於"),
    "https://schema.org/startDate": ("start", "开始", "開始"),
    "https://schema.org/endDate": ("end", "结束", "結束"),
    "http://www.w3.org/ns/prov#wasDerivedFrom": ("source", "出处", "出處"),
    "http://www.w3.org/ns/org#subOrganizationOf": ("part of", "隶属", "隸屬"),
    "http://www.w3.org/ns/org#hasSubOrganization": ("has part", "下辖", "下轄"),
    "http://www.w3.org/ns/org#unitOf": ("unit of", "所属部门", "所屬部門"),
    "http://www.w3.org/ns/org#hasUnit": ("has unit", "下设单位", "下設單位"),
    "http://purl.org/dc/terms/isPartOf": ("part of", "属于", "屬於"),
    "http://purl.org/dc/terms/hasPart": ("has part", "包括", "包括"),
    "http://purl.org/dc/terms/subject": ("subject", "主题", "主題"),
    "http://xmlns.com/foaf/0.1/homepage": ("website", "网址", "網址"),
    "http://qudt.org/schema/qudt/numericValue": ("value", "数值", "數值"),
    "http://qudt.org/schema/qudt/hasUnit": ("unit", "单位", "單位"),
    "http://www.w3.org/2002/07/owl#inverseOf": ("inverse of", "逆属性", "逆屬性"),
}


def predicate_labels() -> dict[str, dict[str, str]]:
    """PREDICATE_LABELS keyed like store labels: IRI → {lower-case language tag: label}."""
    return {
        iri: {"en": en, "zh-hans": hans, "zh-hant": hant}
        for iri, (en, hans, hant) in PREDICATE_LABELS.items()
    }


# The words of the pages themselves.
TEXT = {
    "search": ("Search", "搜索", "搜尋"),
    "search_placeholder": ("Search names in any language", "以任何语言搜索名称", "以任何語言搜尋名稱"),
    "home": ("Home", "首页", "首頁"),
    "ontology": ("Ontology", "本体", "本體"),
    "dataset": ("Dataset", "数据集", "數據集"),
    "dumps": ("Downloads", "下载", "下載"),
    "sparql": ("SPARQL", "SPARQL", "SPARQL"),
    "diagrams": ("Diagrams", "架构图", "架構圖"),
    "language": ("Language", "语言", "語言"),
    "names": ("Names", "名称", "名稱"),
    "about": ("About", "资料", "資料"),
    "relationships": ("Relationships", "关系", "關係"),
    "provenance": ("Source in the Yearbook", "年报出处", "年報出處"),
    "observations": ("Observations", "统计数据", "統計數據"),
    "linked_from": ("Linked from", "被以下引用", "被以下引用"),
    "structure": ("Organisation structure", "组织架构", "組織架構"),
    "overseen_by": ("Overseen by", "监督机构", "監督機構"),
    "oversees": ("Oversees", "监督", "監督"),
    "what": ("What", "项目", "項目"),
    "value": ("Value", "数值", "數值"),
    "date": ("Date or period", "日期或时期", "日期或時期"),
    "source": ("Source", "出处", "出處"),
    "quote": ("Quote", "引文", "引文"),
    "paragraph": ("paragraph", "段", "段"),
    "section": ("Section", "节", "節"),
    "query_this": ("Query this in SPARQL", "以 SPARQL 查询", "以 SPARQL 查詢"),
    "formats": ("This page as data", "本页数据格式", "本頁數據格式"),
    "inferred": ("inferred", "推导", "推導"),
    "more": ("more", "更多", "更多"),
    "results": ("results", "项结果", "項結果"),
    "no_results": ("Nothing found.", "找不到结果。", "找不到結果。"),
    "classes": ("Classes", "类", "類"),
    "properties": ("Properties", "属性", "屬性"),
    "measures": ("Measures", "统计项目", "統計項目"),
    "qualifiers": ("Qualifiers", "限定词", "限定詞"),
    "units": ("Units", "单位", "單位"),
    "class_hierarchy": ("Class hierarchy", "类层级", "類層級"),
    "superclasses": ("Superclasses", "上位类", "上位類"),
    "subclasses": ("Subclasses", "下位类", "下位類"),
    "domain": ("Used on", "用于", "用於"),
    "range": ("Points to", "指向", "指向"),
    "inverse": ("Inverse", "逆属性", "逆屬性"),
    "examples": ("Examples from the data", "数据示例", "數據示例"),
    "instances": ("instances", "个实例", "個實例"),
    "uses": ("uses", "次使用", "次使用"),
    "shapes": ("Shapes", "约束形状", "約束形狀"),
    "graph": ("Named graph", "命名图", "命名圖"),
    "triples": ("Triples", "三元组", "三元組"),
    "entities": ("Entities", "实体", "實體"),
    "example_questions": ("Example questions", "示例问题", "示例問題"),
    "start_here": ("Start here", "从这里开始", "從這裡開始"),
    "whats_in": ("What is in it", "包含什么", "包含甚麼"),
    "explore": ("Explore", "浏览", "瀏覽"),
    "file": ("File", "文件", "檔案"),
    "size": ("Size", "大小", "大小"),
    "format": ("Format", "格式", "格式"),
    "checksum": ("SHA-256", "SHA-256", "SHA-256"),
    "version": ("Version", "版本", "版本"),
    "dates": ("Created – modified", "创建 – 修订", "創建 – 修訂"),
    "licence": ("Licence", "许可", "許可"),
    "definition": ("Definition", "定义", "定義"),
    "publisher": ("Publisher", "发布者", "發佈者"),
    "sparql_endpoint": ("SPARQL endpoint", "SPARQL 端点", "SPARQL 端點"),
    "shown": ("shown", "项已显示", "項已顯示"),
    "matched": ("matched", "匹配", "匹配"),
    "paragraphs_cited": ("Source paragraphs cited", "引用的原文段落", "引用的原文段落"),
    "search_help": (
        "Search the names of bodies, funds, places, documents, figures and terms in English, Simplified or "
        "Traditional Chinese; either Chinese script finds both.",
        "以英文、简体或繁体中文搜索机构、基金、地点、文件、统计数据和术语的名称；简体和繁体可互相找到。",
        "以英文、簡體或繁體中文搜尋機構、基金、地點、文件、統計數據和術語的名稱；簡體和繁體可互相找到。",
    ),
    "dumps_help": (
        "The whole dataset (data, ontology, shapes and inferred triples), gzip-compressed, in four RDF syntaxes. "
        "N-Quads, TriG and JSON-LD keep the named graphs; Turtle holds their union.",
        "整个数据集（数据、本体、约束形状和推导三元组），以 gzip 压缩，提供四种 RDF 格式。"
        "N-Quads、TriG 和 JSON-LD 保留命名图；Turtle 为所有图的合并。",
        "整個數據集（數據、本體、約束形狀和推導三元組），以 gzip 壓縮，提供四種 RDF 格式。"
        "N-Quads、TriG 和 JSON-LD 保留命名圖；Turtle 為所有圖的合併。",
    ),
    "home_how": (
        "Every thing has an address (IRI) that opens as a page here and as data for programs; every fact "
        "names the paragraph of the Yearbook it comes from.",
        "每项事物都有一个地址（IRI），在此可作网页浏览，亦可作为数据供程序读取；每项事实均注明出自年报哪一段。",
        "每項事物都有一個地址（IRI），在此可作網頁瀏覽，亦可作為數據供程式讀取；每項事實均註明出自年報哪一段。",
    ),
    "search_blurb": (
        "Find a body, fund or place by name",
        "按名称查找机构、基金或地点",
        "按名稱查找機構、基金或地點",
    ),
    "sparql_blurb": (
        "Ask your own questions in SPARQL",
        "以 SPARQL 提出自己的问题",
        "以 SPARQL 提出自己的問題",
    ),
    "ontology_blurb": ("Classes and properties the data uses", "数据使用的类和属性", "數據使用的類和屬性"),
    "diagrams_blurb": ("Who sits under whom", "机构的上下级关系", "機構的上下級關係"),
    "dumps_blurb": ("The whole dataset as files", "以文件下载整个数据集", "以檔案下載整個數據集"),
    "void_blurb": ("VoID and DCAT description", "VoID 与 DCAT 数据集描述", "VoID 與 DCAT 數據集描述"),
    "try_instead": ("Try instead", "可改为查看", "可改為查看"),
    "footer_source": (
        "Data from the Hong Kong Yearbook 2024, chapter 16. Licence:",
        "数据来自《香港年报2024》第十六章。许可：",
        "數據來自《香港年報2024》第十六章。許可：",
    ),
}


def text(key: str, lang: str) -> str:
    """A word of the page in the language."""
    return TEXT[key][LANGUAGES.index(lang)]


def current_language() -> str:
    """The language of this request, set before the view ran (en outside a request)."""
    return g.get("lang", DEFAULT_LANGUAGE)


def url_with_language(lang: str) -> str:
    """This page's URL with ?lang= set to another language, other parameters kept."""
    args = request.args.copy()
    args["lang"] = lang
    path = quote(request.path, safe="/:@!$&'()*+,;=~")  # as a URL again: an odd path's NUL or space escaped
    return path + "?" + urlencode(list(args.items(multi=True)))


# Endpoints that mostly answer data, not pages: they choose a language (select_language) only for a page.
DATA_ENDPOINTS = {"sparql.endpoint"}


def select_language() -> str:
    """Choose this request's page language and keep it in g (en while choosing, for an error page)."""
    g.lang = DEFAULT_LANGUAGE
    g.lang = choose_language(
        request.args.get("lang"), request.cookies.get(COOKIE), request.headers.get("Accept-Language")
    )
    return g.lang


def init_app(app: Flask) -> None:
    """Choose each request's language, remember a switch in a cookie, and offer t() to templates."""

    @app.before_request
    def set_language():
        if request.endpoint not in DATA_ENDPOINTS:
            select_language()

    @app.after_request
    def remember_language(response: Response) -> Response:
        if "lang" not in g:  # a data response: no language was chosen
            return response
        if request.args.get("lang") and language_of_tag(request.args["lang"]):
            response.set_cookie(COOKIE, g.lang, max_age=365 * 24 * 3600, samesite="Lax")
        if response.mimetype == "text/html":
            response.vary.update(("Accept-Language", "Cookie"))
        return response

    @app.context_processor
    def language_helpers():
        lang = current_language()
        return {
            "lang": lang,
            "languages": LANGUAGE_NAMES,
            "t": lambda key: text(key, lang),
            "url_with_language": url_with_language,
        }
