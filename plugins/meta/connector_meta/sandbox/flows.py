"""WhatsApp Flows in the Graph sandbox (platform-changes-2026.md §6; Meta "Flows API" and "Lifecycle of a Flow").

* ``POST /<WABA_ID>/flows`` (``name``, ``categories``; optional ``flow_json``, ``publish``, ``clone_flow_id``) creates
  a DRAFT flow: ``{"id"}``, or ``{"id", "success", "validation_errors"}`` when ``flow_json`` came along. Names are
  unique per WABA (code 100 "Flow name is not unique").
* ``GET /<WABA_ID>/flows`` lists them (``id, name, status, categories, validation_errors``).
* ``POST /<FLOW_ID>/assets`` (multipart: ``file`` = flow.json, ``name`` = "flow.json", ``asset_type`` =
  "FLOW_JSON") replaces a DRAFT flow's JSON: ``{"success": true, "validation_errors": [...]}``. A published flow
  cannot be changed (a new one is created, or the flow cloned).
* ``POST /<FLOW_ID>/publish`` publishes a DRAFT flow whose JSON validates (irreversible); ``/deprecate`` deprecates
  a published one. ``GET /<FLOW_ID>`` reads ``id, name, status, json_version, validation_errors``.

Flow JSON is validated as far as the documented rules go: versions (messages 2.1-7.3, publishing 5.1-7.3), screens
with ids, a ``SingleColumnLayout``, a terminal screen whose Footer completes, unique input names, and the component
limits below. Meta's error code for publishing a flow with validation errors is NOT FOUND (only 100 is documented
for the management calls); it is the option ``flow_publish_error_code`` (100 by default).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from connector_meta.sandbox.errors import GraphError, invalid_parameter, invalid_value, missing_parameter
from connector_meta.sandbox.state import GraphState

CATEGORIES = frozenset(
    {"SIGN_UP", "SIGN_IN", "APPOINTMENT_BOOKING", "LEAD_GENERATION", "SHOPPING", "CONTACT_US", "CUSTOMER_SUPPORT"}
    | {"SURVEY", "OTHER"}
)
PUBLISH_VERSIONS = ("5.1", "7.3")
MESSAGE_VERSIONS = ("2.1", "7.3")
SCREEN_ID = re.compile(r"^[A-Z][A-Z_]*$")
#: Component text limits (Meta's Flow JSON component reference): (component, property) -> characters.
TEXT_LIMITS = {
    ("TextHeading", "text"): 80,
    ("TextSubheading", "text"): 80,
    ("TextBody", "text"): 4096,
    ("TextInput", "label"): 20,
    ("TextInput", "helper-text"): 80,
    ("TextArea", "label"): 20,
    ("TextArea", "helper-text"): 80,
    ("Dropdown", "label"): 20,
    ("RadioButtonsGroup", "label"): 30,
    ("CheckboxGroup", "label"): 30,
    ("OptIn", "label"): 120,
    ("Footer", "label"): 35,
}
#: Options a selection component may offer.
OPTION_LIMITS = {"Dropdown": 200, "RadioButtonsGroup": 20, "CheckboxGroup": 20}
OPTION_TITLE = 30
INPUTS = frozenset({"TextInput", "TextArea", "Dropdown", "RadioButtonsGroup", "CheckboxGroup", "OptIn", "DatePicker"})
COMPONENTS = INPUTS | {"TextHeading", "TextSubheading", "TextBody", "TextCaption", "Footer", "Form", "EmbeddedLink"}
INPUT_TYPES = frozenset({"text", "number", "email", "password", "passcode", "phone"})
ACTIONS = frozenset({"complete", "navigate", "data_exchange", "update_data", "open_url"})


@dataclass
class Flow:
    """One flow of the WABA."""

    id: str
    name: str
    categories: list[str]
    status: str = "DRAFT"
    flow_json: dict[str, Any] | None = None
    validation_errors: list[dict[str, Any]] = field(default_factory=list)

    def as_graph(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "categories": self.categories,
            "validation_errors": self.validation_errors,
            "json_version": (self.flow_json or {}).get("version"),
        }

    def screens(self) -> dict[str, dict[str, Any]]:
        screens = (self.flow_json or {}).get("screens") or []
        return {str(s.get("id")): s for s in screens if isinstance(s, dict)}


def _version(text: Any) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in str(text).split("."))
    except ValueError:
        return ()


def _in_range(version: Any, bounds: tuple[str, str]) -> bool:
    found = _version(version)
    return bool(found) and _version(bounds[0]) <= found <= _version(bounds[1])


def _problem(message: str, pointer: str, error: str = "INVALID_PROPERTY_VALUE") -> dict[str, Any]:
    return {"error": error, "error_type": "FLOW_JSON_ERROR", "message": message, "pointers": [pointer]}


def validate_flow_json(flow_json: Any) -> list[dict[str, Any]]:
    """Meta's ``validation_errors`` for ``flow_json`` (empty when it may be published)."""
    if not isinstance(flow_json, dict):
        return [_problem("Flow JSON must be an object", "/", "INVALID_JSON")]
    problems: list[dict[str, Any]] = []
    if not _in_range(flow_json.get("version"), PUBLISH_VERSIONS):
        problems.append(
            _problem(f"Flow JSON version must be between {PUBLISH_VERSIONS[0]} and {PUBLISH_VERSIONS[1]}", "/version")
        )
    screens = flow_json.get("screens")
    if not isinstance(screens, list) or not screens:
        return [*problems, _problem("screens must be a non-empty array", "/screens", "MISSING_REQUIRED_PROPERTY")]
    ids = [s.get("id") if isinstance(s, dict) else None for s in screens]
    if len(set(ids)) != len(ids):
        problems.append(_problem("Screen ids must be unique", "/screens"))
    if not any(isinstance(s, dict) and s.get("terminal") is True for s in screens):
        problems.append(_problem("A flow needs at least one terminal screen", "/screens", "MISSING_TERMINAL_SCREEN"))
    for i, screen in enumerate(screens):
        problems.extend(_screen(screen, f"/screens/{i}", set(i for i in ids if isinstance(i, str))))
    return problems


def _screen(screen: Any, at: str, screen_ids: set[str]) -> list[dict[str, Any]]:
    if not isinstance(screen, dict):
        return [_problem("A screen must be an object", at)]
    problems: list[dict[str, Any]] = []
    screen_id = screen.get("id")
    if not isinstance(screen_id, str) or not SCREEN_ID.match(screen_id) or screen_id == "SUCCESS":
        problems.append(
            _problem("Screen id must be upper-case letters and underscores (SUCCESS is reserved)", f"{at}/id")
        )
    layout = screen.get("layout")
    if not isinstance(layout, dict) or layout.get("type") != "SingleColumnLayout":
        return [*problems, _problem("layout.type must be SingleColumnLayout", f"{at}/layout")]
    children = layout.get("children")
    if not isinstance(children, list) or not children:
        return [*problems, _problem("layout.children must be a non-empty array", f"{at}/layout/children")]
    flat = _flatten(children, f"{at}/layout/children")
    names: set[str] = set()
    footers = 0
    for component, where in flat:
        kind = component.get("type")
        if kind not in COMPONENTS:
            problems.append(_problem(f"Unknown component type {kind!r}", f"{where}/type"))
            continue
        for (limited, prop), limit in TEXT_LIMITS.items():
            value = component.get(prop)
            if limited == kind and isinstance(value, str) and len(value) > limit:
                problems.append(_problem(f"{kind}.{prop} is longer than {limit} characters", f"{where}/{prop}"))
        if kind in INPUTS:
            name = component.get("name")
            if not isinstance(name, str) or not name:
                problems.append(_problem(f"{kind}.name is required", f"{where}/name", "MISSING_REQUIRED_PROPERTY"))
            elif name in names:
                problems.append(_problem(f"Duplicate component name {name!r}", f"{where}/name"))
            else:
                names.add(name)
        if kind == "TextInput" and component.get("input-type", "text") not in INPUT_TYPES:
            problems.append(_problem("TextInput.input-type is invalid", f"{where}/input-type"))
        if kind in OPTION_LIMITS:
            options = component.get("data-source")
            if not isinstance(options, list) or not options or len(options) > OPTION_LIMITS[kind]:
                problems.append(
                    _problem(f"{kind}.data-source must hold 1 to {OPTION_LIMITS[kind]} options", f"{where}/data-source")
                )
            else:
                for j, option in enumerate(options):
                    title = option.get("title") if isinstance(option, dict) else None
                    if not isinstance(option, dict) or not option.get("id") or not isinstance(title, str):
                        problems.append(_problem("An option needs id and title", f"{where}/data-source/{j}"))
                    elif len(title) > OPTION_TITLE:
                        problems.append(
                            _problem(
                                f"Option title is longer than {OPTION_TITLE} characters",
                                f"{where}/data-source/{j}/title",
                            )
                        )
        if kind == "Footer":
            footers += 1
            problems.extend(_footer(component, where, screen, screen_ids))
    if footers > 1:
        problems.append(_problem("A screen can have only one Footer", f"{at}/layout/children"))
    if screen.get("terminal") is True and footers == 0:
        problems.append(
            _problem("A terminal screen needs a Footer", f"{at}/layout/children", "MISSING_REQUIRED_PROPERTY")
        )
    return problems


def _footer(
    component: dict[str, Any], where: str, screen: dict[str, Any], screen_ids: set[str]
) -> list[dict[str, Any]]:
    action = component.get("on-click-action")
    if not isinstance(action, dict) or action.get("name") not in ACTIONS:
        return [_problem("Footer.on-click-action.name is invalid", f"{where}/on-click-action")]
    if screen.get("terminal") is True and action["name"] != "complete" and not screen.get("data_api_version"):
        return [_problem("The Footer of a terminal screen must complete the flow", f"{where}/on-click-action")]
    if action["name"] == "navigate":
        target = (action.get("next") or {}).get("name")
        if target not in screen_ids:
            return [_problem(f"navigate names an unknown screen {target!r}", f"{where}/on-click-action/next")]
    return []


def _flatten(children: list[Any], at: str) -> list[tuple[dict[str, Any], str]]:
    """Components of a layout, those inside a ``Form`` included, with their JSON pointers."""
    found: list[tuple[dict[str, Any], str]] = []
    for i, child in enumerate(children):
        where = f"{at}/{i}"
        if not isinstance(child, dict):
            continue
        found.append((child, where))
        if child.get("type") == "Form" and isinstance(child.get("children"), list):
            found.extend(_flatten(child["children"], f"{where}/children"))
    return found


# --------------------------------------------------------------------------- management calls


def _flow(state: GraphState, flow_id: str) -> Flow:
    found = state.flows.get(flow_id)
    if found is None:
        raise GraphError(100, "Invalid parameter", details="Flow with specified ID does not exist")
    return found


def create(state: GraphState, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /<WABA_ID>/flows``. The caller holds the lock."""
    name = params.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid_parameter("Param name is required")
    categories = params.get("categories")
    if isinstance(categories, str):
        try:
            categories = json.loads(categories)
        except ValueError:
            categories = [categories]
    if not isinstance(categories, list) or not categories or any(c not in CATEGORIES for c in categories):
        raise invalid_parameter(f"Param categories must be a non-empty array of {', '.join(sorted(CATEGORIES))}")
    if any(f.name == name for f in state.flows.values()):
        raise GraphError(100, "Invalid parameter", details="Flow name is not unique")
    flow = Flow(state.new_fbid(), name, list(categories))
    clone = params.get("clone_flow_id")
    if clone:
        flow.flow_json = _flow(state, str(clone)).flow_json
    state.flows[flow.id] = flow
    answer: dict[str, Any] = {"id": flow.id}
    if params.get("flow_json") is not None:
        answer.update(_set_json(flow, params["flow_json"]))
        if str(params.get("publish", "")).lower() == "true":
            publish(state, flow.id)
    return answer


def _set_json(flow: Flow, raw: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError:
        parsed = None
    flow.flow_json = parsed if isinstance(parsed, dict) else None
    flow.validation_errors = validate_flow_json(parsed)
    return {"success": True, "validation_errors": flow.validation_errors}


def upload_asset(state: GraphState, flow_id: str, form: dict[str, Any], file: bytes | None) -> dict[str, Any]:
    """``POST /<FLOW_ID>/assets``. The caller holds the lock."""
    flow = _flow(state, flow_id)
    if form.get("asset_type") != "FLOW_JSON":
        raise invalid_parameter("Param asset_type must be FLOW_JSON")
    if form.get("name") != "flow.json":
        raise invalid_parameter("Param name must be flow.json")
    if file is None:
        raise invalid_parameter("Param file is required (multipart file flow.json)")
    if flow.status != "DRAFT":
        raise GraphError(100, "Invalid parameter", details=f"Flow is {flow.status}: only a draft flow can be updated")
    return _set_json(flow, file)


def publish(state: GraphState, flow_id: str) -> dict[str, Any]:
    """``POST /<FLOW_ID>/publish``. The caller holds the lock."""
    flow = _flow(state, flow_id)
    if flow.status != "DRAFT":
        raise GraphError(100, "Invalid parameter", details=f"Flow is {flow.status}: only a draft flow can be published")
    if flow.flow_json is None or flow.validation_errors:
        raise GraphError(
            state.options.flow_publish_error_code,
            "Invalid parameter",
            details="Flow can't be published: the Flow JSON is missing or has validation errors",
        )
    flow.status = "PUBLISHED"
    return {"success": True}


def deprecate(state: GraphState, flow_id: str) -> dict[str, Any]:
    """``POST /<FLOW_ID>/deprecate``. The caller holds the lock."""
    flow = _flow(state, flow_id)
    if flow.status != "PUBLISHED":
        raise GraphError(100, "Invalid parameter", details="Only a published flow can be deprecated")
    flow.status = "DEPRECATED"
    return {"success": True}


# --------------------------------------------------------------------------- the interactive flow message


def validate_flow_message(state: GraphState, interactive: dict[str, Any], text: Any) -> None:
    """An ``interactive.type: "flow"`` send (Meta "Sending a Flow"). ``text`` is whatsapp.py's string checker."""
    action = interactive.get("action")
    if not isinstance(action, dict) or action.get("name") != "flow":
        raise invalid_parameter("Param interactive.action.name must be flow", whatsapp=True)
    params = action.get("parameters")
    if not isinstance(params, dict):
        raise missing_parameter("interactive.action.parameters is required")
    if params.get("flow_message_version") != "3":
        raise invalid_parameter("Param flow_message_version must be 3", whatsapp=True)
    text(params.get("flow_token"), "interactive.action.parameters.flow_token", 1000, required=False)
    text(params.get("flow_cta"), "interactive.action.parameters.flow_cta", 30)
    flow_id, flow_name = params.get("flow_id"), params.get("flow_name")
    if bool(flow_id) == bool(flow_name):
        raise invalid_parameter("Exactly one of flow_id or flow_name is required", whatsapp=True)
    flow = (
        state.flows.get(str(flow_id))
        if flow_id
        else next((f for f in state.flows.values() if f.name == flow_name), None)
    )
    if flow is None:
        raise invalid_parameter("Flow with specified ID does not exist", whatsapp=True)
    mode = params.get("mode", "published")
    if mode not in ("published", "draft"):
        raise invalid_parameter("Param mode must be published or draft", whatsapp=True)
    if (mode == "published" and flow.status != "PUBLISHED") or flow.status in ("DEPRECATED", "BLOCKED"):
        raise invalid_value(f"Flow {flow.id} is {flow.status} and cannot be sent in {mode} mode")
    if flow.flow_json is None or not _in_range(flow.flow_json.get("version"), MESSAGE_VERSIONS):
        raise invalid_value(f"Flow {flow.id} has no Flow JSON a message can carry")
    flow_action = params.get("flow_action", "navigate")
    if flow_action not in ("navigate", "data_exchange"):
        raise invalid_parameter("Param flow_action must be navigate or data_exchange", whatsapp=True)
    if flow_action == "navigate":
        payload = params.get("flow_action_payload")
        screen = payload.get("screen") if isinstance(payload, dict) else None
        if screen not in flow.screens():
            raise invalid_value("flow_action_payload.screen must name a screen of the flow")
        data = payload.get("data") if isinstance(payload, dict) else None
        declared = flow.screens()[screen].get("data") or {}
        if isinstance(data, dict) and set(data) - set(declared):
            raise invalid_value(f"flow_action_payload.data has fields screen {screen} does not declare")
