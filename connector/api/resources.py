"""Admin API resources: connections, plugins, sync runs, catalog items and webhook events.

Every query goes through the request's visible shops (:mod:`connector.api.scope`): a token restricted to one shop
connection lists only its rows and gets a 404 for another shop's."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, NoReturn

from flask import jsonify
from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import select

from connector.api import schemas as s
from connector.api.parsing import Blueprint
from connector.api.scope import channel_visible, connection_visible, shop_visible
from connector.db.models import CatalogItem, ChannelConnection, ShopConnection, ShopVariant, SyncRun, WebhookEvent
from connector.errors import ConnectionTestError, NotFound, SettingsError
from connector.web.context import runtime

connections = Blueprint(
    "connections", __name__, url_prefix="/api/v1/connections", description="Shop and channel connections"
)
plugins_bp = Blueprint("plugins", __name__, url_prefix="/api/v1/plugins", description="Installed plugins")
sync_bp = Blueprint("sync", __name__, url_prefix="/api/v1/sync-runs", description="Catalog sync runs")
catalog_bp = Blueprint(
    "catalog", __name__, url_prefix="/api/v1/catalog-items", description="Catalog items and their sync state"
)
webhooks_bp = Blueprint(
    "webhook-events", __name__, url_prefix="/api/v1/webhook-events", description="Received webhooks"
)

ALL = (connections, plugins_bp, sync_bp, catalog_bp, webhooks_bp)


def _abort(status: int, **details: Any) -> NoReturn:
    """``flask_smorest.abort`` (untyped, so mypy cannot tell that it always raises)."""
    abort(status, **details)
    raise AssertionError("unreachable: abort() raises")


def _settings_error(exc: SettingsError) -> NoReturn:
    _abort(422, message=f"invalid settings: {exc}", errors={"settings": exc.errors})


def _visible(kind: str, connection_id: int) -> None:
    """Abort with 404 unless the connection exists and is of a visible shop (the same answer either way)."""
    if kind == "shop":
        stmt = select(ShopConnection.id).where(ShopConnection.id == connection_id, shop_visible(ShopConnection.id))
    else:
        stmt = select(ChannelConnection.id).where(
            ChannelConnection.id == connection_id, shop_visible(ChannelConnection.shop_connection_id)
        )
    with runtime().db.session() as session:
        if session.scalar(stmt) is None:
            abort(404, message=f"no {kind} connection {connection_id}")


def _out(row: ShopConnection | ChannelConnection) -> dict[str, Any]:
    rt = runtime()
    if isinstance(row, ShopConnection):
        cls: Any = rt.connections.shop_adapter_class(row.platform)
        kind, adapter, shop_id = "shop", row.platform, None
    else:
        cls = rt.connections.channel_adapter_class(row.channel)
        kind, adapter, shop_id = "channel", row.channel, row.shop_connection_id
    return {
        "id": row.id,
        "kind": kind,
        "name": row.name,
        "adapter": adapter,
        "enabled": row.enabled,
        "settings": row.settings,
        "secret_fields": [f.name for f in cls.config_fields if f.secret],
        "shop_connection_id": shop_id,
        "webhook_url": rt.connections.webhook_url(adapter, row.id),
        "created_at": row.created_at,
    }


@connections.route("/")
class Connections(MethodView):
    @connections.response(200, s.ConnectionOut(many=True))
    def get(self) -> list[dict[str, Any]]:
        """List every shop and channel connection (secrets are never returned)."""
        with runtime().db.session() as session:
            shops = session.scalars(
                select(ShopConnection).where(shop_visible(ShopConnection.id)).order_by(ShopConnection.id)
            ).all()
            channels = session.scalars(
                select(ChannelConnection)
                .where(shop_visible(ChannelConnection.shop_connection_id))
                .order_by(ChannelConnection.id)
            ).all()
        return [_out(r) for r in shops] + [_out(r) for r in channels]


@connections.route("/shops")
class ShopConnections(MethodView):
    @connections.arguments(s.ShopConnectionIn)
    @connections.response(201, s.ConnectionOut)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create a shop connection. Settings are validated against the plugin's declared fields."""
        try:
            row = runtime().connections.create_shop(
                name=data["name"],
                platform=data["platform"],
                settings=data["settings"],
                delta_interval_minutes=data.get("delta_interval_minutes"),
                full_sync_at=data.get("full_sync_at"),
            )
        except SettingsError as exc:
            _settings_error(exc)
        return _out(row)


@connections.route("/channels")
class ChannelConnections(MethodView):
    @connections.arguments(s.ChannelConnectionIn)
    @connections.response(201, s.ConnectionOut)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create a channel connection serving a shop connection."""
        _visible("shop", data["shop_connection_id"])
        try:
            row = runtime().connections.create_channel(
                shop_connection_id=data["shop_connection_id"],
                name=data["name"],
                channel=data["channel"],
                settings=data["settings"],
            )
        except SettingsError as exc:
            _settings_error(exc)
        return _out(row)


@connections.route("/<any(shop,channel):kind>/<int:connection_id>")
class ConnectionItem(MethodView):
    @connections.response(200, s.ConnectionOut)
    def get(self, kind: str, connection_id: int) -> dict[str, Any]:
        """One connection."""
        _visible(kind, connection_id)
        rt = runtime()
        try:
            return _out(
                rt.connections.get_shop(connection_id) if kind == "shop" else rt.connections.get_channel(connection_id)
            )
        except NotFound as exc:
            _abort(404, message=str(exc))

    @connections.arguments(s.ConnectionPatch)
    @connections.response(200, s.ConnectionOut)
    def patch(self, data: dict[str, Any], kind: str, connection_id: int) -> dict[str, Any]:
        """Change some settings of a connection (a rotated access token, say) and keep the rest, its id and its
        webhook URL. The merged settings are validated like new ones; test the connection afterwards."""
        _visible(kind, connection_id)
        try:
            row = runtime().connections.update_settings(
                kind,  # type: ignore[arg-type]
                connection_id,
                data["settings"],
                name=data.get("name"),
            )
        except NotFound as exc:
            abort(404, message=str(exc))
        except SettingsError as exc:
            _settings_error(exc)
        return _out(row)

    @connections.response(204)
    def delete(self, kind: str, connection_id: int) -> None:
        """Delete a connection (a shop's channels, items and runs go with it)."""
        _visible(kind, connection_id)
        try:
            runtime().connections.delete(kind, connection_id)  # type: ignore[arg-type]
        except NotFound as exc:
            abort(404, message=str(exc))


@connections.route("/<any(shop,channel):kind>/<int:connection_id>/test", methods=["POST"])
@connections.response(200, s.ConnectionTestOut)
def test_connection(kind: str, connection_id: int) -> Any:
    """Make one live call with the stored credentials; ``ok`` false comes with what to fix."""
    _visible(kind, connection_id)
    try:
        info = runtime().connections.test(kind, connection_id)  # type: ignore[arg-type]
    except NotFound as exc:
        abort(404, message=str(exc))
    except ConnectionTestError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "name": info.name, "currency": info.currency}


@connections.route("/channel/<int:connection_id>/test-message", methods=["POST"])
@connections.arguments(s.TestMessageIn)
@connections.response(202)
def send_test(data: dict[str, Any], connection_id: int) -> Any:
    """Queue a test message (text inside the 24-hour window, or an approved template) to a phone number."""
    from connector.chat.messages import send_test_message

    rt = runtime()
    _visible("channel", connection_id)
    try:
        rt.connections.get_channel(connection_id)
        message_id = send_test_message(
            rt,
            connection_id,
            data["to"],
            text=data.get("text"),
            template=data.get("template"),
            language=data["language"],
        )
    except NotFound as exc:
        abort(404, message=str(exc))
    except ValueError as exc:
        abort(422, message=str(exc))
    return jsonify({"message_id": message_id}), 202


@plugins_bp.route("/")
@plugins_bp.response(200, s.PluginOut(many=True))
def list_plugins() -> Any:
    """Every loaded plugin: name, kind, version, and where it came from."""
    return [asdict(info) for info in runtime().plugins.describe()]


@sync_bp.route("/")
class SyncRuns(MethodView):
    @sync_bp.arguments(s.ListQuery, location="query")
    @sync_bp.response(200, s.SyncRunOut(many=True))
    def get(self, query: dict[str, Any]) -> Any:
        """Recent sync runs, newest first."""
        with runtime().db.session() as session:
            return list(
                session.scalars(
                    select(SyncRun)
                    .where(shop_visible(SyncRun.shop_connection_id))
                    .order_by(SyncRun.id.desc())
                    .limit(query["limit"])
                    .offset(query["offset"])
                )
            )

    @sync_bp.arguments(s.SyncRequest)
    @sync_bp.response(202)
    def post(self, data: dict[str, Any]) -> Any:
        """Queue a sync of a shop now (``full`` or ``delta``)."""
        rt = runtime()
        _visible("shop", data["shop_connection_id"])
        try:
            rt.connections.get_shop(data["shop_connection_id"])
        except NotFound as exc:
            abort(404, message=str(exc))
        if data["mode"] not in ("full", "delta"):
            abort(422, message="mode must be full or delta")
        task_id = rt.queue.enqueue(
            "catalog.sync", {"shop_connection_id": data["shop_connection_id"], "mode": data["mode"], "trigger": "api"}
        )
        return jsonify({"task_id": task_id}), 202


@catalog_bp.route("/")
@catalog_bp.arguments(s.CatalogQuery, location="query")
@catalog_bp.response(200, s.CatalogItemOut(many=True))
def list_items(query: dict[str, Any]) -> Any:
    """Catalog items with their sync state, and why an item is not in sync (our validation or the catalog's errors)."""
    stmt = (
        select(CatalogItem, ShopVariant.title, ShopVariant.content_hash)
        .join(ShopVariant, CatalogItem.shop_variant_id == ShopVariant.id)
        .where(channel_visible(CatalogItem.channel_connection_id))
    )
    if "channel_connection_id" in query:
        stmt = stmt.where(CatalogItem.channel_connection_id == query["channel_connection_id"])
    if "status" in query:
        stmt = stmt.where(CatalogItem.status == query["status"])
    stmt = stmt.order_by(CatalogItem.id).limit(query["limit"]).offset(query["offset"])
    with runtime().db.session() as session:
        rows = session.execute(stmt).all()
    return [
        {
            "id": item.id,
            "channel_connection_id": item.channel_connection_id,
            "retailer_id": item.retailer_id,
            "title": title,
            "status": item.status,
            "in_sync": item.status in ("synced", "deleted") and item.source_hash == digest,
            "errors": item.errors,
            "pushed_fields": item.pushed_fields,
            "pushed_at": item.pushed_at,
        }
        for item, title, digest in rows
    ]


@webhooks_bp.route("/")
@webhooks_bp.arguments(s.ListQuery, location="query")
@webhooks_bp.response(200, s.WebhookEventOut(many=True))
def list_webhook_events(query: dict[str, Any]) -> Any:
    """Received webhooks, newest first, with how often each was redelivered."""
    with runtime().db.session() as session:
        return list(
            session.scalars(
                select(WebhookEvent)
                .where(connection_visible(WebhookEvent.connection_kind, WebhookEvent.connection_id))
                .order_by(WebhookEvent.id.desc())
                .limit(query["limit"])
                .offset(query["offset"])
            )
        )
