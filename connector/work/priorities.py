"""Task priorities (lower runs first) and how waiting ages them.

Two tiers. Chat work (a customer is waiting for an answer: a channel's webhook, the conversation turn, the
reply's send) is at or below :data:`CHAT` and always claimed first, oldest first. Everything else ages: a
task's effective priority improves by one for every ``worker.priority_aging_seconds`` it has been due, so a
stream of fresh targeted syncs cannot starve a full sync or a notification forever. Claiming orders the
non-chat tier by ``due_at + priority * aging_seconds`` (the same order, without ``now``).
"""

from __future__ import annotations

#: Chat: channel webhooks, conversation turns, chat replies. Never overtaken by aged tasks.
CHAT = 10
#: A shop's webhook delivery (it only turns into a coalesced targeted sync and order hooks).
SHOP_WEBHOOK = 15
#: A targeted catalog sync (the products a shop webhook named).
TARGETED_SYNC = 20
#: Notifications and owner alerts.
NOTIFICATION = 40
#: Anything else: scheduled delta and full syncs, housekeeping.
DEFAULT = 100


def is_chat(priority: int) -> bool:
    """Whether a task of this priority belongs to the chat tier (claimed ahead of everything)."""
    return priority <= CHAT
