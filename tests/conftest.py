"""Shared fixtures: one loaded store per session, the app, its test client and a CLI runner."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hkgraph.app import create_app
from hkgraph.config import Config
from hkgraph.store import Store


@pytest.fixture(scope="session")
def store() -> Store:
    """The built-in graph, loaded once for the whole run (read-only, so sharing is safe)."""
    return Store.load()


@pytest.fixture()
def config() -> Config:
    return Config(testing=True)


@pytest.fixture()
def app(config, store):
    return create_app(config, store=store if config.base_uri == store.base and not config.data else None)


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()
