"""Shared fixtures. Platform plugins keep their own fixtures in tests/plugins/<name>/conftest.py."""

from __future__ import annotations

import pytest

import connector.http


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep retry backoff real but short: the behaviour is the same, the suite just doesn't wait seconds."""
    monkeypatch.setattr(connector.http, "BACKOFF_SCALE", 0.01)
