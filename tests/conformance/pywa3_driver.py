"""Drive the Graph sandbox with pywa 3.x (the previous major); run by ``test_pywa_previous_major.py`` inside a
throwaway virtualenv that holds ``pywa>=3.9,<4`` and nothing of the connector.

Reads one JSON object on stdin and prints one JSON result on stdout:

- ``{"mode": "send", "settings": {...}, "customer", "products", "read", "steps"?}``: sends text, reply buttons, a list, a
  product and a product list, an image by link and two templates (or only the named ``steps``), then marks the wamid ``read`` as read. Result:
  ``{"sent": {step: wamid}, "errors": {step: "..."}, "read": bool}``.
- ``{"mode": "parse", "settings": {...}, "deliveries": [{"body", "signature"}]}``: hands every recorded webhook
  delivery (raw body and ``X-Hub-Signature-256``) to pywa's own update handler, which checks the signature with the
  app secret and parses the update; plus one delivery with a forged signature. Result: ``{"updates": [...],
  "answers": [[text, status]], "forged": [text, status, handled]}``.

pywa 3 hard-codes ``https://graph.facebook.com`` as its ``httpx`` client's base URL, so only the transport that
carries its requests is pointed at the sandbox (as the pywa 4 tests do); the library is otherwise used as documented.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import httpx
from pywa import WhatsApp
from pywa import types as wa_types
from pywa.handlers import (
    CallbackButtonHandler,
    CallbackSelectionHandler,
    MessageHandler,
    MessageStatusHandler,
    RawUpdateHandler,
)
from pywa.types.templates import BodyText, HeaderImage, QuickReplyButton, TemplateLanguage, URLButton


class ToSandbox(httpx.BaseTransport):
    """An httpx transport that carries every request (graph.facebook.com included) to the sandbox instead."""

    def __init__(self, base_url: str):
        self._base = httpx.URL(base_url)
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme=self._base.scheme, host=self._base.host, port=self._base.port)
        request.headers["Host"] = self._base.netloc.decode()
        return self._inner.handle_request(request)


def client(settings: dict[str, Any]) -> WhatsApp:
    """A pywa 3 client for the sandbox's demo business; ``server=None``: updates are fed to it by hand."""
    return WhatsApp(
        phone_id=settings["phone_number_id"],
        token=settings["access_token"],
        session=httpx.Client(transport=ToSandbox(settings["graph_url"])),
        server=None,
        verify_token=settings["verify_token"],
        app_secret=settings["app_secret"],
        business_account_id=settings["waba_id"],
        api_version=settings["api_version"].lstrip("v"),
    )


def send(wa: WhatsApp, job: dict[str, Any]) -> dict[str, Any]:
    """Every message type the connector sends, then a read receipt; each step's wamid or pywa's error."""
    to = job["customer"]
    catalog_id = job["settings"]["catalog_id"]
    image = "https://images.example.com/shirt-1.jpg"
    steps: dict[str, Callable[[], Any]] = {
        "text": lambda: wa.send_message(to, "Welcome to Nordkind!"),
        "buttons": lambda: wa.send_message(
            to,
            "What would you like to do?",
            header="Menu",
            footer="Nordkind",
            buttons=[
                wa_types.Button(title="Browse", callback_data="browse"),
                wa_types.Button(title="My orders", callback_data="orders"),
            ],
        ),
        "list": lambda: wa.send_message(
            to,
            "Pick a collection",
            buttons=wa_types.SectionList(
                "Collections",
                sections=[
                    wa_types.Section(
                        "Shirts",
                        rows=[wa_types.SectionRow(title="Linen", callback_data="col-1", description="Light shirts")],
                    )
                ],
            ),
        ),
        "product": lambda: wa.send_product(to, catalog_id=catalog_id, sku=job["products"][0], body="Our bestseller"),
        "product_list": lambda: wa.send_products(
            to,
            catalog_id=catalog_id,
            product_sections=[wa_types.ProductsSection("Shirts", skus=job["products"])],
            title="Linen shirts",
            body="Two shirts for summer",
        ),
        "image": lambda: wa.send_image(to, image, caption="Shirt 1"),
        "template_back_in_stock": lambda: wa.send_template(
            to,
            "back_in_stock",
            TemplateLanguage.ENGLISH_US,
            params=[
                HeaderImage.params(image=image),
                BodyText.params("Linen shirt"),
                QuickReplyButton.params(callback_data="stop-alerts", index=0),
            ],
        ),
        "template_order_shipped": lambda: wa.send_template(
            to,
            "order_shipped",
            TemplateLanguage.ENGLISH_US,
            params=[BodyText.params("Ada", "#1001", "DHL"), URLButton.params(url_variable="JJD0001", index=0)],
        ),
    }
    sent: dict[str, str] = {}
    errors: dict[str, str] = {}
    for step, call in steps.items():
        if step not in job.get("steps", steps):
            continue
        try:
            sent[step] = call().id
        except Exception as exc:  # the test reports which step pywa 3 could not do, and why
            errors[step] = f"{type(exc).__name__}: {exc}"
    read = wa.mark_message_as_read(job["read"]).success if job.get("read") else None
    return {"sent": sent, "errors": errors, "read": read}


def describe(update: Any) -> dict[str, Any]:
    """What a bot's handler sees of ``update``, as plain JSON."""
    if isinstance(update, wa_types.CallbackButton):
        return {"kind": "button", "id": update.id, "data": update.data, "reply_to": update.reply_to_message.message_id}
    if isinstance(update, wa_types.CallbackSelection):
        return {"kind": "selection", "id": update.id, "data": update.data}
    if isinstance(update, wa_types.MessageStatus):
        found = {"kind": "status", "id": update.id, "status": update.status.value, "wa_id": update.from_user.wa_id}
        if update.error is not None:
            found["error"] = [type(update.error).__name__, update.error.code]
        return found
    if isinstance(update, wa_types.Message):
        found: dict[str, Any] = {"kind": "message", "id": update.id, "type": update.type.value}
        found["wa_id"], found["name"] = update.from_user.wa_id, update.from_user.name
        if update.text is not None:
            found["text"] = update.text
        if update.order is not None:
            found["order"] = [[p.sku, p.quantity] for p in update.order.products]
        if update.location is not None:
            found["location"] = [update.location.latitude, update.location.longitude]
        return found
    return {"kind": "raw", "value": update.value if isinstance(update, wa_types.RawUpdate) else repr(update)}


def parse(wa: WhatsApp, job: dict[str, Any]) -> dict[str, Any]:
    """Feed pywa's webhook handler every recorded delivery; report what its handlers received."""
    updates: list[dict[str, Any]] = []
    raw: list[dict[str, Any]] = []
    wa.add_handlers(
        MessageHandler(lambda _, u: updates.append(describe(u))),
        CallbackButtonHandler(lambda _, u: updates.append(describe(u))),
        CallbackSelectionHandler(lambda _, u: updates.append(describe(u))),
        MessageStatusHandler(lambda _, u: updates.append(describe(u))),
        RawUpdateHandler(lambda _, u: raw.append(u)),
    )
    answers = [list(wa.webhook_update_handler(d["body"].encode(), d["signature"])) for d in job["deliveries"]]
    before = len(raw)
    forged_body = job["deliveries"][0]["body"].encode()
    text, status = wa.webhook_update_handler(forged_body, "sha256=" + "0" * 64)
    return {"updates": updates, "raw": len(raw), "answers": answers, "forged": [text, status, len(raw) > before]}


def main() -> None:
    job = json.load(sys.stdin)
    wa = client(job["settings"])
    result = send(wa, job) if job["mode"] == "send" else parse(wa, job)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
