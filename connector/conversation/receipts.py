"""Read receipts and the typing indicator while the engine works out an answer.

The customer's message is marked read as soon as the bot starts on it; when the answer takes longer than
``[chat] typing_after_seconds`` (a shop call, a slow search), the channel also shows "typing…" until the answer
arrives. Both are cosmetic: they run beside the engine on a short-lived thread and never delay or fail an answer.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.adapters import ChannelAdapter
    from connector.conversation.settings import ChatSettings

log = logging.getLogger(__name__)

#: How long :meth:`Receipt.finish` waits for a receipt already on its way, so it lands before the answer does
#: (an indicator arriving after the answer would show "typing…" for nothing).
FINISH_WAIT_SECONDS = 5.0


class Receipt:
    """Marks one inbound message read now and shows the typing indicator if :meth:`finish` comes late."""

    def __init__(self, adapter: ChannelAdapter, message_id: str, typing_after: float | None):
        self._adapter = adapter
        self._message_id = message_id
        self._typing_after = typing_after
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chat-read-receipt", daemon=True)

    def start(self) -> Receipt:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            if self._typing_after == 0:
                self._adapter.mark_read(self._message_id, typing=True)
                return
            self._adapter.mark_read(self._message_id)
            if self._typing_after is not None and not self._done.wait(self._typing_after):
                self._adapter.mark_read(self._message_id, typing=True)
        except Exception:  # a cosmetic call must never break answering
            log.exception("read receipt for %s failed", self._message_id)

    def finish(self) -> None:
        """The answer is ready: no typing indicator from now on; let a receipt in flight land first."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(FINISH_WAIT_SECONDS)


def start(adapter: ChannelAdapter, message_id: str | None, settings: ChatSettings) -> Receipt | None:
    """Start the receipt for ``message_id`` as ``settings`` ask; ``None`` when they ask for none."""
    if not settings.read_receipts or not message_id:
        return None
    typing_after = settings.typing_after_seconds if settings.typing_indicator else None
    return Receipt(adapter, message_id, typing_after).start()
