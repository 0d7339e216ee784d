"""The database schema, as SQLAlchemy 2.0 typed models.

Multi-tenant: a :class:`Workspace` owns shop connections, dashboard users and API tokens; everything else hangs off
a shop connection (channels, catalog, contacts, messages, orders, runs) and so belongs to its shop's workspace.
Change a model only together with a new Alembic revision in ``connector/migrations/versions``
(``tests/test_migrations.py`` fails when they disagree).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql import false
from sqlalchemy.types import TypeDecorator

from connector.db.encrypted import EncryptedBytes, EncryptedJSON, box_of
from connector.privacy.identifiers import subjects


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        # Other databases than SQLite (which binds with _sqlite_utc_text, see bind_processor) take aware datetimes.
        return None if value is None else _in_utc(value)

    def bind_processor(self, dialect: Any) -> Callable[[Any], Any] | None:
        """On SQLite, one function from an aware datetime to the text SQLAlchemy's ``DATETIME`` stores
        (``2026-12-08 02:19:24.569803``: UTC, microseconds always written). SQLAlchemy's own chain (this type's
        :meth:`process_bind_param`, then ``DATETIME`` filling a %-format from a dict of seven fields) cost about
        9 µs a value, 8% of a fan-out worker's GIL samples (every outbox row binds several); ``isoformat`` writes
        the same text in C. Other databases bind through :meth:`process_bind_param` as before."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_utc_text

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in_utc(value: datetime) -> datetime:
    """``value`` in UTC; refuses a naive datetime (no tzinfo, or one that does not know its offset)."""
    if value.utcoffset() is None:
        raise ValueError("naive datetime given; use datetime.now(UTC)")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """An aware datetime as SQLite stores it (see :meth:`UTCDateTime.bind_processor`)."""
    if value is None:
        return None
    # An aware isoformat ends in "+00:00"; the 26 characters before it are the naive UTC text.
    return _in_utc(value).isoformat(" ", "microseconds")[:26]


# Stable constraint names, so migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}

    if TYPE_CHECKING:
        # Every model here is mapped to one Table (SQLAlchemy types it as any FromClause, which has no insert()).
        __table__: ClassVar[Table]


# --------------------------------------------------------------------------- connections

#: The workspace the migration creates and moves every existing row into (a single-shop install has only it).
DEFAULT_WORKSPACE_ID = 1


class Workspace(Base):
    """The tenant: an agency's or a host's customer. Shop connections, dashboard users and API tokens belong to one;
    a user or token sees only its workspace's shops and what belongs to them (:mod:`connector.api.scope`)."""

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: Its owners may also change what is deployment-wide (plugin settings, scheduled jobs, ``/metrics``); the
    #: default workspace is the operator's.
    operator: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShopConnection(Base):
    """A shop on one platform, in one workspace: channels, items, contacts and runs belong to one."""

    __tablename__ = "shop_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Defaults to the migration's workspace (the operator's) for rows made directly; the services name it.
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="RESTRICT"), index=True, default=DEFAULT_WORKSPACE_ID
    )
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(64))
    #: Non-secret settings as given (shop URL, API version...).
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Secret settings as one Fernet token of their JSON.
    secrets: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Why the platform side changed the connection's state (app uninstalled, deactivated in the shop's admin),
    #: shown on the dashboard; ``None`` when the owner's own settings say all there is.
    status_note: Mapped[str | None] = mapped_column(String(300))
    delta_interval_minutes: Mapped[int | None] = mapped_column(Integer)
    full_sync_at: Mapped[str | None] = mapped_column(String(5))
    #: Where the last incremental read ended (the shop's updated-at clock).
    delta_cursor: Mapped[datetime | None]
    #: Every variant change stored before this time has reached every catalog: an incremental sync only
    #: looks at variants changed since (a killed run does not move it, so its changes are looked at again).
    pushed_through: Mapped[datetime | None]
    #: A lease held by the sync running now: two syncs of one shop never run at once.
    sync_lease_until: Mapped[datetime | None]
    sync_lease_owner: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    channels: Mapped[list[ChannelConnection]] = relationship(
        back_populates="shop", cascade="all, delete-orphan", passive_deletes=True
    )


class ChannelConnection(Base):
    """A messaging channel (one WhatsApp number, one Messenger page...) serving one shop."""

    __tablename__ = "channel_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_connection_id: Mapped[int] = mapped_column(ForeignKey("shop_connections.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    shop: Mapped[ShopConnection] = relationship(back_populates="channels")


class PluginSetting(Base):
    """A plugin's own setting changed at run time (dashboard); the config file gives the defaults."""

    __tablename__ = "plugin_settings"
    __table_args__ = (UniqueConstraint("plugin", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plugin: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(100))
    value: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Set instead of ``value`` for secret fields: a Fernet token.
    secret: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiToken(Base):
    """A bearer token for the admin API. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: ``read`` (GET/HEAD/OPTIONS only) or ``write`` (everything).
    scope: Mapped[str] = mapped_column(String(10), default="write", server_default="write")
    #: The workspace whose shops the token sees (:mod:`connector.api.scope`).
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    #: ``owner`` (every operation) or ``agent`` (contacts only), as for dashboard users (:mod:`connector.roles`).
    role: Mapped[str] = mapped_column(String(16), default="owner", server_default="owner")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Written at most once a minute (see :mod:`connector.api.auth`).
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    #: The one shop connection the token may see (:mod:`connector.api.scope`); ``NULL``: all. Deleting the shop
    #: deletes its tokens (never widens them to all shops).
    shop_connection_id: Mapped[int | None] = mapped_column(ForeignKey("shop_connections.id", ondelete="CASCADE"))


class InstallState(Base):
    """A one-time ``state`` of an approval flow (Shopify OAuth, WooCommerce's wc-auth, Shopware's registration):
    issued when the flow starts, consumed once when the platform comes back. A replayed or stale state is refused."""

    __tablename__ = "install_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(100), unique=True)
    platform: Mapped[str] = mapped_column(String(64))
    #: What the flow is about: the shop domain or store URL the owner typed.
    subject: Mapped[str] = mapped_column(String(300))
    #: Flow data kept between the legs (the connection name, the outcome). A secret in it is encrypted by the flow
    #: (the row lives minutes, so key rotation need not visit it).
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


# --------------------------------------------------------------------------- catalog


class ShopVariant(Base):
    """The last state read from the shop for one variant: the synced catalog chat search works on."""

    __tablename__ = "shop_variants"
    __table_args__ = (
        UniqueConstraint("shop_connection_id", "external_id"),
        Index("ix_shop_variants_product", "shop_connection_id", "product_external_id"),
        Index("ix_shop_variants_changed", "shop_connection_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_connection_id: Mapped[int] = mapped_column(ForeignKey("shop_connections.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    product_external_id: Mapped[str] = mapped_column(String(255))
    sku: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500))
    #: The canonical variant as JSON (connector.serialization).
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    stock_quantity: Mapped[int | None] = mapped_column(Integer)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    #: False once the variant is gone from the shop or unpublished: it must leave the catalogs.
    listed: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The sync run that last saw it in a full read (finds what disappeared).
    seen_run_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogItem(Base):
    """One item in one channel connection's commerce catalog, with what we last pushed and why it is (not) in sync."""

    __tablename__ = "catalog_items"
    __table_args__ = (
        UniqueConstraint("channel_connection_id", "retailer_id"),
        UniqueConstraint("channel_connection_id", "shop_variant_id"),
        Index("ix_catalog_items_status", "channel_connection_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_connection_id: Mapped[int] = mapped_column(ForeignKey("channel_connections.id", ondelete="CASCADE"))
    shop_variant_id: Mapped[int] = mapped_column(ForeignKey("shop_variants.id", ondelete="CASCADE"))
    retailer_id: Mapped[str] = mapped_column(String(255))
    #: ``ShopVariant.content_hash`` at the time of the last push; differs => the item needs a push.
    source_hash: Mapped[str | None] = mapped_column(String(64))
    #: The fields last pushed (what the catalog should hold now).
    pushed_fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: ``pending`` (sent, batch not checked), ``synced``, ``error`` (catalog refused it), ``invalid`` (our own
    #: validation refused it before sending), ``deleted``.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    batch_handle: Mapped[str | None] = mapped_column(String(255))
    pushed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncRun(Base):
    """One catalog sync: when, why, what it did, and how it ended."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_shop_started", "shop_connection_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_connection_id: Mapped[int] = mapped_column(ForeignKey("shop_connections.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(16))  # full | delta | items
    trigger: Mapped[str] = mapped_column(String(32))  # manual | schedule | webhook | demo | api
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | succeeded | failed | interrupted
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    read: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    write_calls: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)


# --------------------------------------------------------------------------- webhooks and chat


def _payload_subjects(context: DefaultExecutionContext) -> str:
    """A stored webhook's blind index, computed from the body of the same INSERT (ORM or Core)."""
    return subjects(box_of(context.dialect), context.get_current_parameters().get("body"))


def _carries_referral(context: DefaultExecutionContext) -> bool:
    """Whether a stored message carries a referral (ad, link, post): the dashboard's "came from" filter."""
    data = context.get_current_parameters().get("data")
    return isinstance(data, dict) and isinstance(data.get("referral"), dict) and bool(data["referral"])


class WebhookEvent(Base):
    """A webhook as received, stored before we answer the platform, once per delivery id."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("connection_kind", "connection_id", "delivery_id"),
        Index("ix_webhook_events_received", "received_at"),
        # The in-doubt rule's "has this channel delivered anything lately?" (connector.chat.messages).
        Index("ix_webhook_events_connection_received", "connection_kind", "connection_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_kind: Mapped[str] = mapped_column(String(16))
    connection_id: Mapped[int] = mapped_column(Integer)
    adapter: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    url: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON)
    query: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The raw payload, encrypted (:mod:`connector.db.encrypted`).
    body: Mapped[bytes] = mapped_column(EncryptedBytes)
    #: Blind index of the people the payload names (:mod:`connector.privacy.identifiers`), for export and erasure.
    subjects: Mapped[str | None] = mapped_column(Text, default=_payload_subjects)
    status: Mapped[str] = mapped_column(String(16), default="received")  # received | processed | failed
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class Contact(Base):
    """Someone we chat with on one channel connection."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("channel_connection_id", "channel_user_id"),
        Index("ix_contacts_user_id", "channel_connection_id", "user_id"),
        Index("ix_contacts_phone", "channel_connection_id", "phone"),
        # A campaign's chunks: one number's contacts in id order from a cursor (connector.campaigns).
        Index("ix_contacts_channel_id", "channel_connection_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_connection_id: Mapped[int] = mapped_column(ForeignKey("channel_connections.id", ondelete="CASCADE"))
    #: How the channel addresses them: a WhatsApp number (digits), else a business-scoped user id, a PSID, an IGSID.
    channel_user_id: Mapped[str] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32))
    #: WhatsApp's business-scoped user id (``US.1349...``, 2026) when known: a customer known by phone who later
    #: writes with their number hidden is found by it.
    user_id: Mapped[str | None] = mapped_column(String(140))
    name: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str | None] = mapped_column(String(16))
    #: When they last wrote to us: the 24-hour customer service window runs from here.
    last_inbound_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: No marketing to them before this time, and why (WhatsApp 131049: resending within 24 h can block the account).
    marketing_paused_until: Mapped[datetime | None]
    marketing_paused_reason: Mapped[str | None] = mapped_column(Text)
    #: The channel reported them unreachable (WhatsApp 131026 and family) at this time, and why; cleared when they
    #: write to us. Notifications are skipped with this reason meanwhile.
    unreachable_at: Mapped[datetime | None]
    unreachable_reason: Mapped[str | None] = mapped_column(Text)
    #: Why the phone number a shop order gave for them is unusable (not a number, not valid for the order's
    #: country, national with no country); ``None`` when usable. Nothing is ever sent to a flagged contact.
    phone_problem: Mapped[str | None] = mapped_column(Text)


class InboundMessage(Base):
    """A customer message, stored once per channel message id however often the channel redelivers it."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("channel_connection_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_connection_id: Mapped[int] = mapped_column(ForeignKey("channel_connections.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(32))
    #: The canonical message (its text, cart, referral...), encrypted.
    data: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)
    #: ``data`` carries a referral object: searchable although ``data`` is encrypted.
    has_referral: Mapped[bool] = mapped_column(Boolean, default=_carries_referral, server_default=false())
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The customer edited it (the edit is stored as a message of its own; this one keeps the first wording).
    edited_at: Mapped[datetime | None]
    #: The customer withdrew it (Instagram unsend): kept for the record, shown as deleted.
    deleted_at: Mapped[datetime | None]


class OutboundMessage(Base):
    """The outbox: every message we send is a row first, created in the transaction of its cause."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_outbound_messages_channel_message", "channel_connection_id", "channel_message_id"),
        Index("ix_outbound_messages_status", "channel_connection_id", "status"),
        Index("ix_outbound_messages_sent", "channel_connection_id", "sent_at"),
        Index("ix_outbound_messages_recipient", "channel_connection_id", "recipient", "status"),
        Index("ix_outbound_messages_campaign", "campaign_id", "status"),
        Index("ix_outbound_messages_contact", "contact_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_connection_id: Mapped[int] = mapped_column(ForeignKey("channel_connections.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    recipient: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    #: The canonical message (connector.serialization), encrypted.
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    #: pending | sending | sent | delivered | read | failed | skipped | deferred | unknown
    status: Mapped[str] = mapped_column(String(16), default="pending")
    channel_message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    #: The channel's error code of a failure (WhatsApp 131047, 131049, 131050, 131026...): what is acted on.
    error_code: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: Notifications only (``None`` for chat replies and test messages): the consent purpose it needs
    #: (``utility`` | ``marketing``) and what is needed to render it at send time ({language, vars}), when the
    #: 24-hour window decides between a free-form message and a template.
    purpose: Mapped[str | None] = mapped_column(String(16))
    notification: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON)
    #: Pricing as estimated when sent: category (service | utility | marketing), recipient country, price.
    category: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(2))
    cost: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(3))
    #: Sent outside the customer's 24-hour window (counts towards the reach limit).
    outside_window: Mapped[bool | None] = mapped_column(Boolean)
    #: Pricing as the channel reported it in its status webhooks (WhatsApp's ``pricing``): category
    #: (``service``, ``utility``, ``marketing``, ``marketing_lite``, ``referral_conversion``...), type
    #: (``regular``, ``free_customer_service``, ``free_entry_point``), whether it is billed, the pricing model.
    billed_category: Mapped[str | None] = mapped_column(String(32))
    billed_type: Mapped[str | None] = mapped_column(String(32))
    billable: Mapped[bool | None] = mapped_column(Boolean)
    pricing_model: Mapped[str | None] = mapped_column(String(16))
    #: ``deferred``: when it is tried again; ``skipped``/``deferred``: why.
    deferred_until: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    #: The campaign this message belongs to (:mod:`connector.campaigns`), else ``None``.
    campaign_id: Mapped[int | None] = mapped_column(Integer)


# --------------------------------------------------------------------------- work


class Task(Base):
    """A unit of work for the worker. Carries ids, not payloads; claimed with a lease so a dead worker's
    task becomes claimable again."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_tasks_claim", "status", "due_at"),
        Index("ix_tasks_coalesce", "coalesce_key", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: pending | running | done | failed (gave up after max attempts)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    priority: Mapped[int] = mapped_column(Integer, default=100)  # lower runs first
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    lease_until: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    #: Tasks with the same key that have not started are one task: a new enqueue merges its arguments into the
    #: waiting one (a shop's targeted sync carries the union of the product ids of many webhooks).
    coalesce_key: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class JobRun(Base):
    """One tick of a scheduled job: which task it enqueued. Unique per job and tick, so no tick runs twice."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_id", "scheduled_for"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(200))
    scheduled_for: Mapped[datetime]
    task_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _load_area_models() -> None:
    """Import every ``connector/db/models_<area>.py`` so all tables share one metadata (and one migration history)."""
    import importlib
    import pkgutil
    from pathlib import Path

    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("models_"):
            importlib.import_module(f"connector.db.{info.name}")


_load_area_models()
