"""A Flask hello-world, the reference ``bench ingest`` measures the connector's webhook ingest against: served by
the same server with the same settings in the same run (``gunicorn bench._hello:app``, or waitress in-process)."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.post("/")
def hello() -> str:
    """Hello, World! (a POST, so the load generator sends it the same requests, bodies included)."""
    return "Hello, World!"
