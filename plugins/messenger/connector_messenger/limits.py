"""The documented Send API limits, per channel.

Sources (see /work/shared/reference/messenger-instagram.md §3 and docs/channels/messenger-instagram.md):

* quick replies: up to 13, text quick replies need a non-empty title ([qr]); titles are cut after 20 characters
  ([ig-qr]) — we refuse longer titles instead of letting the platform truncate them;
* generic template: up to 10 elements, ``title``/``subtitle`` 80 characters, up to 3 buttons per element ([generic]);
* button template: ``text`` up to 640 characters, 1-3 buttons ([button], [ig-button]);
* button titles 20 characters and postback/quick-reply payloads 1000 characters (Messenger button reference;
  the payload figure is UNCONFIRMED in the shared reference);
* text messages: 2000 characters on Messenger (Send API reference); Instagram text must be under 1000 bytes
  of UTF-8 (Instagram "send message" page).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """One channel's limits. Character counts are Unicode code points; ``text_bytes`` counts UTF-8 bytes."""

    text_chars: int
    text_bytes: int | None
    quick_replies: int = 13
    quick_reply_title: int = 20
    payload_chars: int = 1000
    generic_elements: int = 10
    element_title: int = 80
    element_subtitle: int = 80
    element_buttons: int = 3
    button_text: int = 640
    template_buttons: int = 3
    button_title: int = 20


MESSENGER = Limits(text_chars=2000, text_bytes=None)
# Instagram: "text ... must be UTF-8 and less than 1000 bytes"; 999 bytes is the most that passes.
INSTAGRAM = Limits(text_chars=1000, text_bytes=999)
