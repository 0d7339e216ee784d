"""Marshmallow schemas of the inbox operations (``/api/v1/inbox``)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from connector.api.schemas import _count, _id
from connector.inbox.actions import MAX_TEXT


class InboxQuery(Schema):
    needs_person = fields.Boolean(
        load_default=False, metadata={"description": "only conversations waiting for a person"}
    )
    unread = fields.Boolean(load_default=False, metadata={"description": "only conversations with unread messages"})
    channel_connection_id = _id()
    shop_connection_id = _id()
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    offset = _count(0)


class ConversationOut(Schema):
    contact_id = fields.Integer()
    name = fields.String()
    user_id = fields.String(metadata={"description": "the customer's id on the channel (phone number, PSID, IGSID)"})
    channel_connection_id = fields.Integer(attribute="channel_id")
    channel = fields.String()
    channel_name = fields.String()
    shop_connection_id = fields.Integer(attribute="shop_id")
    shop_name = fields.String()
    last_message_at = fields.DateTime(attribute="last_at", allow_none=True)
    unread = fields.Integer(metadata={"description": "customer messages since a person last read the thread"})
    needs_person = fields.Boolean(metadata={"description": "the customer asked for a person and nobody answered yet"})
    taken_over_by = fields.String(allow_none=True, metadata={"description": "who took over (the bot is silent)"})


class ConversationList(Schema):
    total = fields.Integer()
    items = fields.List(fields.Nested(ConversationOut))


class EntryOut(Schema):
    side = fields.String(metadata={"description": "customer, bot, person, notification or event (a handoff)"})
    at = fields.DateTime()
    text = fields.String()
    kind = fields.String()
    status = fields.String(allow_none=True)
    cost = fields.Float(allow_none=True)
    currency = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    message_id = fields.Integer(allow_none=True, metadata={"description": "the outbox row (notifications API)"})
    author = fields.String(allow_none=True, metadata={"description": "who wrote a person's reply"})


class WindowOut(Schema):
    inside_24h = fields.Boolean()
    text_allowed = fields.Boolean(metadata={"description": "a person may send free text now"})
    text_until = fields.DateTime(allow_none=True)
    human_agent = fields.Boolean(metadata={"description": "after 24 h text goes with the HUMAN_AGENT tag (7 days)"})
    templates = fields.Boolean(metadata={"description": "the channel has approved templates for a closed window"})
    text_price = fields.Float()
    currency = fields.String()


class ThreadOut(Schema):
    conversation = fields.Nested(ConversationOut)
    silent_until = fields.DateTime(allow_none=True, metadata={"description": "the bot is silent until (a handoff)"})
    window = fields.Nested(WindowOut)
    entries = fields.List(fields.Nested(EntryOut))


class TemplateOut(Schema):
    name = fields.String()
    language = fields.String()
    category = fields.String()
    body = fields.String()
    parameters = fields.Integer()
    button_parameters = fields.Integer()
    price = fields.Float()
    currency = fields.String()


class ReplyIn(Schema):
    text = fields.String(validate=validate.Length(1, MAX_TEXT), metadata={"description": "free text (window open)"})
    template = fields.String(validate=validate.Length(1, 512), metadata={"description": "an approved template"})
    language = fields.String(validate=validate.Length(1, 20))
    parameters = fields.List(fields.String(validate=validate.Length(1, 1024)), load_default=list)
    button_parameters = fields.List(fields.String(validate=validate.Length(1, 1024)), load_default=list)
    key = fields.String(
        validate=validate.Regexp(r"^[A-Za-z0-9-]{1,100}$"),
        metadata={"description": "your id for this reply: the same key again queues no second message"},
    )


class ReplyOut(Schema):
    message_id = fields.Integer(metadata={"description": "the outbox row (GET /api/v1/notifications/<id>)"})
