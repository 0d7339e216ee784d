"""Messenger utility messages, the replacement for the message tags Meta removed on 2026-04-27.

A Page creates utility templates (``POST /{page_id}/message_templates``, ``category: "UTILITY"`` only; listed with
``GET``) and sends one outside the 24-hour window with ``messaging_type: "UTILITY"`` and ``message.template``
(``name``, ``language.code``, ``components[{type, parameters[{type, text|payload|url}]}]``). Open beta: the Page
and the user must both be in a supported market (US, Vietnam, Thailand, Philippines).

What Meta answers for an unapproved template or an unsupported market is NOT FOUND in its documentation: the
sandbox refuses both with code 100 ("Invalid parameter") and a ``details`` line saying why.
"""

from __future__ import annotations

from typing import Any

from connector_meta.sandbox.errors import GraphError, invalid_parameter
from connector_meta.sandbox.state import GraphState, MessengerUser, Template
from connector_meta.sandbox.templates import create_template
from connector_meta.sandbox.whatsapp import placeholders

#: The tags Meta refuses since 2026-04-27 (``HUMAN_AGENT`` still works).
REMOVED_TAGS = frozenset({"CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE"})
#: Meta's answer to a removed tag: code 100, subcode 1893061 (CONFIRMED).
REMOVED_TAG_SUBCODE = 1893061
SEND_COMPONENTS = frozenset({"HEADER", "BODY", "TITLE", "BUTTONS"})
PARAMETER_TYPES = frozenset({"text", "payload", "url"})
STATUSES = frozenset({"APPROVED", "PENDING", "REJECTED"})


def removed_tag() -> GraphError:
    """The answer to a send with ``POST_PURCHASE_UPDATE``, ``ACCOUNT_UPDATE`` or ``CONFIRMED_EVENT_UPDATE``."""
    return GraphError(100, "Invalid parameter", subcode=REMOVED_TAG_SUBCODE)


def create_page_template(state: GraphState, params: dict[str, Any]) -> Template:
    """Store a Page utility template with the status Meta's review gives it. The caller holds ``state.lock``."""
    template = create_template(state, params, store=state.page_templates, categories=frozenset({"UTILITY"}))
    template.status = state.options.page_template_status.upper()
    return template


def set_status(state: GraphState, name: str, language: str, status: str) -> Template:
    """Meta's review decided (or changed) a Page template's status. The caller holds ``state.lock``."""
    template = state.page_templates.get((name, language))
    if template is None:
        raise KeyError(f"no Page template {name} in {language}")
    if status.upper() not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(sorted(STATUSES))}")
    template.status = status.upper()
    return template


def _refuse(details: str) -> GraphError:
    return GraphError(100, "Invalid parameter", details=details)


def validate_utility(state: GraphState, user: MessengerUser, message: Any) -> None:
    """Check a ``messaging_type: UTILITY`` send: Messenger only, an approved Page template with its parameters, and
    a Page and user in a supported market. No window applies. The caller holds ``state.lock``."""
    if user.object != "page":
        raise invalid_parameter("Param messaging_type UTILITY is only available on Messenger")
    if not isinstance(message, dict) or set(message) != {"template"} or not isinstance(message["template"], dict):
        raise invalid_parameter("Param message must hold exactly a template for messaging_type UTILITY")
    template = message["template"]
    name, language = template.get("name"), (template.get("language") or {})
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(name, str) or not name or not isinstance(code, str) or not code:
        raise invalid_parameter("Param message[template] requires name and language[code]")
    stored = state.page_templates.get((name, code))
    if stored is None:
        raise _refuse(f"Template {name} does not exist in {code} for this Page")
    if stored.status != "APPROVED":
        raise _refuse(f"Template {name} ({code}) is not approved: {stored.status}")
    _parameters(stored, template.get("components", []))
    options = state.options
    country = options.messenger_user_countries.get(user.user_id, options.messenger_default_country)
    if options.page_country not in options.utility_markets or country not in options.utility_markets:
        raise _refuse("Utility messages are not available for this Page or this person's country")


def _parameters(stored: Template, components: Any) -> None:
    if not isinstance(components, list):
        raise invalid_parameter("Param message[template][components] must be an array")
    given: dict[str, int] = {}
    for i, component in enumerate(components):
        kind = str(component.get("type", "")).upper() if isinstance(component, dict) else ""
        if kind not in SEND_COMPONENTS:
            raise invalid_parameter(f"Param message[template][components][{i}][type] must be one of {{BODY, ...}}")
        parameters = component.get("parameters") or []
        for j, parameter in enumerate(parameters):
            if not isinstance(parameter, dict) or parameter.get("type") not in PARAMETER_TYPES:
                raise invalid_parameter(
                    f"Param message[template][components][{i}][parameters][{j}][type] must be text, payload or url"
                )
            value = parameter.get(parameter["type"])
            if not isinstance(value, str) or not value:
                raise invalid_parameter(f"Param message[template][components][{i}][parameters][{j}] has no value")
        given[kind] = len(parameters)
    body = next((c for c in stored.components if str(c.get("type")).upper() == "BODY"), {})
    expected = len(placeholders(body.get("text")))
    if given.get("BODY", 0) != expected:
        raise _refuse(f"Template {stored.name} takes {expected} body parameters, {given.get('BODY', 0)} given")
