"""The application factory. ``gunicorn 'connector.web.app:create_app()'`` serves it; it never starts a
scheduler or workers (``connector serve`` does, once per deployment)."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from sqlalchemy import text

from connector.config import Config, load_config
from connector.runtime import Runtime
from connector.web import converters, headers, proxy
from connector.web.context import runtime as current_runtime
from connector.web.json_provider import SafeJSONProvider
from connector.webhooks import wsgi as webhooks_wsgi


def create_app(config: Config | None = None, *, runtime: Runtime | None = None, **overrides: Any) -> Flask:
    """Build the Flask app around a runtime (built from ``config``, or ``$CONNECTOR_CONFIG``, if not given)."""
    if runtime is None:
        runtime = Runtime(config or load_config(overrides=overrides or None))
    app = Flask("connector")
    app.config["SECRET_KEY"] = runtime.config.security.secret_key or None
    app.config["JSON_SORT_KEYS"] = False
    app.extensions["connector"] = runtime
    # Before any route is added: ids in URLs bounded to 64 bits, request JSON parsed with the depth guard.
    converters.install(app)
    app.json = SafeJSONProvider(app)
    headers.install(app, demo=runtime.config.server.demo)
    # Webhook deliveries are answered before Flask (the trusted proxy fix, installed next, still comes first).
    webhooks_wsgi.install(app, runtime, demo=runtime.config.server.demo)
    proxy.install(app, runtime.config.server.trusted_proxies, runtime.config.server.proxy_hops)

    from connector.api import init_api
    from connector.web.limits import install as install_limits
    from connector.webhooks.meta_app import bp as meta_app_webhooks_bp
    from connector.webhooks.routes import bp as webhooks_bp

    install_limits(app, runtime.config.server)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(meta_app_webhooks_bp)
    init_api(app)

    @app.get("/healthz")
    def healthz():
        rt = current_runtime()
        try:
            with rt.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # report, don't crash: this is what load balancers poll
            return jsonify({"status": "error", "database": str(exc)}), 503
        return jsonify({"status": "ok", "queue": rt.queue.counts()})

    @app.get("/readyz")
    def readyz():
        """Ready to do work: schema at the Alembic head, a worker and a scheduler alive. 503 names what fails."""
        from connector.liveness import readiness

        checks = readiness(current_runtime())
        failing = [check.name for check in checks if not check.ok]
        body = {
            "status": "ok" if not failing else "not ready",
            "failing": failing,
            "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in checks},
        }
        return jsonify(body), 503 if failing else 200

    for blueprint in runtime.plugins.register_blueprints(app):
        app.register_blueprint(blueprint)
    return app
