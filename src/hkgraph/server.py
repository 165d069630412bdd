"""Run the app under gunicorn (never Flask's development server)."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from hkgraph.app import create_app
from hkgraph.config import Config


class GunicornApp(BaseApplication):
    """A gunicorn application serving create_app(config), loaded once before the workers fork."""

    def __init__(self, config: Config, options: dict):
        self.hk_config = config
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return create_app(self.hk_config)


def serve(host: str, port: int, workers: int, timeout: float, base_uri: str, data: list[str]) -> None:
    """Serve the graph on host:port with gunicorn sync workers."""
    config = Config(base_uri=base_uri, data=data, query_timeout=timeout)
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "sync",
        "timeout": int(timeout) + 20,
        "preload_app": True,
        "accesslog": "-",
    }
    GunicornApp(config, options).run()
