"""Fixtures of the campaign tests: the notify tests' live stack (WooCommerce sandbox -> connector -> Graph sandbox)."""

from __future__ import annotations

from tests.notify.conftest import api_client, notify_stack

__all__ = ["api_client", "notify_stack"]
