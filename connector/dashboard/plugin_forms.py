"""The plugins page: what is installed, which connections use it, and settings forms built from declared fields.

A plugin's own settings (``connector_config_fields``) come from the config file; values saved here are
stored in ``plugin_settings`` (secrets encrypted) and win over the file. :func:`effective_settings` merges
both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from connector.adapters import ConfigField, FieldType, validate_settings
from connector.api.scope import current, is_visible, shop_visible
from connector.dashboard.security import login_required
from connector.db.models import ChannelConnection, PluginSetting, ShopConnection
from connector.errors import SettingsError
from connector.i18n.catalogs import N_
from connector.web.context import runtime

if TYPE_CHECKING:
    from connector.runtime import Runtime


def effective_settings(rt: Runtime, plugin: str) -> dict[str, Any]:
    """A plugin's settings as they apply now: the config file's, overlaid with those saved in the dashboard."""
    return rt.plugin_config(plugin)


def save_settings(rt: Runtime, plugin: str, fields: list[ConfigField], form: dict[str, str]) -> dict[str, Any]:
    """Validate and store a settings form. An empty secret keeps the stored one. Raises :class:`SettingsError`."""
    current = effective_settings(rt, plugin)
    values: dict[str, Any] = {}
    for field in fields:
        raw = form.get(field.name, "")
        if field.type is FieldType.BOOLEAN:
            raw = "true" if form.get(field.name) else "false"
        if field.secret and raw == "":
            raw = current.get(field.name) or ""
        values[field.name] = raw
    cleaned = validate_settings(fields, values)
    secret_names = {f.name for f in fields if f.secret}
    with rt.db.session() as session:
        existing = {
            row.key: row for row in session.scalars(select(PluginSetting).where(PluginSetting.plugin == plugin))
        }
        for key, value in cleaned.items():
            row = existing.get(key) or PluginSetting(plugin=plugin, key=key)
            if key in secret_names:
                row.secret, row.value = (rt.secrets.encrypt(value) if value else None), None
            else:
                row.secret, row.value = None, {"value": value}
            session.add(row)
    return cleaned


def _connections(rt: Runtime) -> dict[str, list[Any]]:
    by_adapter: dict[str, list[Any]] = {}
    with rt.db.session() as session:
        for shop in session.scalars(
            select(ShopConnection).where(shop_visible(ShopConnection.id)).order_by(ShopConnection.id)
        ):
            by_adapter.setdefault(shop.platform, []).append(("shop", shop))
        for channel in session.scalars(
            select(ChannelConnection)
            .where(shop_visible(ChannelConnection.shop_connection_id))
            .order_by(ChannelConnection.id)
        ):
            by_adapter.setdefault(channel.channel, []).append(("channel", channel))
    return by_adapter


def register(bp: Blueprint) -> None:
    """Add the plugins page and its forms to the dashboard blueprint."""

    @bp.get("/plugins")
    @login_required
    def plugins() -> Any:
        """Installed plugins with version, connections (enabled or not) and generated settings forms."""
        rt = runtime()
        # Plugin settings are the whole deployment's: only the operator's workspace sees and changes them.
        operator = current().operator
        fields = rt.plugins.config_fields() if operator else {}
        by_adapter = _connections(rt)
        rows = []
        for info in rt.plugins.describe():
            connections = [c for adapter in info.adapters for c in by_adapter.get(adapter, [])]
            rows.append(
                {
                    "info": info,
                    "connections": connections,
                    "fields": fields.get(info.name, []),
                    "values": effective_settings(rt, info.name) if operator else {},
                }
            )
        return render_template("dashboard/plugins.html", rows=rows, errors={}, failed=None, operator=operator)

    @bp.post("/plugins/<name>/settings")
    @login_required
    def plugin_settings(name: str) -> Any:
        """Save a plugin's settings form."""
        rt = runtime()
        fields = rt.plugins.config_fields().get(name)
        if not fields:
            abort(404, description=f"plugin {name!r} has no settings")
        try:
            save_settings(rt, name, fields, request.form.to_dict())
        except SettingsError as exc:
            flash("; ".join(f"{k}: {v}" for k, v in exc.errors.items()), "error")
        else:
            flash(N_("Saved."), "ok")
        return redirect(url_for("dashboard.plugins") + f"#plugin-{name}")

    @bp.post("/connections/<kind>/<int:connection_id>/enabled")
    @login_required
    def connection_enabled(kind: str, connection_id: int) -> Any:
        """Turn a connection on or off."""
        if kind not in ("shop", "channel"):
            abort(404, description="kind must be shop or channel")
        with runtime().db.session() as session:
            row: ShopConnection | ChannelConnection | None = (
                session.get(ShopConnection, connection_id)
                if kind == "shop"
                else session.get(ChannelConnection, connection_id)
            )
            if row is None or not is_visible(session, kind, connection_id):
                abort(404, description=f"no {kind} connection {connection_id}")
            row.enabled = request.form.get("enabled") == "1"
        flash(N_("Saved."), "ok")
        return redirect(url_for("dashboard.plugins"))
