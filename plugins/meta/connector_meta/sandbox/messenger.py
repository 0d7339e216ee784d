"""Validation of Messenger / Instagram Send API calls (``POST /{page_id}/messages``, ``/me/messages``)."""

from __future__ import annotations

from typing import Any

from connector_meta.sandbox import utility
from connector_meta.sandbox.errors import GraphError, invalid_parameter
from connector_meta.sandbox.state import GraphState, MessengerUser

MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG", "UTILITY"})
#: Tags Meta still accepts (the other three are refused since 2026-04-27: :data:`utility.REMOVED_TAGS`).
TAGS = frozenset({"HUMAN_AGENT"})
INSTAGRAM_TAGS = frozenset({"HUMAN_AGENT"})
TEXT_LIMIT = {"page": 2000, "instagram": 1000}
QUICK_REPLIES = 13
QUICK_REPLY_TYPES = frozenset({"text", "user_phone_number", "user_email"})
PAYLOAD = 1000
ELEMENTS = 10
ELEMENT_TEXT = 80
BUTTONS = 3
BUTTON_TITLE = 20
BUTTON_TEMPLATE_TEXT = 640
BUTTON_TYPES = frozenset({"web_url", "postback", "phone_number"})


def _param(path: str, problem: str) -> GraphError:
    return invalid_parameter(f"Param {path} {problem}")


def _string(value: Any, path: str, limit: int) -> None:
    if not isinstance(value, str) or not value:
        raise _param(path, "must be a non-empty string")
    if len(value) > limit:
        raise _param(path, f"must be at most {limit} characters")


def _buttons(buttons: Any, path: str, *, minimum: int) -> None:
    if buttons is None and minimum == 0:
        return
    if not isinstance(buttons, list) or len(buttons) < minimum or len(buttons) > BUTTONS:
        raise _param(path, f"must have between {minimum} and {BUTTONS} buttons")
    for i, button in enumerate(buttons):
        where = f"{path}[{i}]"
        if not isinstance(button, dict) or button.get("type") not in BUTTON_TYPES:
            raise _param(f"{where}[type]", f"must be one of {', '.join(sorted(BUTTON_TYPES))}")
        _string(button.get("title"), f"{where}[title]", BUTTON_TITLE)
        if button["type"] == "web_url":
            url = button.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise _param(f"{where}[url]", "must be an http(s) URL")
        else:
            _string(button.get("payload"), f"{where}[payload]", PAYLOAD)


def _template(payload: dict[str, Any]) -> None:
    kind = payload.get("template_type")
    if kind == "generic":
        elements = payload.get("elements")
        if not isinstance(elements, list) or not elements:
            raise _param("message[attachment][payload][elements]", "must be a non-empty array")
        if len(elements) > ELEMENTS:
            raise _param("message[attachment][payload][elements]", f"must have at most {ELEMENTS} elements")
        for i, element in enumerate(elements):
            where = f"message[attachment][payload][elements][{i}]"
            if not isinstance(element, dict):
                raise _param(where, "must be an object")
            _string(element.get("title"), f"{where}[title]", ELEMENT_TEXT)
            if "subtitle" in element:
                _string(element["subtitle"], f"{where}[subtitle]", ELEMENT_TEXT)
            if not any(element.get(k) for k in ("subtitle", "image_url", "default_action", "buttons")):
                raise _param(where, "must have a title and at least one other property")
            if "default_action" in element:
                action = element["default_action"]
                if not isinstance(action, dict) or action.get("type") != "web_url" or "title" in action:
                    raise _param(f"{where}[default_action]", "must be a web_url action without a title")
            _buttons(element.get("buttons"), f"{where}[buttons]", minimum=0)
    elif kind == "button":
        _string(payload.get("text"), "message[attachment][payload][text]", BUTTON_TEMPLATE_TEXT)
        _buttons(payload.get("buttons"), "message[attachment][payload][buttons]", minimum=1)
    else:
        raise _param("message[attachment][payload][template_type]", "must be generic or button")


def _quick_replies(replies: Any) -> None:
    if not isinstance(replies, list) or not replies:
        raise _param("message[quick_replies]", "must be a non-empty array")
    if len(replies) > QUICK_REPLIES:
        raise _param("message[quick_replies]", f"must have at most {QUICK_REPLIES} items")
    for i, reply in enumerate(replies):
        where = f"message[quick_replies][{i}]"
        if not isinstance(reply, dict) or reply.get("content_type") not in QUICK_REPLY_TYPES:
            raise _param(f"{where}[content_type]", f"must be one of {', '.join(sorted(QUICK_REPLY_TYPES))}")
        if reply["content_type"] == "text":
            # Titles over 20 characters are truncated by the client apps, not refused.
            if not isinstance(reply.get("title"), str) or not reply["title"]:
                raise _param(f"{where}[title]", "is required for text quick replies")
            _string(reply.get("payload"), f"{where}[payload]", PAYLOAD)


def _message(message: Any, channel: str) -> None:
    if not isinstance(message, dict):
        raise invalid_parameter("The parameter message is required")
    has_text, has_attachment = "text" in message, "attachment" in message
    if has_text == has_attachment:
        raise invalid_parameter("Param message must contain exactly one of text or attachment")
    if has_text:
        _string(message["text"], "message[text]", TEXT_LIMIT[channel])
    else:
        attachment = message["attachment"]
        if not isinstance(attachment, dict) or not isinstance(attachment.get("payload"), dict):
            raise _param("message[attachment]", "must have a type and a payload")
        if attachment.get("type") == "template":
            _template(attachment["payload"])
        elif attachment.get("type") in ("image", "video", "audio", "file"):
            if not attachment["payload"].get("url") and not attachment["payload"].get("attachment_id"):
                raise _param("message[attachment][payload][url]", "is required")
        else:
            raise _param("message[attachment][type]", "must be one of template, image, video, audio, file")
    if "quick_replies" in message:
        _quick_replies(message["quick_replies"])


def validate_send(state: GraphState, account_ids: set[str], body: Any) -> MessengerUser:
    """Check one Send API call against the format and the messaging window; return the recipient.

    ``account_ids`` are the accounts the path may send from. The caller holds ``state.lock``.
    """
    if not isinstance(body, dict):
        raise invalid_parameter("Request body must be a JSON object")
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not recipient.get("id"):
        raise invalid_parameter("The parameter recipient is required")
    user = state.messenger_users.get(str(recipient["id"]))
    if user is None or user.account_id not in account_ids:
        raise GraphError(100, "No matching user found", subcode=2018001)
    messaging_type = body.get("messaging_type")
    if messaging_type is None and user.object == "page":
        raise invalid_parameter("The parameter messaging_type is required")
    messaging_type = messaging_type or "RESPONSE"
    if messaging_type not in MESSAGING_TYPES:
        raise invalid_parameter("Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG, UTILITY}")
    tag = body.get("tag")
    if messaging_type == "MESSAGE_TAG":
        if tag in utility.REMOVED_TAGS:
            raise utility.removed_tag()
        allowed = INSTAGRAM_TAGS if user.object == "instagram" else TAGS
        if tag not in allowed:
            raise invalid_parameter(f"Param tag must be one of {{{', '.join(sorted(allowed))}}}")
    elif tag is not None:
        raise invalid_parameter("Param tag is only allowed with messaging_type MESSAGE_TAG")
    if messaging_type == "UTILITY":
        # An approved Page template: allowed outside the window, where the market is supported.
        utility.validate_utility(state, user, body.get("message"))
        return user
    _message(body.get("message"), user.object)
    age = state.now() - user.last_inbound
    options = state.options
    if messaging_type == "MESSAGE_TAG" and tag == "HUMAN_AGENT":
        open_window = age <= options.human_agent_days * 86400
    else:
        open_window = age <= options.window_hours * 3600
    if not open_window:
        raise GraphError(
            10,
            "This message is sent outside of allowed window. Learn more about the new policy here: "
            "https://developers.facebook.com/docs/messenger-platform/policy-overview",
            subcode=2018278,
        )
    return user
