"""Shop and channel connections: creating them with validated, encrypted settings, testing them, and
building their adapters."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select

from connector.adapters import CatalogPublisher, ChannelAdapter, ConnectionInfo, ShopAdapter
from connector.db.models import ChannelConnection, ShopConnection
from connector.errors import ConnectionTestError, NotFound, PlatformError, SettingsError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime


#: How long a connection row read to build its adapter or ref is reused. Every task of a chat order needs an
#: adapter (the webhook, the conversation, the send), and on SQLite every transaction, reads too, queues for the
#: one write lock: a settings change made by another process takes effect within this time (and the one read that
#: refreshes it, see :meth:`ConnectionService._row`), one made through this service
#: (:meth:`ConnectionService.delete`, :meth:`ConnectionService.invalidate`) at once.
ROW_TTL = 1.0


@dataclass(frozen=True, slots=True)
class ConnectionRef:
    """Which connection something concerns: passed to webhook hooks so plugins know where a request came in."""

    kind: Literal["shop", "channel"]
    id: int
    adapter: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class CatalogTarget:
    """A catalog to sync a shop into: the channel connection that owns the sync state, and its publisher."""

    channel_connection_id: int
    publisher: CatalogPublisher


class StoredCredentials:
    """A connection's settings in the database, for an adapter that refreshes its own tokens."""

    def __init__(self, service: ConnectionService, kind: Literal["shop", "channel"], connection_id: int):
        self.service = service
        self.kind = kind
        self.connection_id = connection_id

    def load(self) -> dict[str, Any]:
        """The settings as stored now (not the cached row: another process may have refreshed the token)."""
        row = (
            self.service.get_shop(self.connection_id)
            if self.kind == "shop"
            else self.service.get_channel(self.connection_id)
        )
        return self.service.settings_of(row)

    def save(self, changes: Mapping[str, Any]) -> None:
        """Store the changed settings, encrypted; the adapter is rebuilt from them on its next use."""
        self.service.update_settings(self.kind, self.connection_id, changes)


def _get(session: Session, kind: Literal["shop", "channel"], connection_id: int) -> ShopConnection | ChannelConnection:
    """The connection's row in ``session``. Raises :class:`NotFound`."""
    row: ShopConnection | ChannelConnection | None = (
        session.get(ShopConnection, connection_id) if kind == "shop" else session.get(ChannelConnection, connection_id)
    )
    if row is None:
        raise NotFound(f"no {kind} connection {connection_id}", status=404)
    return row


class ConnectionService:
    """Everything about connections that is not HTTP: used by the CLI, the admin API and the worker."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._adapters: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._rows: dict[tuple[str, int], tuple[float, ShopConnection | ChannelConnection]] = {}
        self._channel_list: tuple[float, list[tuple[int, str, bool]]] | None = None
        self._lock = threading.Lock()
        #: Per connection: held by the thread reading its row again (see :meth:`_row`).
        self._reading: dict[tuple[str, int], threading.Lock] = {}

    # ------------------------------------------------------------------ settings

    def _split(self, fields: Any, cleaned: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        secret_names = {f.name for f in fields if f.secret}
        public = {k: v for k, v in cleaned.items() if k not in secret_names}
        secret = {k: v for k, v in cleaned.items() if k in secret_names and v is not None}
        return public, (self.runtime.secrets.encrypt(secret) if secret else None)

    def settings_of(self, row: ShopConnection | ChannelConnection) -> dict[str, Any]:
        """The connection's full settings, secrets decrypted."""
        values = dict(row.settings or {})
        if row.secrets:
            values.update(self.runtime.secrets.decrypt(row.secrets))
        return values

    # ------------------------------------------------------------------ create / list / delete

    def shop_adapter_class(self, platform: str) -> type[ShopAdapter]:
        try:
            return self.runtime.plugins.shop_adapters[platform]
        except KeyError:
            known = ", ".join(sorted(self.runtime.plugins.shop_adapters)) or "none"
            raise SettingsError(
                {"platform": f"no shop plugin named {platform!r} is installed (installed: {known})"}
            ) from None

    def channel_adapter_class(self, channel: str) -> type[ChannelAdapter]:
        try:
            return self.runtime.plugins.channel_adapters[channel]
        except KeyError:
            known = ", ".join(sorted(self.runtime.plugins.channel_adapters)) or "none"
            raise SettingsError(
                {"channel": f"no channel plugin named {channel!r} is installed (installed: {known})"}
            ) from None

    def create_shop(
        self,
        *,
        name: str,
        platform: str,
        settings: Mapping[str, Any],
        workspace: int | str | None = None,
        **options: Any,
    ) -> ShopConnection:
        """Validate and store a shop connection in ``workspace`` (id or name; default: the request's, or the only
        one, see :func:`connector.workspaces.resolve`). Raises :class:`SettingsError` naming each bad field."""
        from connector.workspaces import resolve

        cls = self.shop_adapter_class(platform)
        cleaned = cls.validate_settings(settings)
        public, secret = self._split(cls.config_fields, cleaned)
        with self.runtime.db.session() as session:
            row = ShopConnection(
                name=name or cls.label,
                platform=platform,
                settings=public,
                secrets=secret,
                workspace_id=resolve(session, workspace),
                **options,
            )
            session.add(row)
            session.flush()
        return row

    def create_channel(
        self, *, shop_connection_id: int, name: str, channel: str, settings: Mapping[str, Any]
    ) -> ChannelConnection:
        cls = self.channel_adapter_class(channel)
        cleaned = cls.validate_settings(settings)
        public, secret = self._split(cls.config_fields, cleaned)
        with self.runtime.db.session() as session:
            if session.get(ShopConnection, shop_connection_id) is None:
                raise SettingsError({"shop_connection_id": f"no shop connection {shop_connection_id}"})
            row = ChannelConnection(
                shop_connection_id=shop_connection_id,
                name=name or cls.label,
                channel=channel,
                settings=public,
                secrets=secret,
            )
            session.add(row)
            session.flush()
        self._channel_list = None
        return row

    def channel_list(self) -> list[tuple[int, str, bool]]:
        """``(id, channel, enabled)`` of every channel connection, read at most once per :data:`ROW_TTL` (the
        app-level Meta webhook URL looks for its connections on every delivery)."""
        now = time.monotonic()
        cached = self._channel_list
        if cached is not None and cached[0] > now:
            return cached[1]
        with self.runtime.db.session() as session:
            rows = session.execute(
                select(ChannelConnection.id, ChannelConnection.channel, ChannelConnection.enabled).order_by(
                    ChannelConnection.id
                )
            ).all()
        found = [(int(i), str(channel), bool(enabled)) for i, channel, enabled in rows]
        self._channel_list = (now + ROW_TTL, found)
        return found

    def shops(self, *, workspace_id: int | None = None) -> list[ShopConnection]:
        """Every shop connection (of one workspace), oldest first."""
        with self.runtime.db.session() as session:
            query = select(ShopConnection).order_by(ShopConnection.id)
            if workspace_id is not None:
                query = query.where(ShopConnection.workspace_id == workspace_id)
            return list(session.scalars(query))

    def channels(
        self, shop_connection_id: int | None = None, *, workspace_id: int | None = None
    ) -> list[ChannelConnection]:
        """Every channel connection (of one shop, of one workspace), oldest first."""
        with self.runtime.db.session() as session:
            query = select(ChannelConnection).order_by(ChannelConnection.id)
            if shop_connection_id is not None:
                query = query.where(ChannelConnection.shop_connection_id == shop_connection_id)
            if workspace_id is not None:
                query = query.where(
                    ChannelConnection.shop_connection_id.in_(
                        select(ShopConnection.id).where(ShopConnection.workspace_id == workspace_id)
                    )
                )
            return list(session.scalars(query))

    def get_shop(self, shop_id: int) -> ShopConnection:
        with self.runtime.db.session() as session:
            row = session.get(ShopConnection, shop_id)
        if row is None:
            raise NotFound(f"no shop connection {shop_id}", status=404)
        return row

    def get_channel(self, channel_id: int) -> ChannelConnection:
        with self.runtime.db.session() as session:
            row = session.get(ChannelConnection, channel_id)
        if row is None:
            raise NotFound(f"no channel connection {channel_id}", status=404)
        return row

    def update_settings(
        self,
        kind: Literal["shop", "channel"],
        connection_id: int,
        changes: Mapping[str, Any],
        *,
        name: str | None = None,
    ) -> ShopConnection | ChannelConnection:
        """Change some of a connection's settings (a new access token, another API version) and keep the rest: the
        merged settings are validated like new ones, secrets encrypted again. The connection keeps its id, so its
        webhook URL, contacts, orders and outbox stay. Raises :class:`NotFound` or :class:`SettingsError`."""
        with self.runtime.db.session() as session:
            row = _get(session, kind, connection_id)
            cls: type[ShopAdapter] | type[ChannelAdapter] = (
                self.shop_adapter_class(row.platform)
                if isinstance(row, ShopConnection)
                else self.channel_adapter_class(row.channel)
            )
            known = {f.name for f in cls.config_fields}
            unknown = sorted(set(changes) - known)
            if unknown:
                raise SettingsError({key: f"{cls.label} has no setting {key!r}" for key in unknown})
            cleaned = cls.validate_settings({**self.settings_of(row), **changes})
            row.settings, row.secrets = self._split(cls.config_fields, cleaned)
            if name:
                row.name = name
            session.flush()
        self.invalidate(kind, connection_id)
        return row

    def delete(self, kind: Literal["shop", "channel"], connection_id: int) -> None:
        model = ShopConnection if kind == "shop" else ChannelConnection
        with self.runtime.db.session() as session:
            row = session.get(model, connection_id)
            if row is None:
                raise NotFound(f"no {kind} connection {connection_id}", status=404)
            session.delete(row)
        self.invalidate(kind, connection_id)

    def invalidate(self, kind: Literal["shop", "channel"], connection_id: int) -> None:
        """Forget the cached row and adapter of a connection changed or deleted in this process (the next use reads
        it again)."""
        with self._lock:
            self._rows.pop((kind, connection_id), None)
            self._adapters.pop((kind, connection_id), None)
            if kind == "channel":
                self._channel_list = None

    # ------------------------------------------------------------------ adapters

    def _row(
        self, kind: Literal["shop", "channel"], connection_id: int, session: Session | None = None
    ) -> ShopConnection | ChannelConnection:
        """The connection's row, read at most once per :data:`ROW_TTL` (a detached row: read it, never change it).
        Raises :class:`NotFound`. ``session``: read it there (a caller inside a transaction: on SQLite a second
        one in the same thread would wait for the write lock its own first one holds)."""
        key = (kind, connection_id)
        hit = self._rows.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        if session is not None:
            # Inside the caller's transaction: never wait for another thread's read (on SQLite that read would
            # wait for the write lock this transaction holds).
            row = _get(session, kind, connection_id)
            with self._lock:
                self._rows[key] = (time.monotonic() + ROW_TTL, row)
            return row
        # One thread reads it again (on SQLite that read queues for the write lock); the others meanwhile use the
        # row they had, or, with none (first use, invalidated), wait for that read.
        reading = self._reading.setdefault(key, threading.Lock())
        if not reading.acquire(blocking=hit is None):
            assert hit is not None
            return hit[1]
        try:
            hit = self._rows.get(key)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]  # read by the thread this one waited for
            row = self.get_shop(connection_id) if kind == "shop" else self.get_channel(connection_id)
            with self._lock:
                self._rows[key] = (time.monotonic() + ROW_TTL, row)
            return row
        finally:
            reading.release()

    def _adapter(self, kind: str, row: ShopConnection | ChannelConnection, cls: type) -> Any:
        # One adapter per connection, rebuilt when its stored settings change.
        key = (kind, row.id)
        version = (dict(row.settings or {}), row.secrets)
        with self._lock:
            cached = self._adapters.get(key)
            if cached is not None and cached[0] == version:
                return cached[1]
            adapter = cls(self.settings_of(row))
            bind = getattr(adapter, "bind_credential_store", None)
            if bind is not None:
                bind(StoredCredentials(self, kind, row.id))  # type: ignore[arg-type]
            self._adapters[key] = (version, adapter)
            return adapter

    def shop_adapter(self, shop_id: int) -> ShopAdapter:
        """The shop connection's adapter (one per connection, rebuilt when its settings change; see :data:`ROW_TTL`)."""
        row = self._row("shop", shop_id)
        assert isinstance(row, ShopConnection)
        return self._adapter("shop", row, self.shop_adapter_class(row.platform))

    def channel_adapter(self, channel_id: int) -> ChannelAdapter:
        """The channel connection's adapter (as :meth:`shop_adapter`)."""
        row = self._row("channel", channel_id)
        assert isinstance(row, ChannelConnection)
        return self._adapter("channel", row, self.channel_adapter_class(row.channel))

    def adapter(
        self, kind: Literal["shop", "channel"], connection_id: int, session: Session | None = None
    ) -> ShopAdapter | ChannelAdapter:
        """:meth:`shop_adapter` or :meth:`channel_adapter`, by ``kind`` (``session``: see :meth:`_row`)."""
        row = self._row(kind, connection_id, session)
        if isinstance(row, ShopConnection):
            return self._adapter("shop", row, self.shop_adapter_class(row.platform))
        return self._adapter("channel", row, self.channel_adapter_class(row.channel))

    def ref(
        self, kind: Literal["shop", "channel"], connection_id: int, session: Session | None = None
    ) -> ConnectionRef:
        """Which connection ``connection_id`` is (see :data:`ROW_TTL`; ``session``: see :meth:`_row`). Raises
        :class:`NotFound`."""
        row = self._row(kind, connection_id, session)
        if isinstance(row, ShopConnection):
            return ConnectionRef("shop", row.id, row.platform, row.name)
        return ConnectionRef("channel", row.id, row.channel, row.name)

    def test(self, kind: Literal["shop", "channel"], connection_id: int) -> ConnectionInfo:
        """Make one live call with the stored credentials. Raises :class:`ConnectionTestError` saying what to fix."""
        adapter = self.adapter(kind, connection_id)
        try:
            return adapter.test_connection()
        except ConnectionTestError:
            raise
        except PlatformError as exc:
            raise ConnectionTestError(str(exc)) from exc

    def catalog_targets(self, shop_id: int) -> list[CatalogTarget]:
        """The catalogs this shop syncs into: one per distinct catalog id, owned by the first channel that shows it.

        Instagram, Messenger and WhatsApp connections that show the same Meta catalog share one sync.
        """
        targets: dict[str, CatalogTarget] = {}
        for channel in self.channels(shop_id):
            if not channel.enabled:
                continue
            publisher = self.channel_adapter(channel.id).catalog()
            if publisher is not None and publisher.catalog_id not in targets:
                targets[publisher.catalog_id] = CatalogTarget(channel.id, publisher)
        return list(targets.values())

    def webhook_url(self, adapter: str, connection_id: int) -> str:
        return f"{self.runtime.config.public_url}/webhooks/{adapter}/{connection_id}"

    def meta_app_webhook_url(self) -> str:
        """The one callback URL for every number, Page and Instagram account of a Meta app (routed by id)."""
        return f"{self.runtime.config.public_url}/webhooks/meta"
