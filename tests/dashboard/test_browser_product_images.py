"""Product photos in demo mode: the shop sandbox serves them, and the dashboard's Content-Security-Policy lets
exactly the running sandboxes' origins through (never outside demo mode)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from connector.plugins import Plugins

from .conftest import Connected, log_in, start_live
from .test_browser_xss import RECORD_VIOLATIONS

# True once every image on the page has finished loading; fails fast on a broken one (naturalWidth 0).
IMAGES_LOADED = """(selector) => {
  const images = [...document.querySelectorAll(selector)];
  return images.length > 0 && images.every((i) => i.complete);
}"""


def test_catalog_product_images_load_in_demo_mode(connected: Connected, page: Any) -> None:
    live = connected.live
    page.add_init_script(RECORD_VIOLATIONS)
    log_in(page, live)
    page.wait_for_url(live.dashboard("/"))
    page.goto(live.dashboard("/catalog"))
    images = page.locator("#catalog-items img")
    assert images.count() > 0
    for image in images.all():  # the images load lazily: bring each one into view
        image.scroll_into_view_if_needed()
    page.wait_for_function(IMAGES_LOADED, arg="#catalog-items img")
    sources = images.evaluate_all("(all) => all.map((i) => [i.src, i.naturalWidth])")
    assert all(src.startswith(connected.shop.url + "/wp-content/uploads/") for src, _ in sources)
    assert all(width > 0 for _, width in sources), sources
    assert page.evaluate("window.__violations") == []


def test_sandbox_origins_are_allowed_for_images_in_demo_mode_only(
    connected: Connected, tmp_path: Path, plugins: Plugins
) -> None:
    shop_origin = connected.shop.url
    demo_policy = requests.get(connected.live.dashboard("/login"), timeout=30).headers["Content-Security-Policy"]
    img_src = next(d for d in demo_policy.split("; ") if d.startswith("img-src"))
    assert shop_origin in img_src.split() and "*" not in img_src
    (tmp_path / "production").mkdir()
    production = start_live(tmp_path / "production", plugins, server={"demo": False})
    try:
        policy = requests.get(production.dashboard("/login"), timeout=30).headers["Content-Security-Policy"]
        assert shop_origin not in policy and "http:" not in policy
    finally:
        production.stop()
