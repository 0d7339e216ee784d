"""The inbox operations of the admin API: conversations, one thread, reply, take over, hand back, mark read (the
same as the dashboard's inbox, through :mod:`connector.inbox`, inside the token's workspace)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any, NoReturn

from flask import g
from flask.views import MethodView
from flask_smorest import abort

from connector.api import inbox_schemas as s
from connector.api.parsing import Blueprint
from connector.inbox import actions, conversations
from connector.web.context import runtime

inbox_bp = Blueprint("inbox", __name__, url_prefix="/api/v1/inbox", description="Conversations answered by people")


def _refused(exc: actions.InboxError) -> NoReturn:
    abort(exc.status, message=str(exc))
    raise AssertionError("unreachable: abort() raises")


def _thread(contact_id: int) -> dict[str, Any]:
    rt = runtime()
    found = conversations.thread(rt, contact_id)
    if found is None:
        _refused(actions.InboxError("no such conversation", 404))
    return {
        "conversation": found.summary,
        "silent_until": found.silent_until,
        "window": actions.window(rt, contact_id),
        "entries": found.entries,
    }


@inbox_bp.route("/")
class Conversations(MethodView):
    @inbox_bp.arguments(s.InboxQuery, location="query")
    @inbox_bp.response(200, s.ConversationList)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Conversations, those needing a person first, then the latest (filters: ``needs_person``, ``unread``,
        ``channel_connection_id``, ``shop_connection_id``)."""
        filters = conversations.Filters(
            needs_person=query["needs_person"],
            unread=query["unread"],
            channel_id=query.get("channel_connection_id"),
            shop_id=query.get("shop_connection_id"),
            limit=query["limit"],
            offset=query["offset"],
        )
        items, total = conversations.conversations(runtime(), filters)
        return {"total": total, "items": items}


@inbox_bp.route("/<int:contact_id>")
@inbox_bp.response(200, s.ThreadOut)
def thread(contact_id: int) -> dict[str, Any]:
    """The whole conversation in order (customer, bot, notifications, people), each sent message with its delivery
    status and cost, the bot's state and what a person may send now. Reading it does not mark it read."""
    return _thread(contact_id)


@inbox_bp.route("/<int:contact_id>/templates")
@inbox_bp.response(200, s.TemplateOut(many=True))
def templates(contact_id: int) -> list[dict[str, Any]]:
    """The approved templates of the channel's account, each with what it costs to send to this customer now."""
    try:
        found = actions.templates(runtime(), contact_id)
    except actions.InboxError as exc:
        _refused(exc)
    return [{**asdict(t.template), "price": t.price, "currency": t.currency} for t in found]


@inbox_bp.route("/<int:contact_id>/reply", methods=["POST"])
@inbox_bp.arguments(s.ReplyIn)
@inbox_bp.response(202, s.ReplyOut)
def reply(data: dict[str, Any], contact_id: int) -> dict[str, Any]:
    """Queue a reply: ``text`` while the channel lets a person write (24 h; Messenger and Instagram 7 days with the
    ``HUMAN_AGENT`` tag), else ``template`` + ``language`` + ``parameters``. ``409`` when free text is not allowed
    now, with the reason. Sent through the outbox: once per ``key``, priced and counted toward the budget."""
    try:
        message_id = actions.reply(
            runtime(),
            contact_id,
            key=data.get("key") or uuid.uuid4().hex,
            author=f"API token {_token_name()}",
            text=data.get("text"),
            template=data.get("template"),
            language=data.get("language"),
            parameters=data["parameters"],
            button_parameters=data["button_parameters"],
        )
    except actions.InboxError as exc:
        _refused(exc)
    return {"message_id": message_id}


def _token_name() -> str:
    return str(g.get("api_token_name") or "?")


@inbox_bp.route("/<int:contact_id>/take-over", methods=["POST"])
@inbox_bp.response(200, s.ThreadOut)
def take_over(contact_id: int) -> dict[str, Any]:
    """Take the conversation over: the bot is silent for this customer until it is handed back."""
    try:
        actions.take_over(runtime(), contact_id, f"API token {_token_name()}")
    except actions.InboxError as exc:
        _refused(exc)
    return _thread(contact_id)


@inbox_bp.route("/<int:contact_id>/hand-back", methods=["POST"])
@inbox_bp.response(200, s.ThreadOut)
def hand_back(contact_id: int) -> dict[str, Any]:
    """Give the conversation back to the bot (no takeover, no handoff silence): it answers the next message."""
    try:
        actions.hand_back(runtime(), contact_id)
    except actions.InboxError as exc:
        _refused(exc)
    return _thread(contact_id)


@inbox_bp.route("/<int:contact_id>/read", methods=["POST"])
@inbox_bp.response(204)
def mark_read(contact_id: int) -> None:
    """Mark the conversation read (its unread count drops to 0)."""
    try:
        actions.mark_read(runtime(), contact_id)
    except actions.InboxError as exc:
        _refused(exc)
