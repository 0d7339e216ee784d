"""Meta's Conversions API for business messaging, as the sandbox plays it (platform-changes-2026.md §10).

* ``POST /<WABA_ID>/dataset`` ``{"dataset_name"}`` -> ``{"id"}`` (the existing one when asked again);
  ``GET /<WABA_ID>/dataset`` -> ``{"data": [{"id", "name"}]}``.
* ``POST /<DATASET_ID>/events?access_token=`` ``{"data": [...], "partner_agent"}`` ->
  ``{"events_received", "messages": [], "fbtrace_id"}``. Each event must be ``Purchase`` or ``LeadSubmitted``
  (anything else: ``error_subcode 2804066`` "Messaging Event Invalid Event Type", REPORTED), ``action_source``
  ``business_messaging``, ``messaging_channel`` ``whatsapp``, ``user_data`` naming the dataset's WhatsApp Business
  Account and a ``ctwa_clid``, an ``event_time`` (UNIX seconds, not in the future, within the 7-day attribution
  window), and for a ``Purchase`` ``custom_data`` with a 3-letter ``currency`` and a numeric ``value``.
  A refusal refuses the whole request, as the Conversions API does. An ``event_id`` is kept as sent but not
  de-duplicated on: whether Meta de-duplicates business-messaging events on it is NOT FOUND in the reference, so a
  repeated event shows as two (the connector's ``conversions_api_event_id`` is off by default for that reason).
* Control: ``GET /_sandbox/conversions`` lists the events received.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from connector_meta.sandbox.errors import GraphError, invalid_parameter, unknown_object
from connector_meta.sandbox.graph import check_token, check_version, json_body
from connector_meta.sandbox.state import GraphState
from flask import Blueprint, Response, jsonify, request

#: Event names Meta accepts from business messaging (REPORTED: Purchase and LeadSubmitted only).
EVENT_NAMES = ("Purchase", "LeadSubmitted")
INVALID_EVENT_TYPE = 2804066
ATTRIBUTION_SECONDS = 7 * 86400
MAX_EVENTS = 1000
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


@dataclass
class Conversions:
    """Datasets by WhatsApp Business Account and the events received."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    datasets: dict[str, str] = field(default_factory=dict)  # dataset id -> WABA id
    names: dict[str, str] = field(default_factory=dict)  # dataset id -> name
    events: list[dict[str, Any]] = field(default_factory=list)


def _refuse(message: str, subcode: int | None = None) -> GraphError:
    return GraphError(100, message, subcode=subcode, details=message)


def check_event(event: Any, waba_id: str, now: float, index: int) -> None:
    """Raise the Conversions API's error for an event Meta refuses."""
    where = f"data[{index}]"
    if not isinstance(event, dict):
        raise invalid_parameter(f"{where} must be an object")
    name = event.get("event_name")
    if name not in EVENT_NAMES:
        raise _refuse(f"Messaging Event Invalid Event Type: {name!r} ({where}.event_name)", INVALID_EVENT_TYPE)
    if event.get("action_source") != "business_messaging":
        raise _refuse(f"{where}.action_source must be business_messaging")
    if event.get("messaging_channel") != "whatsapp":
        raise _refuse(f"{where}.messaging_channel must be whatsapp")
    when = event.get("event_time")
    if not isinstance(when, int) or isinstance(when, bool):
        raise _refuse(f"{where}.event_time must be an integer UNIX timestamp in seconds")
    if when > now + 60:
        raise _refuse(f"{where}.event_time is in the future")
    if when < now - ATTRIBUTION_SECONDS:
        raise _refuse(f"{where}.event_time is older than the 7-day attribution window")
    user = event.get("user_data")
    if not isinstance(user, dict):
        raise _refuse(f"{where}.user_data is required")
    if str(user.get("whatsapp_business_account_id") or "") != waba_id:
        raise _refuse(f"{where}.user_data.whatsapp_business_account_id does not own this dataset")
    if not isinstance(user.get("ctwa_clid"), str) or not user["ctwa_clid"]:
        raise _refuse(f"{where}.user_data.ctwa_clid is required")
    if name == "Purchase":
        custom = event.get("custom_data")
        if not isinstance(custom, dict):
            raise _refuse(f"{where}.custom_data with currency and value is required for Purchase")
        if not isinstance(custom.get("currency"), str) or not _CURRENCY.match(custom["currency"]):
            raise _refuse(f"{where}.custom_data.currency must be a 3-letter ISO 4217 code")
        value = custom.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise _refuse(f"{where}.custom_data.value must be a non-negative number")


def conversions_blueprint(state: GraphState) -> Blueprint:
    """The dataset and events routes, and their control endpoint."""
    bp = Blueprint("graph_conversions", __name__)
    store = Conversions()

    @bp.errorhandler(GraphError)
    def _graph_error(error: GraphError) -> Response:
        return error.response(state.options.throttle_http_status)

    def _check(version: str) -> None:
        check_token(state)
        check_version(state, version)

    @bp.route("/<version:version>/<node>/dataset", methods=["GET", "POST"])
    def dataset(version: str, node: str) -> Response:
        _check(version)
        if node != state.business.waba_id:
            raise unknown_object(node, request.method.lower())
        with store.lock:
            existing = [d for d, waba in store.datasets.items() if waba == node]
            if request.method == "GET":
                return jsonify({"data": [{"id": d, "name": store.names[d]} for d in existing]})
            if existing:
                return jsonify({"id": existing[0]})
            body = json_body()
            name = body.get("dataset_name") if isinstance(body, dict) else None
            dataset_id = str(10**15 + len(store.datasets) + 1)
            store.datasets[dataset_id] = node
            store.names[dataset_id] = str(name or "WhatsApp dataset")
            return jsonify({"id": dataset_id})

    @bp.post("/<version:version>/<node>/events")
    def events(version: str, node: str) -> Response:
        _check(version)
        with store.lock:
            waba_id = store.datasets.get(node)
        if waba_id is None:
            raise unknown_object(node, "post")
        body = json_body()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not data:
            raise invalid_parameter("The parameter data is required and must be a non-empty array")
        if len(data) > MAX_EVENTS:
            raise invalid_parameter(f"At most {MAX_EVENTS} events per request")
        now = state.now()
        for index, event in enumerate(data):
            check_event(event, waba_id, now, index)
        with store.lock:
            for event in data:
                store.events.append({"dataset_id": node, "partner_agent": body.get("partner_agent"), **event})
        return jsonify({"events_received": len(data), "messages": [], "fbtrace_id": "A" + secrets.token_urlsafe(15)})

    @bp.get("/_sandbox/conversions")
    def received() -> Response:
        with store.lock:
            return jsonify({"events": list(store.events), "datasets": dict(store.datasets)})

    return bp
