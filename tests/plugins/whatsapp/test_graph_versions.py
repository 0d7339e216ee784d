"""The Graph API version of a WhatsApp / Messenger / Instagram connection over real HTTP: configurable per
connection with a supported default (v25.0, served until 2028-07-29), an expired version refused when the
connection is set up, and a connection test that says plainly that the version expired, whether the connector's
calendar knows it or Meta (the Graph sandbox, answering code 2635) says so first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from connector_messenger.adapter import InstagramAdapter, MessengerAdapter
from connector_meta.graph import DEFAULT_API_VERSION
from connector_meta.sandbox import GraphSandbox
from connector_whatsapp.adapter import WhatsAppAdapter

from connector import model
from connector.adapters import ChannelAdapter
from connector.errors import ConnectionTestError, SendAction, SendError, SettingsError

ADAPTERS: list[type[ChannelAdapter]] = [WhatsAppAdapter, MessengerAdapter, InstagramAdapter]


@pytest.fixture
def graph() -> Iterator[GraphSandbox]:
    """A sandbox of our own: these tests move its clock past a version's end date."""
    with GraphSandbox(options={"status_flow": []}) as sandbox:
        yield sandbox


def settings(cls: type[ChannelAdapter], graph: GraphSandbox, **overrides: str) -> dict[str, object]:
    given = graph.connection_settings()
    if cls is not WhatsAppAdapter:
        given["page_access_token"] = given["access_token"]
    names = {f.name for f in cls.config_fields}
    values = {k: v for k, v in given.items() if k in names and k != "api_version"}
    values.update(overrides)
    return values


@pytest.mark.parametrize("cls", ADAPTERS)
def test_the_default_version_is_one_meta_serves_and_each_connection_may_pick_its_own(
    cls: type[ChannelAdapter], graph: GraphSandbox
) -> None:
    default = cls.validate_settings(settings(cls, graph))
    assert default["api_version"] == DEFAULT_API_VERSION == "v25.0"
    cls(default).test_connection()
    newest = cls.validate_settings(settings(cls, graph, api_version="v27.0"))
    assert newest["api_version"] == "v27.0"
    cls(newest).test_connection()


@pytest.mark.parametrize("cls", ADAPTERS)
def test_an_expired_version_is_refused_when_the_connection_is_set_up(
    cls: type[ChannelAdapter], graph: GraphSandbox
) -> None:
    with pytest.raises(SettingsError) as refused:
        cls.validate_settings(settings(cls, graph, api_version="v20.0"))
    assert refused.value.errors["api_version"].startswith("Graph API v20.0 expired on 2026-09-24")
    with pytest.raises(SettingsError, match=r"must look like v25\.0"):
        cls.validate_settings(settings(cls, graph, api_version="25"))
    with pytest.raises(SettingsError, match="not released"):
        cls.validate_settings(settings(cls, graph, api_version="v28.0"))


@pytest.mark.parametrize("cls", ADAPTERS)
def test_the_connection_test_says_the_version_expired(cls: type[ChannelAdapter], graph: GraphSandbox) -> None:
    # A connection saved while v20.0 was served: the test says so before calling Meta.
    with pytest.raises(ConnectionTestError, match=r"Graph API v20\.0 expired on 2026-09-24.*set the connection"):
        cls({**settings(cls, graph), "api_version": "v20.0"}).test_connection()


@pytest.mark.parametrize("cls", ADAPTERS)
def test_when_meta_refuses_the_version_first_the_connection_test_says_it_expired(
    cls: type[ChannelAdapter], graph: GraphSandbox
) -> None:
    adapter = cls(cls.validate_settings(settings(cls, graph, api_version="v21.0")))
    adapter.test_connection()
    graph.advance_clock(50 * 86400)  # Meta's time is past 2027-01-21; our calendar check still passes today
    with pytest.raises(ConnectionTestError) as failed:
        adapter.test_connection()
    text = str(failed.value)
    assert "Meta refused Graph API v21.0 as expired" in text and "(#2635)" in text and "v25.0 or newer" in text


def test_a_send_on_an_expired_version_is_a_setup_problem_not_retried(graph: GraphSandbox) -> None:
    adapter = WhatsAppAdapter(WhatsAppAdapter.validate_settings(settings(WhatsAppAdapter, graph, api_version="v21.0")))
    graph.advance_clock(50 * 86400)
    contact = model.Contact("whatsapp", "4915112345678", phone="+4915112345678")
    template = model.TemplateMessage(name="order_shipped", language="en_US", body_parameters=["Anna", "#1", "DHL"])
    with pytest.raises(SendError) as failed:
        adapter.send(contact, template)
    assert failed.value.action is SendAction.CONFIG and failed.value.code == 2635
