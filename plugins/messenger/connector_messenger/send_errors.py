"""Map Send API errors (Graph ``{"error": {"code", "error_subcode", "message"}}``) to what the core must do.

Codes from Meta's Messenger "Common Error Codes" page (Mar 18 2026) and the Send API error-code reference:

====================  ==========================================================  ===============
code / subcode        meaning                                                     action
====================  ==========================================================  ===============
10 / 2018278          message sent outside of allowed window                      UNDELIVERABLE *
10 / 2534022          outside of allowed window (Instagram)                       UNDELIVERABLE *
551                   this person isn't available right now                       UNDELIVERABLE
100 / 2018001         no matching user found                                      UNDELIVERABLE
2, 1200               unexpected / temporary send failure                         RETRY
4, 17, 32, 613        app / user / page / API rate limit                          RETRY_LATER
80006                 Messenger business-use-case rate limit                      RETRY_LATER
190, 10, 200-299,     invalid or expired token, permissions, policy block,        CONFIG
230, 368, 2635        expired Graph API version
100 (other), 1        invalid parameter, bad JSON                                 BUG
====================  ==========================================================  ===============

\\* Outside the window a message can only go with a message tag. A human agent's reply is resent once
with ``HUMAN_AGENT`` by the adapter before this becomes UNDELIVERABLE; automated messages cannot be
tagged HUMAN_AGENT, and WhatsApp-style templates do not exist here, so USE_TEMPLATE is never returned.
Any HTTP 5xx is RETRY whatever its body says.
"""

from __future__ import annotations

from connector_meta.graph import GraphErrorInfo, graph_error

from connector.errors import PlatformError, RateLimited, SendAction, SendError

WINDOW_SUBCODES = frozenset({2018278, 2534022})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80006})
TRANSIENT_CODES = frozenset({1200, 2})
#: The Page's setup is broken, not the message: the token (190), a permission (10, 200-299), a policy block (368),
#: a Graph API version Meta no longer serves (2635).
SETUP_CODES = frozenset({190, 10, 368, 2635, *range(200, 300)})


def outside_window(error: GraphErrorInfo) -> bool:
    """True when Meta refused the message because the messaging window is closed."""
    return error.error_subcode in WINDOW_SUBCODES


def action_for(error: GraphErrorInfo) -> SendAction:
    """What the core does after this error."""
    if error.status >= 500:
        return SendAction.RETRY
    if outside_window(error):
        return SendAction.UNDELIVERABLE
    if error.code == 551 or (error.code == 100 and error.error_subcode == 2018001):
        return SendAction.UNDELIVERABLE
    if error.code in RATE_LIMIT_CODES or error.status == 429:
        return SendAction.RETRY_LATER
    if error.code in TRANSIENT_CODES:
        return SendAction.RETRY
    if error.code in SETUP_CODES or error.status == 401:
        return SendAction.CONFIG
    return SendAction.BUG


def send_error(error: GraphErrorInfo, channel: str, *, retry_after: float | None = None) -> SendError:
    """A :class:`SendError` saying what happened in words a shop owner understands."""
    action = action_for(error)
    code = f"{error.code}/{error.error_subcode}" if error.error_subcode else error.code
    if outside_window(error):
        text = (
            f"{channel} refused the message: it is outside the allowed window (24 h after the customer's last message, "
            f"7 days for a human agent's reply); it can only be sent with a valid message tag ({error.message})"
        )
    elif action is SendAction.UNDELIVERABLE:
        text = f"{channel} cannot deliver to this person ({error.summary})"
    else:
        text = f"{channel} Send API answered {error.status}, code {code}: {error.summary}"
    return SendError(text, action=action, code=code, status=error.status, retry_after=retry_after)


def from_exception(exc: PlatformError, channel: str) -> SendError:
    """The :class:`SendError` for anything :class:`~connector_meta.graph.GraphClient` raised while sending."""
    info = graph_error(exc)
    if info is not None:
        return send_error(info, channel, retry_after=exc.retry_after)
    if isinstance(exc, RateLimited):  # the client's own fail-fast while Meta says we are blocked
        return SendError(str(exc), action=SendAction.RETRY_LATER, retry_after=exc.retry_after)
    # Connection refused or timed out: nothing (or nothing we can confirm) was sent; the core retries.
    return SendError(f"{channel} Send API unreachable: {exc}", action=SendAction.RETRY)
