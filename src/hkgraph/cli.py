"""The hkgraph command line: thin click commands, each calling one plain function."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pyoxigraph as ox

from hkgraph import __version__
from hkgraph.errors import HkgraphError, printable
from hkgraph.search import INDEX_FILE, SearchIndex
from hkgraph.store import DEFAULT_BASE, PROJECT_ROOT, Store, file_sources

EXPORT_FORMATS = {
    "nquads": ox.RdfFormat.N_QUADS,
    "trig": ox.RdfFormat.TRIG,
    "turtle": ox.RdfFormat.TURTLE,
    "ntriples": ox.RdfFormat.N_TRIPLES,
    "jsonld": ox.RdfFormat.JSON_LD,
    "rdfxml": ox.RdfFormat.RDF_XML,
}


class Group(click.Group):
    """Turns every HkgraphError into one readable line on stderr and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except HkgraphError as err:
            click.echo(f"hkgraph: {printable(err.message)}", err=True)
            sys.exit(err.exit_code)


def open_store(data: tuple[str, ...] = (), base: str = DEFAULT_BASE) -> Store:
    return Store.load(file_sources(data) if data else None, base=base)


data_option = click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(),
    help="RDF file(s) to use instead of the built-in graph.",
)
no_validate_option = click.option(
    "--no-validate",
    is_flag=True,
    help="Skip checking --data files against the SHACL shapes (a violation stops the command otherwise).",
)


@click.group(cls=Group)
@click.version_option(__version__, prog_name="hkgraph")
def main():
    """hkgraph: the knowledge graph of Hong Kong's innovation and technology landscape."""


@main.command()
@data_option
def validate(data):
    """Check the graph against the SHACL shapes (exit 0 conforms, 1 violations, 2 load error)."""
    from hkgraph.validate import validate_store

    report = validate_store(open_store(data))
    click.echo(report.text())
    sys.exit(0 if report.conforms else 1)


@main.command()
@click.option(
    "--format", "fmt", type=click.Choice(sorted(EXPORT_FORMATS)), default="nquads", show_default=True
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default stdout)."
)
@click.option(
    "--base-uri", default=DEFAULT_BASE, show_default=True, help="Base IRI to mint the graph's IRIs under."
)
@click.option(
    "--dumps",
    "dumps_dir",
    type=click.Path(file_okay=False, writable=True),
    help="Instead: write every dump (N-Quads, TriG, Turtle, JSON-LD; gzip), SHA256SUMS and manifest.json here.",
)
@data_option
def export(fmt, output, base_uri, dumps_dir, data):
    """Write the whole dataset, ontology and shapes included."""
    if dumps_dir:
        from hkgraph.dumps import build_dumps, checksums_text

        if output:
            raise click.UsageError("give either --dumps DIR or -o FILE, not both")
        click.echo(checksums_text(build_dumps(open_store(data, base_uri), dumps_dir)), nl=False)
        return
    payload = open_store(data, base_uri).serialize(EXPORT_FORMATS[fmt])
    if output:
        Path(output).write_bytes(payload)
    else:
        sys.stdout.buffer.write(payload)


@main.command()
@click.argument("query")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "tsv", "json"]), default="table", show_default=True
)
@data_option
def query(query, fmt, data):
    """Run QUERY: a file, a name from queries/ (e.g. rd-spending), or - for stdin."""
    from hkgraph.queries import load_query_text, render_select

    text = load_query_text(query)
    click.echo(render_select(open_store(data).query(text), fmt), nl=False)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@data_option
def stats(as_json, data):
    """Print counts: triples, entities by class, observations, sources."""
    import json

    from hkgraph.stats import graph_stats, stats_text

    result = graph_stats(open_store(data))
    click.echo(json.dumps(result, indent=2) if as_json else stats_text(result), nl=not as_json)


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--check", is_flag=True, help="Only list files that are not in canonical form (exit 1 if any).")
def fmt(files, check):
    """Rewrite Turtle files in canonical form (default: every file in data/)."""
    from hkgraph.turtle import fmt as format_files

    paths = [Path(f) for f in files] or sorted((PROJECT_ROOT / "data").glob("*.ttl"))
    changed = format_files(paths, check=check)
    for path in changed:
        click.echo(f"{'would reformat' if check else 'reformatted'} {path}")
    sys.exit(1 if check and changed else 0)


def fair_use_options(command):
    """The options of the per-client limits (hkgraph.ratelimit), named as their Config fields."""
    from hkgraph.config import Config

    options = [
        click.option("--max-concurrent-per-client", default=Config.max_concurrent_per_client, show_default=True,
                     type=click.IntRange(0, 16), help="Requests a client may have running at once (0: no limit)."),
        click.option("--query-seconds-per-minute", default=Config.query_seconds_per_minute, show_default=True,
                     type=click.FloatRange(min=0), help="Query time a client may use per minute (0: no limit)."),
        click.option("--errors-per-minute", default=Config.errors_per_minute, show_default=True,
                     type=click.IntRange(min=0), help="Failing /sparql requests a client may make per minute (0: no limit)."),
        click.option("--trusted-proxy", "trusted_proxies", multiple=True,
                     help="Address or network of a reverse proxy whose X-Forwarded-For names the client (repeatable)."),
        click.option("--limit-loopback", is_flag=True, help="Limit loopback clients too (they are exempt by default)."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes  [default: 2 per CPU + 1]")
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Query time limit in seconds (also caps a request's timeout=).",
)
@click.option(
    "--base-uri", default=DEFAULT_BASE, show_default=True, help="Base IRI to mint the graph's IRIs under."
)
@click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False),
    help="Serve an on-disk store made by `hkgraph build` (each worker opens it read-only).",
)
@click.option("--endpoint", help="Serve the dataset `hkgraph load` put behind this SPARQL 1.1 endpoint.")
@click.option(
    "--cache-mb",
    default=64,
    show_default=True,
    type=click.IntRange(min=0),
    help="Memory for repeated queries' results, per worker and cache (two: whole GET answers, results).",
)
@data_option
@no_validate_option
@fair_use_options
def serve(
    host, port, workers, timeout, base_uri, store_dir, endpoint, cache_mb, data, no_validate, **fair_use
):
    """Serve the SPARQL endpoint and linked-data pages with gunicorn."""
    from hkgraph.config import Config
    from hkgraph.server import default_workers
    from hkgraph.server import serve as run_server

    if sum(map(bool, (store_dir, endpoint, data))) > 1:
        raise click.UsageError("give one of --store, --endpoint or --data")
    config = Config(
        base_uri=base_uri,
        data=list(data),
        validate_data=not no_validate,
        store_dir=store_dir or "",
        endpoint=endpoint or "",
        query_timeout=timeout,
        result_cache_bytes=cache_mb * 1024 * 1024,
        access_log=True,
        **{**fair_use, "trusted_proxies": list(fair_use["trusted_proxies"])},
    )
    run_server(config, host=host, port=port, workers=workers or default_workers())


@main.command()
@click.option(
    "--store",
    "store_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to build the store in (replaced once the new one is complete).",
)
@click.option(
    "--base-uri", default=DEFAULT_BASE, show_default=True, help="Base IRI to mint the graph's IRIs under."
)
@data_option
@no_validate_option
def build(store_dir, base_uri, data, no_validate):
    """Bulk-load the dataset (or --data files) into an on-disk store for `serve --store`."""
    import time

    started = time.perf_counter()
    if data and not no_validate:  # checked in memory first, so that a store is never built from bad data
        from hkgraph.validate import require_valid

        require_valid(Store.load(file_sources(data), base=base_uri))
    store = Store.build(store_dir, file_sources(data) if data else None, base=base_uri)
    SearchIndex.build(store, Path(store_dir) / INDEX_FILE)  # names for search, built once for all workers
    click.echo(
        f"built {store_dir}: {len(store)} triples in {len(store.graphs())} graphs "
        f"(version {store.version}) in {time.perf_counter() - started:.1f} s"
    )


@main.command()
@click.option("--endpoint", required=True, help="SPARQL 1.1 query endpoint of the triplestore.")
@click.option("--graph-store", help="Graph Store Protocol URL to write to  [default: the engine's usual one]")
@click.option("--update", "update_url", help="Write with SPARQL Update to this URL instead.")
@click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False),
    help="Push an on-disk store made by `hkgraph build` instead of loading files.",
)
@click.option(
    "--base-uri", default=DEFAULT_BASE, show_default=True, help="Base IRI to mint the graph's IRIs under."
)
@data_option
def load(endpoint, graph_store, update_url, store_dir, base_uri, data):
    """Push the dataset into a triplestore graph by graph and verify the counts. Credentials come from
    HKGRAPH_ENDPOINT_USER and HKGRAPH_ENDPOINT_PASSWORD."""
    import os

    from hkgraph.load import load_endpoint

    if store_dir and data:
        raise click.UsageError("give either --store or --data, not both")
    source = Store.open(store_dir) if store_dir else open_store(data, base_uri)
    report = load_endpoint(
        source,
        endpoint,
        graph_store=graph_store,
        update=update_url,
        user=os.environ.get("HKGRAPH_ENDPOINT_USER"),
        password=os.environ.get("HKGRAPH_ENDPOINT_PASSWORD"),
    )
    click.echo(report.text(), nl=False)


@main.command()
@click.argument("entity", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(
        ["svg", "png", "pdf", "dot", "mermaid", "mmd", "graphml", "json"], case_sensitive=False
    ),
    help="Output format  [default: from -o's suffix, else svg]",
)
@click.option(
    "--relations",
    default="hierarchy,oversight,support,manages,administers,funding",
    show_default=True,
    help="Comma-separated relations to draw.",
)
@click.option("--depth", type=click.IntRange(min=1), help="Steps from ENTITY to go  [default: all]")
@click.option(
    "--direction",
    type=click.Choice(["down", "up", "both"]),
    help="What to draw around ENTITY: below it, above it or both  [default: both; down for the landscape]",
)
@click.option("--lang", default="en", show_default=True, help="Label language: en, zh-Hans or zh-Hant.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default stdout)."
)
@data_option
def diagram(entity, fmt, relations, depth, direction, lang, output, data):
    """Draw the organisation structure around ENTITY (IRI, slug, abbreviation such as ITC, or name such as
    创新科技署); without ENTITY, the whole landscape from the government down."""
    from hkgraph.diagram import draw, format_for

    fmt = format_for(fmt, output)
    if fmt in ("png", "pdf") and not output and sys.stdout.isatty():
        raise click.UsageError(f"{fmt} is binary: give -o FILE or redirect the output")
    payload = draw(
        open_store(data), entity, fmt=fmt, relations=relations, depth=depth, direction=direction, lang=lang
    )
    if output:
        Path(output).write_bytes(payload)
    else:
        sys.stdout.buffer.write(payload)
