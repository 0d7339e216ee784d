"""Marshmallow schemas of the admin API (they also generate its OpenAPI document)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from connector.web.converters import INT64_MAX


def _id(**kwargs: Any) -> fields.Integer:
    """A database id: a positive integer a 64-bit column holds (a bigger one could not even be looked up)."""
    return fields.Integer(validate=validate.Range(1, INT64_MAX), **kwargs)


def _count(default: int) -> fields.Integer:
    """A ``limit`` or ``offset``: not negative (PostgreSQL refuses that), within 64 bits."""
    return fields.Integer(load_default=default, validate=validate.Range(0, INT64_MAX))


class ErrorSchema(Schema):
    error = fields.String(required=True)
    # The error body's "fields" key; marshmallow's stubs type the class attribute Schema.fields as its field map.
    fields = fields.Dict(keys=fields.String(), values=fields.String())  # type: ignore[assignment]


class ShopConnectionIn(Schema):
    name = fields.String(load_default="")
    platform = fields.String(required=True, metadata={"description": "shop adapter name, e.g. shopify"})
    settings = fields.Dict(required=True, metadata={"description": "the adapter's config fields"})
    delta_interval_minutes = fields.Integer(
        allow_none=True, load_default=None, validate=validate.Range(1, 366 * 24 * 60)
    )
    full_sync_at = fields.String(allow_none=True, load_default=None)


class ChannelConnectionIn(Schema):
    name = fields.String(load_default="")
    channel = fields.String(required=True, metadata={"description": "channel adapter name, e.g. whatsapp"})
    shop_connection_id = _id(required=True)
    settings = fields.Dict(required=True)


class ConnectionPatch(Schema):
    name = fields.String(load_default=None, allow_none=True)
    settings = fields.Dict(
        load_default=dict,
        metadata={"description": "only the settings to change (e.g. a new access token); the others are kept"},
    )


class ConnectionOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    name = fields.String()
    adapter = fields.String()
    enabled = fields.Boolean()
    settings = fields.Dict(metadata={"description": "non-secret settings; secrets are never returned"})
    secret_fields = fields.List(fields.String())
    shop_connection_id = fields.Integer(allow_none=True)
    webhook_url = fields.String()
    created_at = fields.DateTime()


class ConnectionTestOut(Schema):
    ok = fields.Boolean()
    name = fields.String(allow_none=True)
    currency = fields.String(allow_none=True)
    error = fields.String(allow_none=True)


class TestMessageIn(Schema):
    to = fields.String(required=True, metadata={"description": "phone number in international format"})
    text = fields.String(load_default=None)
    template = fields.String(load_default=None, metadata={"description": "approved template name, e.g. hello_world"})
    language = fields.String(load_default="en_US")


class PluginOut(Schema):
    name = fields.String()
    kinds = fields.List(fields.String())
    adapters = fields.List(fields.String())
    distribution = fields.String(allow_none=True)
    version = fields.String(allow_none=True)
    source = fields.String()
    hooks = fields.List(fields.String())


class SyncRequest(Schema):
    shop_connection_id = _id(required=True)
    mode = fields.String(load_default="delta", metadata={"enum": ["full", "delta"]})


class SyncRunOut(Schema):
    id = fields.Integer()
    shop_connection_id = fields.Integer()
    mode = fields.String()
    trigger = fields.String()
    status = fields.String()
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    read = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    deleted = fields.Integer()
    unchanged = fields.Integer()
    failed = fields.Integer()
    write_calls = fields.Integer()
    errors = fields.List(fields.Raw())


class CatalogItemOut(Schema):
    id = fields.Integer()
    channel_connection_id = fields.Integer()
    retailer_id = fields.String()
    title = fields.String()
    status = fields.String(metadata={"description": "pending, synced, error, invalid or deleted"})
    in_sync = fields.Boolean()
    errors = fields.List(fields.Raw())
    pushed_fields = fields.Dict(allow_none=True)
    pushed_at = fields.DateTime(allow_none=True)


class CatalogQuery(Schema):
    channel_connection_id = _id()
    status = fields.String()
    limit = _count(100)
    offset = _count(0)


class WebhookEventOut(Schema):
    id = fields.Integer()
    connection_kind = fields.String()
    connection_id = fields.Integer()
    adapter = fields.String()
    delivery_id = fields.String()
    topic = fields.String()
    status = fields.String()
    duplicates = fields.Integer()
    error = fields.String(allow_none=True)
    received_at = fields.DateTime()
    processed_at = fields.DateTime(allow_none=True)


class ListQuery(Schema):
    limit = _count(100)
    offset = _count(0)
