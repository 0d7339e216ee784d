"""One end-to-end run in which the core calls every hook, each through a real code path."""

from __future__ import annotations

from sqlalchemy import select

from connector import hookspecs, model
from connector.chat.messages import send_test_message
from connector.db.models import OutboundMessage
from tests.conftest import HookRecorder, Stack, wait_for


def test_the_core_calls_every_hook(stack: Stack, hooks: HookRecorder) -> None:
    called: set[str] = set()
    rt = stack.runtime
    pm = rt.plugins.pm

    # Registration hooks: monitored while the pieces that call them are built.
    undo = pm.add_hookcall_monitoring(lambda name, impls, kwargs: called.add(name), lambda *a: None)
    try:
        from click import Group

        from connector.runtime import Runtime
        from connector.web.app import create_app

        _ = rt.plugins.shop_adapters, rt.plugins.channel_adapters  # cached: reset to see the calls
        rt.plugins._shop_adapters = rt.plugins._channel_adapters = None
        _ = rt.plugins.shop_adapters, rt.plugins.channel_adapters
        rt.plugins.sandboxes()
        Runtime(rt.config, plugins=rt.plugins).close()  # config fields, jobs
        create_app(runtime=rt)  # blueprints
        rt.plugins.register_cli(Group("connector"))
    finally:
        undo()

    # Event hooks, through the product's own paths.
    stack.full_sync()  # catalog_changed
    variant = next(v for v in stack.shop.variant_ids() if stack.catalog()[v]["availability"] == "in stock")
    stack.shop.set_stock(variant, 0)  # webhook -> verify, parse -> items sync -> stock_changed
    wait_for(lambda: hooks.named("connector_stock_changed"))

    adapter = rt.connections.shop_adapter(stack.shop_id)
    order = adapter.create_order(
        model.Cart(
            lines=[model.CartLine(variant_external_id=stack.shop.variant_ids()[5], quantity=1)], reference="hooks-1"
        ),
        model.Customer(phone="+4915112345678", email="erika@example.com", first_name="Erika", last_name="Muster"),
        model.Address(name="Erika Muster", line1="Hauptstr. 1", postcode="20095", city="Hamburg", country_code="DE"),
    )
    stack.shop.ship_order(
        order.external_id, company="DHL", number="00340434161234567890", url="https://dhl.example/track/1"
    )
    # The order's creation may be reported first (no fulfillment yet); the shipment follows with its tracking.
    shipped = wait_for(
        lambda: [
            c
            for c in hooks.named("connector_order_status_changed")
            if c["order"].external_id == order.external_id
            and any(f.tracking_number == "00340434161234567890" for f in c["order"].fulfillments)
        ]
    )
    assert shipped[0]["event"] is not None
    stack.shop.delete_order(order.external_id, force=True)  # order.deleted -> order_deleted
    wait_for(lambda: [c for c in hooks.named("connector_order_deleted") if c["order_external_id"] == order.external_id])

    settings = stack.graph.connection_settings()
    stack.graph.customer_text(settings["phone_number_id"], "4915112345678", "Hi")
    wait_for(lambda: hooks.named("connector_inbound_message"))

    message_id = send_test_message(rt, stack.channel_id, "+4915112345678", text="Your test message")
    [sent] = wait_for(lambda: [c for c in hooks.named("connector_notification_sent") if c["message_id"] == message_id])
    assert sent["kind"] == "test"
    with rt.db.session() as session:
        row = session.scalar(select(OutboundMessage).where(OutboundMessage.id == message_id))
    assert row.channel_message_id == sent["channel_message_id"]
    texts = [m.get("text", {}).get("body") for m in stack.graph.messages_to("4915112345678")]
    assert "Your test message" in texts

    # `connector doctor`: the plugins' own checks.
    from types import SimpleNamespace

    from connector.dashboard.doctor import run_checks

    undo = pm.add_hookcall_monitoring(lambda name, impls, kwargs: called.add(name), lambda *a: None)
    try:
        assert run_checks(SimpleNamespace(config=rt.config, runtime=rt))
    finally:
        undo()

    called |= {name for name, _ in hooks.calls}
    assert set(hookspecs.all_hook_names()) - called == set()
