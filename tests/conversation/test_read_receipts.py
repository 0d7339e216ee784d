"""Read receipts and the typing indicator: the customer sees their WhatsApp message read as soon as the bot starts
on it, and "typing…" when the answer takes longer than ``[chat] typing_after_seconds``, gone once it arrives."""

from __future__ import annotations

import pytest

from tests.conversation.conftest import ChatStack


@pytest.mark.parametrize("chat_stack", [{"chat": {"typing_after_seconds": 0}}], indirect=True)
def test_a_slow_answer_shows_typing_until_it_arrives(chat_stack: ChatStack) -> None:
    # Threshold 0: every answer counts as slow, so the indicator must show before the answer and be gone after it.
    customer = chat_stack.whatsapp_customer()
    [menu] = customer.say("Hello")
    [seen] = chat_stack.graph.whatsapp_received(customer.user_id)
    assert seen["read"]
    assert seen["typing_shown_at"] is not None
    assert seen["typing_shown_at"] <= float(menu["_sandbox"]["timestamp"]) + 1
    assert not seen["typing"]  # the answer replaced the indicator


@pytest.mark.parametrize("chat_stack", [{"chat": {"typing_after_seconds": 20}}], indirect=True)
def test_a_quick_answer_marks_read_without_typing(chat_stack: ChatStack) -> None:
    customer = chat_stack.whatsapp_customer()
    customer.say("Hello")
    [seen] = chat_stack.graph.whatsapp_received(customer.user_id)
    assert seen["read"]
    assert seen["typing_shown_at"] is None


@pytest.mark.parametrize("chat_stack", [{"chat": {"read_receipts": False, "typing_after_seconds": 0}}], indirect=True)
def test_read_receipts_can_be_turned_off(chat_stack: ChatStack) -> None:
    customer = chat_stack.whatsapp_customer()
    customer.say("Hello")
    [seen] = chat_stack.graph.whatsapp_received(customer.user_id)
    assert not seen["read"]
    assert seen["typing_shown_at"] is None
