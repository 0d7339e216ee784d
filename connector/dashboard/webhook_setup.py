"""Registering, describing and testing a connection's webhooks: shared by the setup wizard (step 3) and
``connector webhooks register|list|test``.

Shops are registered through their own API (:meth:`~connector.adapters.ShopAdapter.register_webhooks`); a shop
plugin without one is subscribed through its sandbox's control API when it is a sandbox. Meta channels are
subscribed in the Meta app's settings by hand, except the Graph sandbox, which is subscribed through its control API
(it runs Meta's ``hub.challenge`` handshake against this server, so the server has to be running).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from connector.dashboard.sandboxes import ControlError, graph_control, shop_control
from connector.errors import ConnectorError

if TYPE_CHECKING:
    from connector.runtime import Runtime

Kind = Literal["shop", "channel"]
#: The ``object`` a Meta channel's webhooks are subscribed to.
META_CHANNELS = {"whatsapp": "whatsapp_business_account", "instagram": "instagram", "messenger": "page"}


class WebhookSetupError(ConnectorError):
    """Webhooks could not be registered or triggered; the message says what to do instead."""


@dataclass(frozen=True, slots=True)
class WebhookInfo:
    """What to register where, and what has arrived."""

    kind: str
    connection_id: int
    adapter: str
    url: str
    topics: list[str]
    verify_token: str
    received_7d: int


def describe(rt: Runtime, kind: Kind, connection_id: int) -> WebhookInfo:
    """The connection's webhook URL, topics, verify token (Meta) and how many webhooks came in the last 7 days."""
    from connector.dashboard.queries import webhook_count

    row = rt.connections.get_shop(connection_id) if kind == "shop" else rt.connections.get_channel(connection_id)
    adapter = row.platform if kind == "shop" else row.channel  # type: ignore[union-attr]
    cls = (
        rt.connections.shop_adapter_class(adapter) if kind == "shop" else rt.connections.channel_adapter_class(adapter)
    )
    return WebhookInfo(
        kind=kind,
        connection_id=connection_id,
        adapter=adapter,
        url=rt.connections.webhook_url(adapter, connection_id),
        topics=list(getattr(cls, "webhook_topics", ())),
        verify_token=str(rt.connections.settings_of(row).get("verify_token", "")) if kind == "channel" else "",
        received_7d=webhook_count(rt, kind, connection_id, datetime.now(UTC) - timedelta(days=7)),
    )


def register(rt: Runtime, kind: Kind, connection_id: int) -> str:
    """Register the connection's webhooks on its platform; return what was done. Raises :class:`WebhookSetupError`
    saying why not (the platform refused, or it has to be done by hand, and where)."""
    info = describe(rt, kind, connection_id)
    if kind == "shop":
        try:
            topics = rt.connections.shop_adapter(connection_id).register_webhooks(info.url)
        except NotImplementedError:
            control = shop_control(rt, connection_id)
            if control is None:
                raise WebhookSetupError(
                    f"{info.adapter} has no API for this: add {info.url} as the webhook URL in the shop's admin"
                ) from None
            try:
                control.call("POST", "webhooks", json={"url": info.url})
            except ControlError as exc:
                raise WebhookSetupError(f"{info.adapter}: {exc}") from None
            return f"subscribed {info.url} to every event of the {info.adapter} sandbox"
        except Exception as exc:  # the platform refused: say so, with its reason
            raise WebhookSetupError(f"{info.adapter}: could not register webhooks: {exc}") from None
        return f"registered {', '.join(topics)} -> {info.url}"
    graph = graph_control(rt, connection_id)
    if info.adapter not in META_CHANNELS or graph is None:
        raise WebhookSetupError(
            f"register {info.url} with verify token {info.verify_token!r} in the app's webhook settings "
            f"({info.adapter} has no API for it)"
        )
    try:
        graph.call(
            "POST",
            "webhooks",
            json={"url": info.url, "object": META_CHANNELS[info.adapter], "verify_token": info.verify_token},
        )
    except ControlError as exc:
        raise WebhookSetupError(
            f"{info.adapter}: {exc}. Check that this server is running and reachable at {info.url}"
        ) from None
    return f"subscribed {info.url} to {META_CHANNELS[info.adapter]} events"


def send_test(rt: Runtime, kind: Kind, connection_id: int) -> str:
    """Make a sandbox send a webhook (a stock change in the shop, a customer's "Hi" on WhatsApp); return what was
    sent. Raises :class:`WebhookSetupError` for a real platform (trigger an event there) or a refusing sandbox."""
    try:
        if kind == "shop":
            shop = shop_control(rt, connection_id)
            if shop is not None:
                variant = shop.call("GET", "variants")["ids"][0]
                shop.call("POST", "stock", json={"variant_id": variant, "quantity": 7})
                return f"the shop sandbox set variant {variant}'s stock to 7"
        else:
            graph = graph_control(rt, connection_id)
            channel = rt.connections.get_channel(connection_id).channel
            if graph is not None and channel == "whatsapp":
                graph.call("POST", "whatsapp/messages", json={"wa_id": "4915100000000", "type": "text", "text": "Hi"})
                return 'the Graph sandbox sent a "Hi" from +4915100000000'
    except ControlError as exc:
        raise WebhookSetupError(str(exc)) from None
    raise WebhookSetupError("only sandboxes send test webhooks on request: trigger an event on the platform instead")
