"""The inbox's own state per conversation (one contact on one channel): read, taken over by a person, answered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from connector.db.models import Base


class InboxConversation(Base):
    """What the people answering a contact know about the conversation (a row appears when one first acts on it).

    ``read_through``: the last customer message (``inbound_messages.id``) a person has seen; later ones are unread
    (by id, not time: the channels stamp messages in whole seconds). ``taken_over_at`` /
    ``taken_over_by``: a person took the conversation over and the bot is silent until they hand it back.
    ``settled_at``: when a person last replied or handed back; a handoff the customer asked for before it is
    answered, one after it "needs a person"."""

    __tablename__ = "inbox_conversations"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    read_through: Mapped[int | None] = mapped_column(Integer)
    taken_over_at: Mapped[datetime | None]
    taken_over_by: Mapped[str | None] = mapped_column(String(254))
    settled_at: Mapped[datetime | None]
