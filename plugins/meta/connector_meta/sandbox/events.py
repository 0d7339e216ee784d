"""Webhooks from the sandbox to the connector: subscriptions (with Meta's verification handshake),
signing, WhatsApp status flows and inbound customer messages, in the envelopes Meta sends."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import threading
from collections import deque
from typing import Any

import requests
from connector_meta.sandbox import signals
from connector_meta.sandbox.pricing import status_pricing
from connector_meta.sandbox.state import GraphState, Template

from connector.sandbox.webhooks import WebhookSender

OBJECTS = ("whatsapp_business_account", "page", "instagram")
STATUS_RANK = {"sent": 0, "delivered": 1, "read": 2}
ERROR_TITLES = {
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    130472: "User's number is part of an experiment",
    131000: "Something went wrong",
}


class VerificationFailed(Exception):
    """The callback URL did not echo ``hub.challenge``."""


def sign(body: bytes, app_secret: str) -> dict[str, str]:
    """Meta's signature headers for a webhook body (SHA-256, plus the legacy SHA-1 one)."""
    key = app_secret.encode()
    return {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
    }


def encode(payload: dict[str, Any]) -> bytes:
    # Meta serialises with escaped unicode; receivers must verify the raw bytes.
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()


class WebhookHub:
    """Holds subscriptions and sends signed webhooks through a :class:`WebhookSender`.

    Statuses are queued by the request thread (cheap) and sent by a pump thread, batched up to
    ``statuses_per_webhook`` per envelope.
    """

    def __init__(self, state: GraphState):
        self.state = state
        self.sender = WebhookSender(concurrency=state.options.webhook_concurrency)
        self.subscriptions: dict[str, str] = {}
        self.sent = 0
        self._pending: deque[tuple[str, dict[str, Any]]] = deque()
        self._wake = threading.Event()
        self._stopped = False
        self._rng = random.Random(state.options.seed)
        self._pump = threading.Thread(target=self._run, name="graph-sandbox-statuses", daemon=True)
        self._pump.start()

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, url: str, objects: list[str], verify_token: str | None) -> None:
        """Subscribe ``url`` to ``objects``; with a ``verify_token`` run Meta's GET handshake first."""
        if verify_token is not None:
            challenge = str(secrets.randbelow(10**10))
            params = {"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": challenge}
            try:
                response = requests.get(url, params=params, timeout=10)
            except requests.RequestException as exc:
                raise VerificationFailed(f"The URL couldn't be validated: {exc}") from exc
            if response.status_code != 200 or response.text.strip() != challenge:
                raise VerificationFailed(
                    "The URL couldn't be validated. Response does not match challenge, "
                    f"expected value={challenge}, received={response.text[:100]!r} (HTTP {response.status_code})"
                )
        with self.state.lock:
            for name in objects:
                self.subscriptions[name] = url

    # ------------------------------------------------------------------ delivery

    def deliver(self, object_name: str, payload: dict[str, Any]) -> bool:
        """Sign and queue one webhook; ``False`` when nobody subscribed to ``object_name``."""
        url = self.subscriptions.get(object_name)
        if url is None:
            return False
        body = encode(payload)
        # Meta: WhatsApp webhooks are at-least-once and unordered (sent concurrently); Messenger and Instagram message
        # events "are always sent in order".
        ordered = object_name != "whatsapp_business_account"
        self.sender.send(url, body, sign(body, self.state.business.app_secret), ordered=ordered)
        self.sent += 1
        return True

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued status was handed to the sender and the sender is idle."""
        import time

        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.sender.wait_idle(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self._stopped = True
        self._wake.set()
        self.sender.close()

    # ------------------------------------------------------------------ WhatsApp

    def whatsapp_envelope(self, phone_number_id: str, value: dict[str, Any]) -> dict[str, Any]:
        display = signals.portfolio_numbers(self.state).get(phone_number_id, self.state.business.display_phone_number)
        metadata = {"display_phone_number": display, "phone_number_id": phone_number_id}
        return self.whatsapp_change("messages", {"messaging_product": "whatsapp", "metadata": metadata, **value})

    def whatsapp_change(self, field: str, value: dict[str, Any]) -> dict[str, Any]:
        """A ``whatsapp_business_account`` webhook with one change of ``field``."""
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.state.business.waba_id, "changes": [{"field": field, "value": value}]}],
        }

    def queue_statuses(
        self,
        phone_number_id: str,
        wamid: str,
        wa_id: str,
        template: Template | None,
        window_open: bool,
        callback_data: str | None = None,
        *,
        pricing: dict[str, Any] | None = None,
        conversation: dict[str, Any] | None = None,
        failure: tuple[int, str | None] | None = None,
    ) -> None:
        """Plan the status flow of one accepted message (sent -> delivered -> read, or a failure); every status
        echoes the send's ``biz_opaque_callback_data``, as WhatsApp does, and carries ``pricing`` (and, for a free
        entry point only, ``conversation``: v24.0+ omits it otherwise; see :mod:`connector_meta.sandbox.pricing`).
        ``failure``: the code (and details) the message fails with after it was accepted
        (:func:`connector_meta.sandbox.signals.async_failure`)."""
        options = self.state.options
        now = int(self.state.now())
        if pricing is None:
            with self.state.lock:
                pricing, conversation = status_pricing(self.state, phone_number_id, wa_id, template, window_open)
        conversation_id = hashlib.sha1(str((conversation or {}).get("id", "")).encode()).hexdigest()
        fails = (
            failure is not None
            or wa_id in options.failing_recipients
            or (options.status_fail_ratio > 0 and self._rng.random() < options.status_fail_ratio)
        )
        flow = ["sent", "failed"] if fails else list(options.status_flow)
        if options.status_out_of_order and len(flow) > 1:
            shuffled = flow[:]
            while shuffled == flow:
                self._rng.shuffle(shuffled)
            flow = shuffled
        user_id = self.state.user_id_for(wa_id)
        for name in flow:
            status: dict[str, Any] = {"id": wamid, "status": name, "timestamp": str(now), "recipient_id": wa_id}
            if name != "failed":
                # 2026: statuses name the business-scoped user id too, except failed ones sent to a phone number.
                status["recipient_user_id"] = user_id
            if callback_data is not None:
                status["biz_opaque_callback_data"] = callback_data
            if name == "failed" and failure is not None:
                status["errors"] = [signals.failure(failure[0], failure[1])]
            elif name == "failed":
                code = options.status_fail_code
                title = ERROR_TITLES.get(code, "Message failed to send")
                status["errors"] = [
                    {
                        "code": code,
                        "title": title,
                        "message": title,
                        "error_data": {"details": f"{title} (sandbox: configured failure)"},
                        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                    }
                ]
            else:
                if conversation is not None:
                    shown: dict[str, Any] = {"id": conversation_id, "origin": dict(conversation["origin"])}
                    if name == "sent":
                        shown["expiration_timestamp"] = str(now + 72 * 3600)
                    status["conversation"] = shown
                status["pricing"] = dict(pricing)
            self._pending.append((phone_number_id, status))
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(0.05)
            self._wake.clear()
            batch_size = max(1, self.state.options.statuses_per_webhook)
            while self._pending:
                # Like Meta, fold the statuses that wait into one webhook: the next one is built only when a
                # delivery slot is free, so a busy receiver gets fewer, fuller webhooks instead of a growing queue.
                self.sender.wait_slot(1.0)
                phone_number_id, first = self._pending.popleft()
                statuses = [first]
                while self._pending and len(statuses) < batch_size and self._pending[0][0] == phone_number_id:
                    statuses.append(self._pending.popleft()[1])
                value: dict[str, Any] = {"statuses": statuses}
                contacts = self._status_contacts(statuses)
                if contacts:
                    value = {"contacts": contacts, **value}
                self.deliver("whatsapp_business_account", self.whatsapp_envelope(phone_number_id, value))

    def _status_contacts(self, statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``contacts[]`` of a status webhook (2026): one per recipient of a sent/delivered/read status, none for
        failed ones."""
        contacts: list[dict[str, Any]] = []
        for status in statuses:
            user_id = status.get("recipient_user_id")
            if user_id and all(c["user_id"] != user_id for c in contacts):
                contacts.append({"wa_id": status["recipient_id"], "user_id": user_id})
        return contacts

    def whatsapp_inbound(
        self, phone_number_id: str, wa_id: str, name: str, message: dict[str, Any], *, hide_phone: bool = False
    ) -> bool:
        """Send one customer message (already shaped like Meta's ``messages[]`` entry, with ``from_user_id``).
        ``hide_phone``: a username user who hid their number: no ``from`` and no ``wa_id``, only the BSUID (2026)."""
        user_id = self.state.user_id_for(wa_id)
        contact: dict[str, Any] = {"profile": {"name": name}, "wa_id": wa_id, "user_id": user_id}
        if hide_phone:
            message.pop("from", None)
            del contact["wa_id"]
            contact["profile"]["username"] = f"user{wa_id[-4:]}"
        value = {"contacts": [contact], "messages": [message]}
        return self.deliver("whatsapp_business_account", self.whatsapp_envelope(phone_number_id, value))

    # ------------------------------------------------------------------ Messenger / Instagram

    def messaging_event(self, object_name: str, account_id: str, event: dict[str, Any]) -> bool:
        """Send one ``entry[].messaging[]`` event for a Page or an Instagram account."""
        payload = {
            "object": object_name,
            "entry": [{"id": account_id, "time": event["timestamp"], "messaging": [event]}],
        }
        return self.deliver(object_name, payload)


def status_rank(status: str) -> int:
    """Order of the positive statuses (sent < delivered < read), for receivers that keep the highest."""
    return STATUS_RANK.get(status, -1)
