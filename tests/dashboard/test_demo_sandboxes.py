"""`connector demo` and the setup wizard share one pair of sandboxes: the wizard's "try with a sandbox" fills in the
very shop and Graph sandboxes the demo started (and printed curl lines for), and never stops them."""

from __future__ import annotations

import requests

from connector.dashboard.wizard import demo_sandboxes

from .conftest import Live


def test_the_wizard_uses_the_sandboxes_the_demo_started(live: Live) -> None:
    rt = live.runtime
    classes = rt.plugins.sandboxes()
    shop, graph = classes["woocommerce"](), classes["graph"]()
    shop.start()
    graph.start()
    try:
        shared = demo_sandboxes(live.server.app)
        shared.adopt("woocommerce", shop)
        shared.adopt("graph", graph)
        assert shared.get("woocommerce") is shop
        assert shared.get("graph") is graph
        assert shared.get("woocommerce").connection_settings()["shop_url"] == shop.connection_settings()["shop_url"]
        # The web app stopping its sandboxes leaves the demo's running (the demo stops them itself).
        shared.stop_all()
        assert requests.get(f"{graph.url}/_sandbox/messages?to=4915112345678", timeout=10).ok
    finally:
        shop.stop()
        graph.stop()
