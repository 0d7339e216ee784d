"""The plugin registers both adapters through the entry point, with the settings an owner fills in."""

from __future__ import annotations

import pytest
from connector_messenger import plugin
from connector_messenger.adapter import InstagramAdapter, MessengerAdapter

from connector.adapters import ChannelAdapter
from connector.errors import SettingsError
from connector.plugins import Plugins


def test_hook_returns_both_adapters() -> None:
    assert plugin.connector_register_channel_adapters() == [MessengerAdapter, InstagramAdapter]


def test_plugins_find_both_channels_through_the_entry_point() -> None:
    adapters = Plugins(disabled=["shopify", "woocommerce", "shopware", "whatsapp"]).channel_adapters
    assert adapters["messenger"] is MessengerAdapter
    assert adapters["instagram"] is InstagramAdapter
    assert all(issubclass(cls, ChannelAdapter) for cls in (MessengerAdapter, InstagramAdapter))


def test_settings_are_validated_with_secrets_and_defaults() -> None:
    cleaned = MessengerAdapter.validate_settings(
        {"page_id": "1001", "page_access_token": "t", "app_secret": "s", "verify_token": "v"}
    )
    assert cleaned["graph_url"] == "https://graph.facebook.com"
    assert cleaned["api_version"] == "v25.0"
    assert cleaned["catalog_id"] is None
    secrets = {f.name for f in MessengerAdapter.config_fields if f.secret}
    assert secrets == {"page_access_token", "app_secret", "verify_token"}
    with pytest.raises(SettingsError) as error:
        InstagramAdapter.validate_settings({"page_access_token": "t"})
    assert {"instagram_account_id", "app_secret", "verify_token"} <= set(error.value.errors)
