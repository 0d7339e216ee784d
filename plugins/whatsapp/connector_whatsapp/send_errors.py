"""Cloud API send failures -> :class:`~connector.errors.SendError` with the action the core must take.

Codes and handling from whatsapp-cloud-api.md §6. The code is read from the parsed Graph error
(``error.code``); ``error_data.details`` goes into the message so a BUG is actionable.
"""

from __future__ import annotations

from connector_meta.graph import graph_error

from connector.errors import AuthenticationError, PlatformError, SendAction, SendError

#: Outside the 24-hour customer service window: send an approved template instead.
USE_TEMPLATE_CODES = frozenset({131047})
#: Throughput (130429), pair rate (131056), app/WABA rate limits, spam rate, per-user marketing cap.
RETRY_LATER_CODES = frozenset({4, 80007, 130429, 131048, 131049, 131056, 133016})
#: The recipient cannot get this message: not on WhatsApp / old app (131026), sender = recipient (131021),
#: stopped marketing messages (131050), part of an experiment (130472), country restriction (130497).
UNDELIVERABLE_CODES = frozenset({131026, 131021, 131050, 130472, 130497})
#: Transient platform trouble: unknown error, service unavailable, maintenance, generic error.
RETRY_CODES = frozenset({1, 2, 131000, 131016, 131057, 135000})
#: The setup is broken, not the message: token (0, 190), permissions (3, 10, 200-299, 131005), account locked
#: (131031), payment (131042), phone number registration (131045), policy block (368), a Graph API version Meta
#: no longer serves (2635). The owner must act.
SETUP_CODES = frozenset({0, 190, 3, 10, 131005, 131031, 131042, 131045, 368, 2635, *range(200, 300)})

# When a retry is worth it, how long to wait if Meta gives no hint (seconds).
_RETRY_LATER_WAIT = {131049: 24 * 3600.0, 131056: 6.0}


def action_for(code: int | None, status: int | None) -> SendAction:
    """The :class:`SendAction` for a Graph error code (and HTTP status when there is no code)."""
    if code in USE_TEMPLATE_CODES:
        return SendAction.USE_TEMPLATE
    if code in RETRY_LATER_CODES:
        return SendAction.RETRY_LATER
    if code in UNDELIVERABLE_CODES:
        return SendAction.UNDELIVERABLE
    if code in SETUP_CODES or status == 401:
        return SendAction.CONFIG
    if code in RETRY_CODES or status is None or status >= 500:
        return SendAction.RETRY
    if status == 429:
        return SendAction.RETRY_LATER
    # 100, 131008, 131009, 132xxx template errors: the message is wrong.
    return SendAction.BUG


def send_error(exc: PlatformError) -> SendError:
    """Turn what :class:`~connector_meta.graph.GraphClient` raised during a send into a :class:`SendError`."""
    info = graph_error(exc)
    code = info.code if info else exc.code
    status = info.status if info else exc.status
    action = action_for(code if isinstance(code, int) else None, status)
    retry_after = exc.retry_after
    if action is SendAction.RETRY_LATER and isinstance(code, int):
        retry_after = max(retry_after or 0.0, _RETRY_LATER_WAIT.get(code, 0.0)) or None
    prefix = "WhatsApp credentials or permissions: " if isinstance(exc, AuthenticationError) else "WhatsApp refused: "
    detail = info.summary if info else str(exc)
    error = SendError(f"{prefix}{detail}", action=action, code=code, status=status, retry_after=retry_after)
    error.details = info.details if info else None  # type: ignore[attr-defined]
    error.graph_error = info  # type: ignore[attr-defined]
    return error
