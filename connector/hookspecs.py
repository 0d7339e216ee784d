"""Every hook a Chatshop Connector plugin can implement.

A plugin is a module (or object) with functions marked ``@connector.hookimpl`` whose names match the
specs below, registered under the ``connector`` entry-point group::

    [project.entry-points.connector]
    my_plugin = "my_package.plugin"

An implementation may accept any subset of a hook's arguments. Hooks without ``firstresult`` return a
list with one result per implementation (``None`` results dropped); ``firstresult`` hooks stop at the
first non-``None`` result. The core calls hooks through :class:`connector.plugins.Plugins`, never
``pm.hook`` directly. ``docs/plugins.md`` documents each hook with an example.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    import flask

    from connector.adapters import ChannelAdapter, ConfigField, ParsedWebhook, ShopAdapter, WebhookRequest
    from connector.connections import ConnectionRef
    from connector.dashboard.doctor import Check
    from connector.model import Inbound, Order, ShopEvent
    from connector.runtime import Runtime
    from connector.sandbox.base import Sandbox
    from connector.sync.catalog import SyncSummary
    from connector.work.scheduler import JobRegistry

hookspec = pluggy.HookspecMarker("connector")

# --------------------------------------------------------------------------- registration


@hookspec
def connector_register_shop_adapters() -> Sequence[type[ShopAdapter]]:
    """Return the shop-platform adapter classes this plugin provides.

    Results combine as a list: every plugin's classes are collected. Adapter names must be unique;
    a second adapter with the same name is an error at start-up.

    :returns: adapter classes, subclasses of :class:`connector.adapters.ShopAdapter`.
    """


@hookspec
def connector_register_channel_adapters() -> Sequence[type[ChannelAdapter]]:
    """Return the messaging-channel adapter classes this plugin provides.

    Results combine as a list, like :func:`connector_register_shop_adapters`.

    :returns: adapter classes, subclasses of :class:`connector.adapters.ChannelAdapter`.
    """


@hookspec
def connector_config_fields() -> Sequence[ConfigField]:
    """Return this plugin's own settings (not per connection), declared as typed, labelled fields.

    The core validates them at start-up from the ``[plugins.<plugin name>]`` table of the config
    file (and ``CONNECTOR_PLUGINS__<NAME>__<FIELD>`` variables), stores secrets encrypted, and shows
    the fields in the dashboard. Per-connection settings are declared on the adapter class
    (``config_fields``) instead.

    Results combine per plugin: the core calls each implementation separately so fields stay
    attached to the plugin that declared them.

    :returns: :class:`connector.adapters.ConfigField` objects.
    """


@hookspec
def connector_register_sandboxes() -> Sequence[type[Sandbox]]:
    """Return sandbox classes: local servers speaking a platform's wire protocol for tests and the demo.

    Results combine as a list. ``connector demo --shop NAME`` starts the shop sandbox whose ``name``
    is ``NAME``.

    :returns: subclasses of :class:`connector.sandbox.base.Sandbox`.
    """


@hookspec
def connector_register_blueprints(app: flask.Flask) -> Sequence[flask.Blueprint]:
    """Return Flask blueprints to mount on the web app (pages, extra API routes).

    Results combine as a list. Called once while the app is built, after the core's own blueprints.

    :param app: the application being built; read ``app.config`` if routes depend on settings.
    :returns: blueprints to register.
    """


@hookspec
def connector_doctor_checks(runtime: Runtime) -> Sequence[Check]:
    """Return findings for ``connector doctor``: what this plugin needs that only the operator can set up.

    Results combine as a list, printed after the core's own checks; a ``fail`` makes ``doctor`` exit 1.
    Each check should say what to do in its ``fix``.

    :param runtime: the runtime (config, database, connections, plugin settings).
    :returns: :class:`connector.dashboard.doctor.Check` objects.
    """


@hookspec
def connector_register_cli(cli: click.Group) -> None:
    """Add commands or command groups to the ``connector`` command line.

    Called once when the CLI starts. Use ``@cli.command()`` or ``cli.add_command(...)``.

    :param cli: the root ``connector`` click group.
    """


@hookspec
def connector_register_jobs(jobs: JobRegistry, runtime: Runtime) -> None:
    """Add scheduled jobs with fixed ids.

    Jobs only *enqueue* work; the worker does it. Call
    ``jobs.interval("my_plugin.cleanup", minutes=30, task="my_plugin.cleanup")`` or
    ``jobs.cron(...)``. Register the task handler with ``jobs.task("my_plugin.cleanup")`` as a decorator.
    Called once when the scheduler and the worker start; ids must be stable so a restart replaces
    the job instead of adding a second one.

    :param jobs: the registry of scheduled jobs and task handlers.
    :param runtime: the runtime being built (config, database, plugins, queue); keep a reference if the
        plugin's event hooks need it, or better, take the ``runtime`` argument those hooks receive.
    """


@hookspec
def connector_template_dirs() -> Sequence[str]:
    """Return folders of Jinja templates that override the connector's message texts.

    Notification and chat texts are Jinja templates named ``<kind>/<channel>.<language>.j2`` (with
    fallbacks to ``<kind>/default.<language>.j2``). Folders returned here are searched before the
    built-in ones, in plugin registration order, so a plugin or a shop owner (``[templates] dirs`` in
    the config) can change any text without touching code. Results combine as a list.

    :returns: absolute folder paths.
    """


@hookspec
def connector_chat_intents() -> Sequence[Any]:
    """Return extra intents for the conversation engine: menu entries and what they do.

    Each result is a :class:`connector.conversation.intents.Intent` (an id, a menu title per
    language, keywords that trigger it, and a handler that gets the conversation context and answers
    with outbound messages). Intents from every plugin combine as a list, after the built-in ones;
    the WhatsApp menu shows at most 10 entries.

    :returns: intent objects.
    """


# --------------------------------------------------------------------------- webhooks


@hookspec(firstresult=True)
def connector_verify_webhook(connection: ConnectionRef, request: WebhookRequest) -> bool | None:
    """Verify an incoming webhook before the connection's adapter does.

    Stops at the first non-``None`` result. Return ``True`` to accept the request without the
    adapter's own check (e.g. a gateway in front of the connector already verified and re-signed
    it), raise :class:`connector.errors.WebhookRejected` to refuse it, or return ``None`` to leave the
    decision to the adapter's ``verify_webhook``.

    :param connection: which connection the webhook URL names (kind, id, adapter name).
    :param request: the raw request: method, headers, query and body bytes.
    """


@hookspec(firstresult=True)
def connector_parse_webhook(connection: ConnectionRef, request: WebhookRequest) -> ParsedWebhook | None:
    """Parse a verified webhook into canonical events before the adapter does.

    Stops at the first non-``None`` result. Return a :class:`connector.adapters.ParsedWebhook` to
    handle a payload the adapter does not know (a platform extension's topic, say), or ``None`` to
    let the adapter's ``parse_webhook`` do it. Must not do network I/O: the core parses before it
    answers the platform, and again in the worker.

    :param connection: which connection the webhook URL names.
    :param request: the verified raw request.
    """


# --------------------------------------------------------------------------- events


@hookspec
def connector_catalog_changed(
    shop_connection_id: int, channel_connection_id: int, summary: SyncSummary, runtime: Runtime
) -> None:
    """A catalog sync pushed changes to a channel's catalog.

    Called once per sync run that created, updated or deleted at least one item; every
    implementation is called (results are ignored).

    :param shop_connection_id: the shop whose catalog was synced.
    :param channel_connection_id: the channel connection whose catalog changed.
    :param summary: counts and timing of the run.
    :param runtime: the runtime that ran the sync (database, queue, connections).
    """


@hookspec
def connector_stock_changed(
    shop_connection_id: int,
    variant_external_id: str,
    old_quantity: int | None,
    new_quantity: int | None,
    runtime: Runtime,
) -> None:
    """A variant's available stock changed, as seen by a sync or a shop webhook.

    Called after the change is stored; every implementation is called (results ignored). Back-in-stock
    notifications react to ``old_quantity == 0 and new_quantity > 0``.

    :param shop_connection_id: the shop connection.
    :param variant_external_id: the variant's stable external id.
    :param old_quantity: the stock before, ``None`` if not known or not tracked.
    :param new_quantity: the stock now, ``None`` if not tracked.
    :param runtime: the runtime that saw the change.
    """


@hookspec
def connector_order_status_changed(shop_connection_id: int, order: Order, event: ShopEvent, runtime: Runtime) -> None:
    """A shop order was created or changed status, or one of its shipments moved.

    Every implementation is called (results ignored). Shipping notifications react to this hook.
    The same change can be reported more than once (the shop retries or repeats webhooks, the reconcile job
    polls, and a worker that died before marking the webhook processed handles it again): make what you do
    safe to repeat, as the shipping notifications are (once per order and status).

    :param shop_connection_id: the shop connection.
    :param order: the order as the shop reports it now.
    :param event: the canonical event that told us (order changed or fulfillment changed).
    :param runtime: the runtime processing the event.
    """


@hookspec
def connector_order_deleted(shop_connection_id: int, order_external_id: str, runtime: Runtime) -> None:
    """A shop order is gone: the shop said it deleted (or trashed) it, or fetching it answered 404.

    Every implementation is called (results ignored). Stop whatever waits on the order (the shipping
    notifications stop polling it). Called at most once per webhook delivery, but again for a repeated
    delivery or a later 404: make it safe to repeat.

    :param shop_connection_id: the shop connection.
    :param order_external_id: the shop's id of the order.
    :param runtime: the runtime processing the event.
    """


@hookspec
def connector_inbound_message(channel_connection_id: int, message: Inbound, runtime: Runtime) -> None:
    """A customer message arrived on a channel (text, reply, cart, location, ...).

    Called by the worker once per message id, however often the channel redelivers it; every
    implementation is called (results ignored). The message is stored before the hook runs; if the
    worker dies or an implementation raises before the webhook's task is done, the task's next run
    calls the hook again for the same message, so nothing a customer wrote goes unanswered. Make what
    you do safe to repeat: e.g. enqueue work with an idempotency key made from ``message.message_id``.

    :param channel_connection_id: the channel connection that received it.
    :param message: the canonical inbound message.
    :param runtime: the runtime processing it (to reply: ``connector.chat.messages.queue_message(runtime, ...)``).
    """


@hookspec
def connector_notification_sent(
    channel_connection_id: int, message_id: int, channel_message_id: str, kind: str, runtime: Runtime
) -> None:
    """A message from the outbox was accepted by the channel.

    Every implementation is called (results ignored).

    :param channel_connection_id: the channel connection it went out on.
    :param message_id: our outbox row id.
    :param channel_message_id: the channel's id for it (wamid, mid).
    :param kind: what the message was for (``test``, ``order_shipped``, ``back_in_stock``...).
    :param runtime: the runtime that sent it.
    """


def all_hook_names() -> list[str]:
    """Names of every hook spec, in declaration order."""
    return [name for name, value in globals().items() if name.startswith("connector_") and callable(value)]
