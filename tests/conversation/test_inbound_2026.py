"""Nothing the customer said is lost (issue #16 item 9), over real HTTP with the Graph sandbox's 2026 payloads.

Captions of photos, videos and documents; completed Flows (``nfm_reply`` with its ``response_json``); Messenger
edits; Instagram unsends; Messenger read watermarks; the ``contacts`` reply to ``request_contact_info``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from connector import model
from connector.db.models import Contact, InboundMessage, OutboundMessage
from connector.serialization import from_json
from tests.conftest import HookRecorder, wait_for
from tests.conversation.conftest import ChatStack, Customer
from tests.conversation.test_meta_channels import InstagramCustomer, add_instagram


def _stored(chat: ChatStack, channel_id: int, message_id: str) -> InboundMessage | None:
    with chat.runtime.db.session() as session:
        return session.scalar(
            select(InboundMessage).where(
                InboundMessage.channel_connection_id == channel_id, InboundMessage.message_id == message_id
            )
        )


def _message(chat: ChatStack, channel_id: int, message_id: str) -> Any:
    row = wait_for(lambda: _stored(chat, channel_id, message_id))
    return from_json(row.data)


def test_a_photo_caption_is_stored_and_answered_like_a_text(chat_stack: ChatStack) -> None:
    customer = chat_stack.whatsapp_customer()
    sent = chat_stack.graph.whatsapp_event(customer.user_id, "image", caption="help")
    replies = customer.replies_to(sent["id"])
    stored = _message(chat_stack, chat_stack.stack.channel_id, sent["id"])
    assert isinstance(stored, model.InboundMedia)
    assert (stored.type, stored.caption, stored.mime_type) == ("image", "help", "image/jpeg")
    assert stored.media_id == sent["image"]["id"]
    # "help" under a photo gets the same answer as "help" written on its own.
    written = customer.say("help")
    assert [r.get("type") for r in replies] == [r.get("type") for r in written]


def test_video_and_document_captions_are_kept(chat_stack: ChatStack) -> None:
    customer = chat_stack.whatsapp_customer()
    video = chat_stack.graph.whatsapp_event(customer.user_id, "video", caption="this one arrived broken")
    document = chat_stack.graph.whatsapp_event(
        customer.user_id, "document", caption="my invoice", filename="invoice-8812.pdf"
    )
    stored_video = _message(chat_stack, chat_stack.stack.channel_id, video["id"])
    stored_document = _message(chat_stack, chat_stack.stack.channel_id, document["id"])
    assert stored_video.caption == "this one arrived broken"
    assert (stored_document.caption, stored_document.filename) == ("my invoice", "invoice-8812.pdf")


def test_a_completed_flow_reaches_plugins_as_structured_data(chat_stack: ChatStack, hooks: HookRecorder) -> None:
    customer = chat_stack.whatsapp_customer()
    customer.say("hi")
    flow_message = chat_stack.graph.messages_to(customer.user_id)[-1]["_sandbox"]["id"]
    answers = {"flow_token": "order-8812-addr", "street": "1 Main St", "zip": "94025"}
    sent = chat_stack.graph.whatsapp_event(customer.user_id, "flow_reply", response=answers, context_id=flow_message)
    assert isinstance(sent["interactive"]["nfm_reply"]["response_json"], str)  # Meta sends a JSON string
    replies = customer.replies_to(sent["id"])
    assert replies == []  # no menu in answer to a form the customer just filled in

    stored = _message(chat_stack, chat_stack.stack.channel_id, sent["id"])
    assert isinstance(stored, model.InboundFlowReply)
    assert stored.response == answers and stored.flow_token == "order-8812-addr"
    assert stored.context_message_id == flow_message
    [call] = [c for c in hooks.named("connector_inbound_message") if c["message"].message_id == sent["id"]]
    assert call["message"].response == answers


def test_a_messenger_edit_is_kept_next_to_the_first_wording(chat_stack: ChatStack) -> None:
    customer = chat_stack.messenger_customer()
    mid = chat_stack.graph.messenger_text(customer.user_id, "I want the blue one")["message"]["mid"]
    customer.replies_to(mid)
    chat_stack.graph.messenger_event(customer.user_id, "edit", mid=mid, text="I want the red one")
    edit = _message(chat_stack, chat_stack.messenger_id, f"edit:{mid}:1")
    assert isinstance(edit, model.InboundEdit) and edit.text == "I want the red one"
    assert edit.original_message_id == mid
    original = _stored(chat_stack, chat_stack.messenger_id, mid)
    assert original is not None and original.edited_at is not None and original.deleted_at is None
    assert from_json(original.data).text == "I want the blue one"

    chat_stack.graph.messenger_event(customer.user_id, "edit", mid=mid, text="the green one, sorry")
    assert _message(chat_stack, chat_stack.messenger_id, f"edit:{mid}:2").text == "the green one, sorry"


def test_an_instagram_unsend_marks_the_message_deleted_and_is_no_redelivery(chat_stack: ChatStack) -> None:
    customer = InstagramCustomer(chat_stack, add_instagram(chat_stack))
    mid = chat_stack.graph.messenger_text(customer.user_id, "my address is 1 Main St", object="instagram")["message"][
        "mid"
    ]
    customer.replies_to(mid)
    chat_stack.graph.messenger_event(customer.user_id, "unsend", object="instagram", mid=mid)
    unsend = _message(chat_stack, customer.channel_id, f"unsend:{mid}")
    assert isinstance(unsend, model.InboundUnsend) and unsend.original_message_id == mid
    original = _stored(chat_stack, customer.channel_id, mid)
    assert original is not None and original.deleted_at is not None
    assert customer.replies_to(f"unsend:{mid}") == []  # nothing answered to a withdrawn message


def _statuses(chat: ChatStack, recipient: str) -> list[tuple[int, str]]:
    with chat.runtime.db.session() as session:
        return [
            (row.id, row.status)
            for row in session.execute(
                select(OutboundMessage.id, OutboundMessage.status)
                .where(
                    OutboundMessage.channel_connection_id == chat.messenger_id, OutboundMessage.recipient == recipient
                )
                .order_by(OutboundMessage.id)
            )
        ]


def test_a_messenger_read_watermark_reads_everything_sent_up_to_it(chat_stack: ChatStack) -> None:
    customer = chat_stack.messenger_customer()
    assert customer.say("hi")
    first = _statuses(chat_stack, customer.user_id)
    assert first and all(status == "sent" for _, status in first)
    watermark = int(datetime.now(UTC).timestamp() * 1000)

    assert customer.say("help")
    later = [row for row in _statuses(chat_stack, customer.user_id) if row not in first]
    assert later

    chat_stack.graph.messenger_event(customer.user_id, "read", watermark=watermark)
    first_ids = {row_id for row_id, _ in first}
    wait_for(lambda: all(s == "read" for i, s in _statuses(chat_stack, customer.user_id) if i in first_ids))
    # Sent after the watermark: not read yet.
    assert all(s == "sent" for i, s in _statuses(chat_stack, customer.user_id) if i not in first_ids)

    chat_stack.graph.messenger_event(customer.user_id, "read")  # now: everything
    wait_for(lambda: all(s == "read" for _, s in _statuses(chat_stack, customer.user_id)))


def test_a_contact_shared_on_request_gives_a_hidden_number_customer_a_phone(chat_stack: ChatStack) -> None:
    customer = Customer(chat_stack, "whatsapp", "4915100009901", "Sheena")
    hidden = chat_stack.graph.whatsapp_event(customer.user_id, "image", hide_phone=True, caption="hi")
    customer.replies_to(hidden["id"])
    user_id = hidden["from_user_id"]
    shared = chat_stack.graph.whatsapp_event(customer.user_id, "contact_share", hide_phone=True)
    assert shared["contacts"][0]["origin"] == "contact_request"
    customer.replies_to(shared["id"])
    with chat_stack.runtime.db.session() as session:
        contacts = session.scalars(
            select(Contact).where(
                Contact.channel_connection_id == chat_stack.stack.channel_id, Contact.user_id == user_id
            )
        ).all()
    assert len(contacts) == 1
    assert contacts[0].phone == "+4915100009901" and contacts[0].channel_user_id == user_id
