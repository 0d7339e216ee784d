"""The gunicorn application ``connector web`` runs, configured the way ``gunicorn`` itself is.

Settings apply in gunicorn's own order, each overriding the one before: the connector's settings
(``server.host``/``server.port``, ``cluster.web_workers``/``cluster.web_threads``, ``gthread``), then a
gunicorn configuration file (``connector web --gunicorn-config``, or ``--config`` inside
``GUNICORN_CMD_ARGS``; e.g. ``deploy/gunicorn.conf.py``), then ``GUNICORN_CMD_ARGS``, then the options
given to ``connector web`` itself. The app is built per worker process after the fork (never preloaded).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import Application

if TYPE_CHECKING:
    from connector.config import Config


def connector_defaults(config: Config) -> dict[str, Any]:
    """gunicorn settings from the connector's own: bind address, processes, threads, and no preloading."""
    return {
        "bind": f"{config.server.host}:{config.server.port}",
        "workers": config.cluster.web_workers,
        "threads": config.cluster.web_threads,
        "worker_class": "gthread",
        "preload_app": False,  # each worker builds its app (engine, pool) after the fork
        "accesslog": None,
    }


class ConnectorGunicorn(Application):
    """gunicorn serving ``create_cluster_app(config_path)``; see the module docstring for the settings order."""

    def __init__(
        self,
        config_path: str | None,
        *,
        defaults: Mapping[str, Any],
        overrides: Mapping[str, Any] | None = None,
        config_file: str | None = None,
    ) -> None:
        self.config_path = config_path
        self.defaults = dict(defaults)
        self.overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
        self.config_file = config_file
        super().__init__()  # loads the configuration (do_load_config) without starting anything

    def init(self, parser: Any, opts: Any, args: Any) -> None:
        """Required by gunicorn's ``Application``; the command line is ``connector web``'s, not gunicorn's."""
        return None

    def load_config(self) -> None:
        """Apply the connector's settings, the config file, ``GUNICORN_CMD_ARGS`` and the explicit options."""
        for key, value in self.defaults.items():
            self.cfg.set(key, value)
        env_args = self.cfg.parser().parse_args(self.cfg.get_cmd_args_from_env())
        config_file = self.config_file or env_args.config
        if config_file:
            self.load_config_from_file(config_file)
        for key, value in vars(env_args).items():
            if value is not None and key not in ("args", "config"):
                self.cfg.set(key.lower(), value)
        for key, value in self.overrides.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """Build the Flask app in the worker process."""
        from connector.cluster.web import create_cluster_app

        return create_cluster_app(self.config_path)
