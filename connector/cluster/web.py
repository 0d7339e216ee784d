"""The WSGI app of ``connector web``: the normal app on a distributed runtime, and never a scheduler.

gunicorn can also load it directly: ``gunicorn -k gthread 'connector.cluster.web:create_cluster_app()'``
(the config comes from ``$CONNECTOR_CONFIG``).
"""

from __future__ import annotations

from typing import Any

from connector.config import load_config


def create_cluster_app(config_path: str | None = None) -> Any:
    """Build the Flask app for one gunicorn worker process (after the fork: its own engine and pool)."""
    from connector.cluster.processes import activate
    from connector.runtime import Runtime
    from connector.web.app import create_app

    runtime = activate(Runtime(load_config(config_path)))
    return create_app(runtime=runtime)
