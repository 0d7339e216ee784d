"""Hook implementations of the shared Meta plugin."""

from __future__ import annotations

from collections.abc import Sequence

from connector import hookimpl
from connector.sandbox.base import Sandbox


@hookimpl
def connector_register_sandboxes() -> Sequence[type[Sandbox]]:
    """The Graph API sandbox (catalog, WhatsApp, Messenger/Instagram)."""
    from connector_meta.sandbox import GraphSandbox

    return [GraphSandbox]
