"""Exceptions that cross the boundary between plugins and the core.

Plugins raise these so the core can decide what to do without knowing the platform: retry later,
switch to a template, give up on a recipient, or fail loudly because we have a bug.
"""

from __future__ import annotations

import enum


class ConnectorError(Exception):
    """Base of all errors the connector raises on purpose."""


class ConfigError(ConnectorError):
    """Configuration is invalid. The message names the key and the problem."""


class SettingsError(ConnectorError):
    """A connection's settings are invalid. ``errors`` maps field name to problem."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class ConnectionTestError(ConnectorError):
    """Testing a connection failed. The message says what to fix (wrong token, wrong URL, ...)."""


class PlatformError(ConnectorError):
    """A platform answered with an error. ``retryable`` errors are retried with backoff by the core."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


class AuthenticationError(PlatformError):
    """The platform refused our credentials (401/403). Never retried."""


class RateLimited(PlatformError):
    """The platform throttled us. ``retry_after`` says when to try again, in seconds, when known."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = 429, code=None):
        super().__init__(message, status=status, code=code, retryable=True, retry_after=retry_after)


class NotFound(PlatformError):
    """The object does not exist on the platform."""


class OrderAlreadyShipped(ConnectorError):
    """The order has shipped; its delivery address can no longer change."""


class SendAction(enum.StrEnum):
    """What the core must do after a channel refused a message."""

    USE_TEMPLATE = "use_template"  # outside the 24-hour window: send an approved template instead
    RETRY_LATER = "retry_later"  # throughput or pair-rate limit: retry later, slower
    UNDELIVERABLE = "undeliverable"  # the recipient cannot get messages: do not retry
    BUG = "bug"  # we sent something invalid: fail loudly with the detail
    RETRY = "retry"  # transient platform failure (5xx, timeout before sending)
    #: The channel's setup is broken (access token expired or revoked, a permission or the payment method missing,
    #: the account locked): no message can go out until the owner fixes it. Keep the message and try again later.
    CONFIG = "config"


class SendError(PlatformError):
    """A channel refused a message. ``action`` tells the core what to do next."""

    def __init__(self, message: str, *, action: SendAction, code: int | str | None = None, **kwargs):
        super().__init__(message, code=code, retryable=action in (SendAction.RETRY_LATER, SendAction.RETRY), **kwargs)
        self.action = action


class NotSendable(SendError):
    """The channel cannot carry this message at all, found out before anything was sent (a Messenger utility
    template the Page has no approval for). The core skips it with this reason: no retry, no failure."""

    def __init__(self, message: str, **kwargs):
        super().__init__(message, action=SendAction.UNDELIVERABLE, **kwargs)


class MessageLimitError(ConnectorError):
    """An outbound message breaks a documented channel limit. Raised *before* anything is sent.

    ``field`` names the part at fault (``sections[0].rows[3].title``), ``limit`` the documented limit.
    """

    def __init__(self, field: str, problem: str, *, limit: int | None = None):
        self.field = field
        self.limit = limit
        super().__init__(f"{field}: {problem}")


class WebhookRejected(ConnectorError):
    """A webhook cannot be accepted. ``status`` is the HTTP status to answer (401/403 bad signature, 400 malformed)."""

    def __init__(self, status: int, reason: str):
        self.status = status
        self.reason = reason
        super().__init__(f"{status}: {reason}")
