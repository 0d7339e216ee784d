"""The [dashboard] section of the configuration file (validated at start-up with the rest of the config)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DashboardSettings(BaseModel):
    """Settings of this subsystem. Every field needs a default, a type and a comment saying what it does."""

    model_config = ConfigDict(extra="forbid")

    #: Mount the web dashboard (login, setup wizard, status pages) on the web app.
    enabled: bool = True
    #: Where the dashboard lives on the web app.
    url_prefix: str = Field("/dashboard", pattern=r"^/[a-z0-9_\-/]*[a-z0-9_\-]$")
    #: UI language when neither the user's choice nor the browser's Accept-Language says otherwise.
    default_language: Literal["en", "de", "fr", "es", "it", "nl", "pt_BR"] = "en"
    #: Time zone the dashboard shows dates and times in (an IANA name such as ``Europe/Berlin``).
    time_zone: str = "UTC"
    #: Failed logins per client address (and per login name) before each further attempt has to wait.
    login_max_failures: int = Field(5, ge=1, le=1000)
    #: Failures are forgotten this many seconds after the last one.
    login_window_seconds: int = Field(900, ge=10)
    #: The first wait after ``login_max_failures`` failures, in seconds; it doubles with every further failure.
    login_backoff_seconds: float = Field(2.0, gt=0, le=3600)
    #: The longest wait for a client address that keeps failing, in seconds.
    login_max_backoff_seconds: int = Field(900, ge=1)
    #: The longest wait for a login name that keeps failing (from anywhere), in seconds: how long someone
    #: guessing the owner's password can delay the owner's own login from another address.
    login_account_max_backoff_seconds: int = Field(60, ge=1)
    #: A dashboard session ends this many hours after the login (the cookie's lifetime too).
    session_hours: int = Field(12, ge=1, le=24 * 30)
    #: Allow creating the first dashboard user in the browser, through the one-time setup link that
    #: ``connector init`` and ``connector dashboard setup-link`` print. Otherwise use ``connector dashboard add-user``.
    first_user_from_browser: bool = True
    #: A setup link works for this many hours.
    setup_link_hours: int = Field(24, ge=1, le=24 * 30)
    #: Estimated cost of one business-initiated (template) message stored before messages carried their rate-card
    #: price, for the "cost today" figures.
    template_message_cost: float = Field(0.05, ge=0)
    #: Currency of the cost estimates.
    cost_currency: str = Field("EUR", min_length=3, max_length=3)
    #: Serve Prometheus metrics at ``/metrics`` on the web app.
    metrics_enabled: bool = True
    #: Serve ``/metrics`` without a token. By default it needs an admin API bearer token (a ``read`` one will do:
    #: ``connector tokens create prometheus --scope read``), since it names shops and channels and shows volumes.
    metrics_public: bool = False
    #: Prefilled text of click-to-chat links and QR codes.
    click_to_chat_text: str = "Hi! I have a question about your shop."
