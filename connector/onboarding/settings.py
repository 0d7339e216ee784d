"""The [onboarding] section of the configuration file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OnboardingSettings(BaseModel):
    """Approval flows (install by OAuth, WooCommerce's authorize screen, Shopware's app registration)."""

    model_config = ConfigDict(extra="forbid")

    #: How long a started approval flow may take before its ``state`` is refused, in seconds.
    state_ttl_seconds: int = Field(900, ge=30, le=24 * 3600)
    #: Let flows start although ``[server] public_url`` is not a public HTTPS address on port 80/443/8080 (the
    #: platforms then cannot reach the callbacks; only for the local sandboxes and tests).
    allow_private_callbacks: bool = False
