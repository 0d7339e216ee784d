"""Message templates: creation through ``POST /{waba_id}/message_templates`` (approved at once) and the demo set."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import urlencode

from connector_meta.sandbox.errors import GraphError, invalid_parameter
from connector_meta.sandbox.pricing import check_ttl
from connector_meta.sandbox.state import PLACEHOLDER, GraphState, Template
from connector_meta.sandbox.whatsapp import placeholders

CATEGORIES = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})
NAME = re.compile(r"^[a-z0-9_]{1,512}$")
LIMITS = {"HEADER": 60, "BODY": 1024, "FOOTER": 60}
#: Templates a WhatsApp Business Account may hold (Meta: 250 until the business is verified).
TEMPLATE_LIMIT = 250

#: Templates every sandbox starts with (all approved).
DEMO_TEMPLATES: list[dict[str, Any]] = [
    {"name": "hello_world", "language": "en_US", "category": "UTILITY", "components": [
        {"type": "BODY", "text": "Hello from Chatshop Demo!"}]},
    {"name": "order_shipped", "language": "en_US", "category": "UTILITY", "components": [
        {"type": "BODY", "text": "Good news {{1}}: order {{2}} has shipped with {{3}}."},
        {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://track.example.com/{{1}}"}]}]},
    {"name": "back_in_stock", "language": "en_US", "category": "MARKETING", "components": [
        {"type": "HEADER", "format": "IMAGE"},
        {"type": "BODY", "text": "{{1}} is back in stock. Reply to order it."},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop alerts"}]}]},
]  # fmt: skip


def create_template(
    state: GraphState,
    params: dict[str, Any],
    *,
    store: dict[tuple[str, str], Template] | None = None,
    categories: frozenset[str] = CATEGORIES,
) -> Template:
    """Validate a template definition and store it as APPROVED (in ``store``: the WhatsApp Business Account's
    templates unless given). The caller holds ``state.lock``."""
    store = state.templates if store is None else store
    name = params.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise invalid_parameter("Param name must be lowercase letters, digits and underscores (max 512)")
    language = params.get("language")
    if not isinstance(language, str) or not language:
        raise invalid_parameter("The parameter language is required")
    category = str(params.get("category", "")).upper()
    if category not in categories:
        raise invalid_parameter(f"Param category must be one of {{{', '.join(sorted(categories))}}}")
    components = params.get("components")
    if not isinstance(components, list) or not components:
        raise invalid_parameter("The parameter components is required")
    kinds = [str(c.get("type", "")).upper() for c in components if isinstance(c, dict)]
    if len(kinds) != len(components) or "BODY" not in kinds or len(set(kinds)) != len(kinds):
        raise invalid_parameter("components must hold exactly one BODY and at most one HEADER, FOOTER and BUTTONS")
    for component, kind in zip(components, kinds, strict=True):
        limit = LIMITS.get(kind)
        text = component.get("text")
        if limit and text is not None and len(str(text)) > limit:
            raise invalid_parameter(f"{kind} text is longer than {limit} characters")
        text_header = kind == "HEADER" and str(component.get("format", "TEXT")).upper() == "TEXT"
        if text_header and len(placeholders(text)) > 1:
            raise invalid_parameter("A text header takes at most one variable")
        if kind == "BUTTONS" and len(component.get("buttons") or []) > 10:
            raise invalid_parameter("A template has at most 10 buttons")
    if "LIMITED_TIME_OFFER" in kinds and (category != "MARKETING" or "FOOTER" in kinds):
        raise invalid_parameter("A limited-time offer template is a MARKETING template without a footer")
    if "CAROUSEL" in kinds:
        carousel = components[kinds.index("CAROUSEL")]
        cards = carousel.get("cards")
        if category != "MARKETING" or not isinstance(cards, list) or not 1 <= len(cards) <= 10:
            raise invalid_parameter("A product-card carousel template is MARKETING with 1 to 10 cards")
        shapes = {_card_shape(card, i) for i, card in enumerate(cards)}
        if len(shapes) != 1:
            raise invalid_parameter("All cards of a carousel template must have the same components and buttons")
    if (name, language) in store:
        raise GraphError(
            100,
            "Invalid parameter",
            details=f"Content in this language already exists for template {name}",
            subcode=2388024,
        )
    ttl = check_ttl(category, params.get("message_send_ttl_seconds"))
    components = [with_example(component, kind) for component, kind in zip(components, kinds, strict=True)]
    template = Template(str(state.new_fbid()), name, language, category, components, ttl_seconds=ttl)
    store[(name, language)] = template
    return template


#: A carousel card's header formats: a catalog product (product cards) or media (media cards).
CARD_HEADERS = frozenset({"PRODUCT", "IMAGE", "VIDEO"})
#: Buttons a product card takes (exactly one) and a media card takes (one or two).
PRODUCT_CARD_BUTTONS = frozenset({"SPM", "URL"})
MEDIA_CARD_BUTTONS = frozenset({"QUICK_REPLY", "URL", "PHONE_NUMBER"})
#: A card's body text (media cards).
CARD_BODY = 160


def _card_shape(card: Any, index: int) -> tuple[str, ...]:
    """Check one card of a carousel template definition (a product card: a PRODUCT header and one View (SPM) or URL
    button; a media card: an IMAGE or VIDEO header, an optional body of at most 160 characters and one or two quick
    reply, URL or phone number buttons); returns its shape, which every card of the template must share."""
    where = f"cards[{index}]"
    parts = card.get("components") if isinstance(card, dict) else None
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise invalid_parameter(f"{where}.components is required")
    kinds = [str(p.get("type", "")).upper() for p in parts]
    if kinds.count("HEADER") != 1 or len(set(kinds)) != len(kinds) or not set(kinds) <= {"HEADER", "BODY", "BUTTONS"}:
        raise invalid_parameter(f"{where} needs one HEADER and at most one BODY and BUTTONS")
    header = str(parts[kinds.index("HEADER")].get("format", "")).upper()
    if header not in CARD_HEADERS:
        raise invalid_parameter(f"{where}.HEADER format must be PRODUCT, IMAGE or VIDEO")
    body = parts[kinds.index("BODY")] if "BODY" in kinds else None
    if body is not None and len(str(body.get("text") or "")) > CARD_BODY:
        raise invalid_parameter(f"{where}.BODY text is longer than {CARD_BODY} characters")
    buttons = parts[kinds.index("BUTTONS")].get("buttons") if "BUTTONS" in kinds else []
    types = tuple(str(b.get("type", "")).upper() for b in buttons or [] if isinstance(b, dict))
    if header == "PRODUCT":
        if body is not None or len(types) != 1 or types[0] not in PRODUCT_CARD_BUTTONS:
            raise invalid_parameter(f"{where}: a product card has no body and one View (SPM) or URL button")
    elif not 1 <= len(types) <= 2 or not set(types) <= MEDIA_CARD_BUTTONS:
        raise invalid_parameter(f"{where}: a media card has one or two quick reply, URL or phone number buttons")
    return (header, "BODY" if body is not None else "", *types)


def with_example(component: dict[str, Any], kind: str) -> dict[str, Any]:
    """``component`` with the ``example`` Meta keeps for its variables (sample values are required at creation
    on Meta; the sandbox fills them in when a definition leaves them out, so listings look like Meta's)."""
    if "example" in component and kind != "BUTTONS":
        return component
    if kind in ("HEADER", "BODY"):
        fmt = str(component.get("format", "TEXT")).upper()
        if kind == "HEADER" and fmt in ("IMAGE", "VIDEO", "DOCUMENT"):
            return {**component, "example": {"header_handle": [f"https://scontent.example/sample-{fmt.lower()}"]}}
        names = placeholders(component.get("text"))
        if not names:
            return component
        prefix = "header_text" if kind == "HEADER" else "body_text"
        if all(name.isdigit() for name in names):
            samples = [f"sample {name}" for name in names]
            return {**component, "example": {prefix: samples if kind == "HEADER" else [samples]}}
        named = [{"param_name": name, "example": f"sample {name}"} for name in names]
        return {**component, "example": {f"{prefix}_named_params": named}}
    if kind == "BUTTONS":
        buttons = []
        for button in component.get("buttons") or []:
            url = str(button.get("url") or "")
            if str(button.get("type", "")).upper() == "URL" and placeholders(url) and "example" not in button:
                button = {**button, "example": [PLACEHOLDER.sub("sample", url)]}
            buttons.append(button)
        return {**component, "buttons": buttons}
    return component


def templates_page(data: list[dict[str, Any]], args: dict[str, str], base_url: str) -> dict[str, Any]:
    """``GET /{waba_id}/message_templates``: filters (``name``, ``status``, ``category``, ``language``), ``limit`` and
    ``before`` / ``after`` cursors, answered with Graph's ``paging`` object; ``summary=`` adds the counts asked for."""
    total = len(data)
    for key in ("name", "language", "status", "category"):
        if args.get(key):
            values = [value.strip() for value in args[key].split(",")]
            wanted = {value.upper() for value in values} if key in ("status", "category") else set(values)
            data = [t for t in data if t[key] in wanted]
    try:
        limit = max(1, min(int(args.get("limit", 25)), 1000))
    except ValueError:
        raise invalid_parameter("Param limit must be an integer") from None
    start = 0
    for name, shift in (("after", 1), ("before", -limit)):
        if args.get(name):
            index = _cursor_index(args[name])
            if index is None or not 0 <= index < len(data) + 1:
                raise invalid_parameter(f"Invalid cursor in param {name}")
            start = max(0, index + shift)
    page = data[start : start + limit]
    answer: dict[str, Any] = {"data": page}
    if args.get("summary"):
        summary = {
            "total_count": len(data),
            "message_template_count": total,
            "message_template_limit": TEMPLATE_LIMIT,
            "are_translations_complete": True,
        }
        wanted = {name.strip() for name in args["summary"].split(",")}
        answer["summary"] = {k: v for k, v in summary.items() if k in wanted or "true" in wanted}
    if page:
        cursors = {"before": _cursor(start), "after": _cursor(start + len(page) - 1)}
        paging: dict[str, Any] = {"cursors": cursors}
        query = {k: v for k, v in args.items() if k not in ("after", "before", "access_token")}
        if start + len(page) < len(data):
            paging["next"] = f"{base_url}?{urlencode({**query, 'limit': limit, 'after': cursors['after']})}"
        if start > 0:
            paging["previous"] = f"{base_url}?{urlencode({**query, 'limit': limit, 'before': cursors['before']})}"
        answer["paging"] = paging
    return answer


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"tpl:{index}".encode()).decode()


def _cursor_index(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "tpl" and number.isdigit() else None


def seed_templates(state: GraphState) -> None:
    with state.lock:
        for definition in DEMO_TEMPLATES:
            create_template(state, definition)
