"""Publishing WhatsApp Flows through the Graph API (platform-changes-2026.md §6; Meta "Flows API").

A published flow cannot change. So each version of a form is its own flow, named ``<name>_<hash of its JSON>``:
a changed form (another language, new fields) is a new flow, and an unchanged one is found again by name after a
restart (``GET /<WABA_ID>/flows``) instead of being created twice. Publishing is: create (``POST /<WABA_ID>/flows``),
upload ``flow.json`` (``POST /<FLOW_ID>/assets``, multipart), publish (``POST /<FLOW_ID>/publish``). A flow left in
DRAFT by a crash between those steps is completed on the next call.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from connector_meta.graph import GraphClient
from urllib3 import encode_multipart_formdata

from connector.errors import PlatformError

_lock = threading.Lock()
#: (Graph API URL, WABA id, flow name) -> flow id, for flows this process saw published.
_published: dict[tuple[str, str, str], str] = {}


def versioned_name(name: str, flow_json: Mapping[str, Any]) -> str:
    """``name`` with the hash of ``flow_json``: one flow per version of a form."""
    digest = hashlib.sha256(json.dumps(flow_json, sort_keys=True).encode()).hexdigest()[:10]
    return f"{name}_{digest}"


def publish(
    graph: GraphClient, waba_id: str, name: str, flow_json: Mapping[str, Any], categories: Sequence[str]
) -> str:
    """The id of the published flow ``name`` with ``flow_json`` (created and published when missing)."""
    if not waba_id:
        raise PlatformError("WhatsApp Flows need the WhatsApp Business Account ID in the connection settings")
    full = versioned_name(name, flow_json)
    key = (graph.base_url, waba_id, full)
    with _lock:
        known = _published.get(key)
    if known is not None:
        return known
    existing = next((f for f in graph.iter_pages(f"{waba_id}/flows") if f.get("name") == full), None)
    if existing is None:
        created = graph.post_json(f"{waba_id}/flows", json={"name": full, "categories": list(categories)})
        flow_id, status = str(created["id"]), "DRAFT"
    else:
        flow_id, status = str(existing["id"]), str(existing.get("status") or "DRAFT")
    if status == "DRAFT":
        body, content_type = encode_multipart_formdata(
            {
                "name": "flow.json",
                "asset_type": "FLOW_JSON",
                "file": ("flow.json", json.dumps(flow_json).encode(), "application/json"),
            }
        )
        answer = graph.post_json(f"{flow_id}/assets", data=body, headers={"Content-Type": content_type})
        problems = answer.get("validation_errors") or []
        if problems:
            raise PlatformError(f"WhatsApp refused the flow {full}: {problems}")
        graph.post_json(f"{flow_id}/publish")
    elif status != "PUBLISHED":
        raise PlatformError(f"The WhatsApp flow {full} is {status}")
    with _lock:
        _published[key] = flow_id
    return flow_id
