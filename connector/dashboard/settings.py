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
    default_language: Literal["en", "de"] = "en"
    #: Failed logins allowed per client address (and per login name) within ``login_window_seconds``.
    login_max_failures: int = Field(5, ge=1, le=1000)
    #: The sliding window of the login rate limit, in seconds.
    login_window_seconds: int = Field(900, ge=10)
    #: A dashboard session ends after this many hours.
    session_hours: int = Field(12, ge=1, le=24 * 30)
    #: Allow creating the first dashboard user in the browser when none exists, from this machine only
    #: (or anywhere in demo mode). Otherwise use ``connector dashboard add-user``.
    first_user_from_browser: bool = True
    #: Estimated cost of one business-initiated (template) message, for the "cost today" figures.
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
