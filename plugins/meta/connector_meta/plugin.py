"""Hook implementations of the shared Meta plugin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from connector import hookimpl
from connector.adapters import ConfigField
from connector.sandbox.base import Sandbox

if TYPE_CHECKING:
    import flask

    from connector.runtime import Runtime


@hookimpl
def connector_register_sandboxes() -> Sequence[type[Sandbox]]:
    """The Graph API sandbox (catalog, WhatsApp, Messenger/Instagram, Embedded Signup)."""
    from connector_meta.sandbox import GraphSandbox

    return [GraphSandbox]


@hookimpl
def connector_config_fields() -> Sequence[ConfigField]:
    """``[plugins.meta]``: the Meta app behind 'Connect WhatsApp' and 'Connect Facebook and Instagram'."""
    from connector_meta.onboarding.app import CONFIG_FIELDS

    return CONFIG_FIELDS


@hookimpl
def connector_register_blueprints(app: flask.Flask) -> list[flask.Blueprint]:
    """The onboarding pages under ``<dashboard>/setup/meta`` (only with the dashboard enabled)."""
    if not app.extensions["connector"].config.dashboard.enabled:
        return []
    from connector_meta.onboarding.web import create_blueprint, static_blueprint

    return [create_blueprint(app), static_blueprint(app)]


@hookimpl
def connector_doctor_checks(runtime: Runtime) -> list[Any]:
    """The one-time prerequisites of the Meta onboarding, as ``connector doctor`` findings."""
    from connector_meta.onboarding.prerequisites import doctor_checks

    return doctor_checks(runtime)
