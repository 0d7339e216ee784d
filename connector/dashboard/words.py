"""The words the dashboard shows for codes stored in the database: states, message kinds, jobs, sources.

The database keeps stable English codes (``delivered``, ``order_shipped``, ``sync.delta.3``); the pages show
them through these tables in the viewer's language (``{{ row.status | state }}``, ``{{ row.kind | kind }}``,
``{{ job | job_description }}``). A code not listed shows as it is, so a plugin's own state still reads.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint

from connector.dashboard.web import _
from connector.i18n.catalogs import N_

#: States of messages, tasks, sync runs, catalog items, webhooks, subscriptions and consent.
STATES: dict[str, str] = {
    "pending": N_("pending"),
    "queued": N_("queued"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "delivered": N_("delivered"),
    "read": N_("read"),
    "failed": N_("failed"),
    "skipped": N_("skipped"),
    "deferred": N_("deferred"),
    "unknown": N_("unknown"),
    "running": N_("running"),
    "done": N_("done"),
    "succeeded": N_("succeeded"),
    "succeeded_with_errors": N_("succeeded with errors"),
    "interrupted": N_("interrupted"),
    "synced": N_("synced"),
    "error": N_("error"),
    "invalid": N_("invalid"),
    "deleted": N_("deleted"),
    "received": N_("received"),
    "processed": N_("processed"),
    "active": N_("active"),
    "cancelled": N_("cancelled"),
    "notified": N_("notified"),
    "waiting": N_("waiting"),
    "reminded": N_("reminded"),
    "recovered": N_("recovered"),
    "paid": N_("paid"),
    "expired": N_("expired"),
    "creating": N_("creating"),
    "created": N_("created"),
    "delta": N_("incremental"),
    "full": N_("full"),
    "utility": N_("utility"),
    "marketing": N_("marketing"),
    "service": N_("service"),
    "authentication": N_("authentication"),
}

#: Kinds of outbound messages (notifications and chat answers).
KINDS: dict[str, str] = {
    "order_confirmed": N_("Order confirmed"),
    "order_shipped": N_("Order shipped"),
    "order_out_for_delivery": N_("Out for delivery"),
    "order_delivered": N_("Order delivered"),
    "order_delayed": N_("Delivery delayed"),
    "order_delivery_failed": N_("Delivery failed"),
    "back_in_stock": N_("Back in stock"),
    "consent_prompt": N_("Consent request"),
    "consent_confirmed": N_("Consent confirmed"),
    "consent_started": N_("Messages restarted (START)"),
    "consent_stopped": N_("Messages stopped (STOP)"),
    "consent_unknown": N_("Unknown confirmation code"),
    "chat": N_("Chat answer"),
    "chat_reply": N_("Chat answer"),
    "test": N_("Test message"),
    "marketing": N_("Marketing message"),
}

#: What each scheduled job does, by id (``{shop}`` is the shop's name); plugins' jobs keep their own description.
JOBS: dict[str, str] = {
    "sync.delta": N_("Incremental catalog sync of {shop}"),
    "sync.full": N_("Daily full reconcile of {shop}"),
    "housekeeping.prune_webhooks": N_("Delete old webhook deliveries"),
    "housekeeping.prune_tasks": N_("Delete finished tasks"),
    "housekeeping.recover_messages": N_("Retry messages a crash left unsent"),
    "notify.reconcile_orders": N_("Catch order updates a missed webhook did not bring"),
    "notify.expire_consent_requests": N_("Expire unanswered consent requests"),
    "notify.refresh_messaging_limits": N_("Read WhatsApp's messaging limits"),
    "dashboard.prune_login_throttle": N_("Forget old failed logins"),
    "cluster.tick": N_("Cluster liveness: scheduler, queue, worker"),
}

_PER_SHOP = re.compile(r"^(sync\.(?:delta|full))\.\d+$")
_OF_SHOP = re.compile(r" of (?P<shop>.+)$")


def state(code: Any) -> str:
    """A state code in the viewer's language."""
    text = str(code or "")
    return _(STATES[text]) if text in STATES else text


def kind(code: Any) -> str:
    """A message kind in the viewer's language."""
    text = str(code or "")
    return _(KINDS[text]) if text in KINDS else text


def job_description(job: Any) -> str:
    """What the job ``job`` does, in the viewer's language."""
    job_id = str(getattr(job, "id", ""))
    description = str(getattr(job, "description", "") or "")
    per_shop = _PER_SHOP.match(job_id)
    if per_shop:
        named = _OF_SHOP.search(description)
        return _(JOBS[per_shop.group(1)], shop=named.group("shop") if named else "")
    return _(JOBS[job_id]) if job_id in JOBS else description


def register(bp: Blueprint) -> None:
    """Make the filters available to every template of the app."""
    bp.add_app_template_filter(state, "state")
    bp.add_app_template_filter(kind, "kind")
    bp.add_app_template_filter(job_description, "job_description")
