"""The Meta Graph API sandbox: commerce catalog, WhatsApp Cloud API and Messenger/Instagram Send API."""

from connector_meta.sandbox.app import GraphSandbox

__all__ = ["GraphSandbox"]
