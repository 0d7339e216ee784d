"""Finding, loading and calling plugins.

Built-in plugins and third-party plugins load the same way: through the ``connector`` entry-point
group. :class:`Plugins` wraps pluggy's manager with one typed method per hook, so core code calls
``plugins.stock_changed(...)`` and never ``pm.hook`` with loose keyword arguments.

Environment switches:

* ``CONNECTOR_DISABLED_PLUGINS=a,b``: block these plugins (by entry-point name) before loading.
* ``CONNECTOR_TRACE_PLUGINS=1``: log every hook call with its arguments and results.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from connector import hookspecs
from connector.errors import ConfigError

if TYPE_CHECKING:
    import click
    import flask

    from connector.adapters import ChannelAdapter, ConfigField, ParsedWebhook, ShopAdapter, WebhookRequest
    from connector.connections import ConnectionRef
    from connector.model import Inbound, Order, ShopEvent
    from connector.runtime import Runtime
    from connector.sandbox.base import Sandbox
    from connector.sync.catalog import SyncSummary
    from connector.work.scheduler import JobRegistry

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "connector"
#: Distributions listed as ``built-in``: the core and the plugins shipped with it, each a distribution of its
#: own in ``plugins/<name>/`` (named ``chatshop-connector-<name>``).
BUILT_IN_DISTRIBUTIONS = frozenset(
    {"chatshop-connector"}
    | {f"chatshop-connector-{name}" for name in ("shopify", "woocommerce", "shopware", "meta", "whatsapp", "messenger")}
)

#: Parts of the core written as plugins (datasette's DEFAULT_PLUGINS): always registered, never disabled.
ESSENTIAL_PLUGINS = (
    "connector.housekeeping",
    "connector.notify.plugin",
    "connector.campaigns.plugin",
    "connector.conversation.plugin",
    "connector.dashboard.plugin",
    "connector.cluster.plugin",
)


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """What ``connector plugins`` shows about one loaded plugin."""

    name: str
    kinds: tuple[str, ...]  # "shop", "channel", "sandbox", "extension"
    adapters: tuple[str, ...]
    distribution: str | None
    version: str | None
    source: str  # "built-in", "pip", or "registered" (added in code, e.g. by a test)
    hooks: tuple[str, ...]


class Plugins:
    """The loaded plugins and a typed facade over their hooks."""

    def __init__(self, *, disabled: Iterable[str] = (), load_entry_points: bool = True):
        self.pm = pluggy.PluginManager("connector")
        self.pm.add_hookspecs(hookspecs)
        for name in disabled:
            self.pm.set_blocked(name)
        if os.environ.get("CONNECTOR_TRACE_PLUGINS"):
            self.pm.trace.root.setwriter(log.info)
            self.pm.enable_tracing()
        for module in ESSENTIAL_PLUGINS:
            self.pm.register(importlib.import_module(module), name=module)
        if load_entry_points:
            self.pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        # A misspelled hook name fails here, at start-up, not silently at run time.
        self.pm.check_pending()
        self._shop_adapters: dict[str, type[ShopAdapter]] | None = None
        self._channel_adapters: dict[str, type[ChannelAdapter]] | None = None
        self._register_outbound_types()

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register a plugin object in code (tests, embedding). Clears cached adapter registries."""
        result = self.pm.register(plugin, name=name)
        self.pm.check_pending()
        self._shop_adapters = self._channel_adapters = None
        self._register_outbound_types()
        return result

    def unregister(self, plugin: object | None = None, name: str | None = None) -> None:
        self.pm.unregister(plugin, name=name)
        self._shop_adapters = self._channel_adapters = None

    # ----------------------------------------------------------------- adapters

    def _register_outbound_types(self) -> None:
        """Make every channel adapter's ``outbound_types`` storable (:func:`connector.serialization.register_types`).

        Done as plugins load, before any worker reads an outbox row a channel plugin's message type is in. Goes
        through the adapter hook directly: a name clash is reported where the adapters are indexed, not here."""
        from connector.serialization import register_types

        for group in self.pm.hook.connector_register_channel_adapters():
            for cls in group or ():
                register_types(*getattr(cls, "outbound_types", ()))

    @staticmethod
    def _index(classes: Iterable[Sequence[Any]], kind: str) -> dict[str, Any]:
        index: dict[str, Any] = {}
        for group in classes:
            for cls in group or ():
                if cls.name in index and index[cls.name] is not cls:
                    raise ConfigError(f"two plugins provide a {kind} adapter named {cls.name!r}")
                index[cls.name] = cls
        return index

    @property
    def shop_adapters(self) -> dict[str, type[ShopAdapter]]:
        """Shop adapter classes by name (``connector_register_shop_adapters``)."""
        if self._shop_adapters is None:
            self._shop_adapters = self._index(self.pm.hook.connector_register_shop_adapters(), "shop")
        return self._shop_adapters

    @property
    def channel_adapters(self) -> dict[str, type[ChannelAdapter]]:
        """Channel adapter classes by name (``connector_register_channel_adapters``)."""
        if self._channel_adapters is None:
            self._channel_adapters = self._index(self.pm.hook.connector_register_channel_adapters(), "channel")
        return self._channel_adapters

    def sandboxes(self) -> dict[str, type[Sandbox]]:
        """Sandbox classes by name (``connector_register_sandboxes``)."""
        return self._index(self.pm.hook.connector_register_sandboxes(), "sandbox")

    def config_fields(self) -> dict[str, list[ConfigField]]:
        """Each plugin's own settings, by plugin name (``connector_config_fields``)."""
        fields: dict[str, list[ConfigField]] = {}
        # Called once per plugin (a subset caller holding just that plugin), not combined, so each field stays
        # attached to the plugin that declared it.
        everyone = [plugin for _name, plugin in self.pm.list_name_plugin() if plugin is not None]
        for impl in self.pm.hook.connector_config_fields.get_hookimpls():
            others = [p for p in everyone if p is not impl.plugin]
            results = self.pm.subset_hook_caller("connector_config_fields", remove_plugins=others)()
            declared = [field for group in results for field in (group or ())]
            if declared:
                fields[impl.plugin_name] = declared
        return fields

    def template_dirs(self) -> list[str]:
        """Template folders contributed by plugins (``connector_template_dirs``), highest priority first."""
        return [d for group in self.pm.hook.connector_template_dirs() for d in (group or ())]

    def chat_intents(self) -> list[Any]:
        """Extra conversation intents from plugins (``connector_chat_intents``)."""
        return [i for group in self.pm.hook.connector_chat_intents() for i in (group or ())]

    # ----------------------------------------------------------------- wiring

    def doctor_checks(self, runtime: Runtime) -> list[Any]:
        """Plugins' findings for ``connector doctor`` (``connector_doctor_checks``)."""
        return [c for group in self.pm.hook.connector_doctor_checks(runtime=runtime) for c in (group or ())]

    def register_blueprints(self, app: flask.Flask) -> list[flask.Blueprint]:
        return [bp for group in self.pm.hook.connector_register_blueprints(app=app) for bp in (group or ())]

    def register_cli(self, cli: click.Group) -> None:
        self.pm.hook.connector_register_cli(cli=cli)

    def register_jobs(self, jobs: JobRegistry, runtime: Runtime) -> None:
        self.pm.hook.connector_register_jobs(jobs=jobs, runtime=runtime)

    # ----------------------------------------------------------------- webhooks

    def verify_webhook(self, connection: ConnectionRef, request: WebhookRequest) -> bool | None:
        return self.pm.hook.connector_verify_webhook(connection=connection, request=request)

    def parse_webhook(self, connection: ConnectionRef, request: WebhookRequest) -> ParsedWebhook | None:
        return self.pm.hook.connector_parse_webhook(connection=connection, request=request)

    # ----------------------------------------------------------------- events

    def catalog_changed(
        self, runtime: Runtime, shop_connection_id: int, channel_connection_id: int, summary: SyncSummary
    ) -> None:
        self.pm.hook.connector_catalog_changed(
            shop_connection_id=shop_connection_id,
            channel_connection_id=channel_connection_id,
            summary=summary,
            runtime=runtime,
        )

    def stock_changed(
        self,
        runtime: Runtime,
        shop_connection_id: int,
        variant_external_id: str,
        old_quantity: int | None,
        new_quantity: int | None,
    ) -> None:
        self.pm.hook.connector_stock_changed(
            shop_connection_id=shop_connection_id,
            variant_external_id=variant_external_id,
            old_quantity=old_quantity,
            new_quantity=new_quantity,
            runtime=runtime,
        )

    def order_status_changed(self, runtime: Runtime, shop_connection_id: int, order: Order, event: ShopEvent) -> None:
        self.pm.hook.connector_order_status_changed(
            shop_connection_id=shop_connection_id, order=order, event=event, runtime=runtime
        )

    def order_deleted(self, runtime: Runtime, shop_connection_id: int, order_external_id: str) -> None:
        self.pm.hook.connector_order_deleted(
            shop_connection_id=shop_connection_id, order_external_id=order_external_id, runtime=runtime
        )

    def inbound_message(self, runtime: Runtime, channel_connection_id: int, message: Inbound) -> None:
        self.pm.hook.connector_inbound_message(
            channel_connection_id=channel_connection_id, message=message, runtime=runtime
        )

    def notification_sent(
        self, runtime: Runtime, channel_connection_id: int, message_id: int, channel_message_id: str, kind: str
    ) -> None:
        self.pm.hook.connector_notification_sent(
            channel_connection_id=channel_connection_id,
            message_id=message_id,
            channel_message_id=channel_message_id,
            kind=kind,
            runtime=runtime,
        )

    # ----------------------------------------------------------------- listing

    def describe(self) -> list[PluginInfo]:
        """Every registered plugin with its distribution, version and what it contributes."""
        dists = {id(plugin): dist for plugin, dist in self.pm.list_plugin_distinfo()}
        infos = []
        for name, plugin in sorted(self.pm.list_name_plugin(), key=lambda item: item[0]):
            if plugin is None or name.startswith("connector."):  # blocked, or part of the core
                continue
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
            kinds: list[str] = []
            adapters: list[str] = []
            for hook, kind in (
                ("connector_register_shop_adapters", "shop"),
                ("connector_register_channel_adapters", "channel"),
            ):
                if hook in hooks:
                    kinds.append(kind)
                    adapters.extend(cls.name for cls in (getattr(plugin, hook)() or ()))
            if "connector_register_sandboxes" in hooks:
                kinds.append("sandbox")
            if not kinds:
                kinds.append("extension")
            dist = dists.get(id(plugin))
            dist_name = dist.metadata["Name"] if dist is not None else None
            if dist is None:
                source = "registered"
            elif dist_name in BUILT_IN_DISTRIBUTIONS:
                source = "built-in"
            else:
                source = "pip"
            infos.append(
                PluginInfo(
                    name=name,
                    kinds=tuple(kinds),
                    adapters=tuple(adapters),
                    distribution=dist_name,
                    version=dist.version if dist is not None else None,
                    source=source,
                    hooks=hooks,
                )
            )
        return infos


def installed_entry_points() -> list[importlib.metadata.EntryPoint]:
    """Entry points in the ``connector`` group, whether or not they are loaded."""
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
