"""gunicorn settings for ``connector web --gunicorn-config deploy/gunicorn.conf.py``.

Order, each overriding the one before: the connector's settings (``server.host``/``server.port``,
``cluster.web_workers``/``cluster.web_threads``), this file, ``GUNICORN_CMD_ARGS`` (e.g.
``GUNICORN_CMD_ARGS="--workers 8"``), and the options given to ``connector web``. Every gunicorn setting
works here (https://docs.gunicorn.org/en/stable/settings.html); the app itself is always the connector's,
built in each worker after the fork.
"""

# The address comes from server.host/server.port (CONNECTOR_SERVER__HOST=0.0.0.0 in a container), the processes
# and threads from cluster.web_workers/cluster.web_threads; set bind/workers/threads here to override them.
worker_class = "gthread"
# Requests (webhook deliveries, admin API) are short; a worker silent for this long is restarted.
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (jittered so they do not all restart at once).
max_requests = 10000
max_requests_jitter = 1000
# Access log to stdout (journald / docker logs); errors go to stderr.
accesslog = "-"
errorlog = "-"
# X-Forwarded-* headers are judged by the connector itself (server.trusted_proxies), not by gunicorn.
