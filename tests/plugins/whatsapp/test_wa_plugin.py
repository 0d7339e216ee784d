"""Registration and settings of the WhatsApp plugin."""

from __future__ import annotations

import connector_whatsapp.plugin as whatsapp_plugin
import pytest
from connector_meta.catalog import MetaCatalog
from connector_whatsapp.adapter import WhatsAppAdapter

from connector import model
from connector.errors import SettingsError
from connector.plugins import Plugins


def test_the_plugin_registers_the_whatsapp_channel() -> None:
    plugins = Plugins(load_entry_points=False)
    plugins.register(whatsapp_plugin, name="whatsapp")
    assert plugins.channel_adapters == {"whatsapp": WhatsAppAdapter}
    assert model.CatalogMessage in WhatsAppAdapter.supports and model.TemplateMessage in WhatsAppAdapter.supports


def test_settings_are_validated_with_defaults_and_secrets() -> None:
    cleaned = WhatsAppAdapter.validate_settings(
        {"phone_number_id": "1", "access_token": "t", "app_secret": "s", "verify_token": "v"}
    )
    assert cleaned["graph_url"] == "https://graph.facebook.com" and cleaned["api_version"].startswith("v")
    secrets = {f.name for f in WhatsAppAdapter.config_fields if f.secret}
    # The PIN Connect WhatsApp sets; the Conversions API dataset and token (issue 21).
    assert secrets == {
        "access_token",
        "app_secret",
        "verify_token",
        "two_step_pin",
        "capi_dataset_id",
        "capi_access_token",
    }
    with pytest.raises(SettingsError) as caught:
        WhatsAppAdapter.validate_settings({"phone_number_id": "1", "graph_url": "graph.facebook.com"})
    assert {"access_token", "app_secret", "verify_token", "graph_url"} <= set(caught.value.errors)


def test_catalog_only_with_a_catalog_id() -> None:
    base = {"phone_number_id": "1", "access_token": "t", "app_secret": "s", "verify_token": "v"}
    assert WhatsAppAdapter(base).catalog() is None
    catalog = WhatsAppAdapter({**base, "catalog_id": "354160437058781"}).catalog()
    assert isinstance(catalog, MetaCatalog) and catalog.catalog_id == "354160437058781"
    assert catalog.max_batch_size == 5000
