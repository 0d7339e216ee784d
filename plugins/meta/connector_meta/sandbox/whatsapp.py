"""Validation of WhatsApp Cloud API sends (``POST /{phone_number_id}/messages``), limit by limit."""

from __future__ import annotations

import re
from typing import Any

from connector_meta.ids import BSUID
from connector_meta.sandbox import flows
from connector_meta.sandbox.errors import GraphError, invalid_parameter, invalid_value, missing_parameter
from connector_meta.sandbox.state import PLACEHOLDER, GraphState, InboundRecord, Template

TEXT_BODY = 4096
INTERACTIVE_BODY = 1024
HEADER_TEXT = 60
FOOTER = 60
LIST_BUTTON = 20
LIST_SECTIONS = 10
LIST_ROWS = 10
SECTION_TITLE = 24
ROW_ID, ROW_TITLE, ROW_DESCRIPTION = 200, 24, 72
REPLY_BUTTONS = 3
BUTTON_TITLE, BUTTON_ID = 20, 256
CTA_DISPLAY_TEXT = 20
PRODUCT_LIST_ITEMS = 30
PRODUCT_LIST_SECTIONS = 10
#: Product carousel (platform-changes-2026.md §7): 2-10 cards of one catalog, body required, no header/footer.
CAROUSEL_CARDS = (2, 10)
#: A copy-code button's coupon code; cards of a product-card carousel template.
COUPON_CODE = 15
TEMPLATE_CARDS = 10
TYPES = frozenset(
    {"text", "interactive", "template", "image", "video", "audio", "document", "sticker", "location", "contacts"}
    | {"reaction"}
)
#: ``request_contact_info`` was ``contact_request`` until 2026-05-28; the old name is refused now.
INTERACTIVE_TYPES = frozenset(
    {"list", "button", "cta_url", "product", "product_list", "catalog_message", "request_contact_info", "flow"}
    | {"carousel"}
)
BUTTON_SUB_TYPES = frozenset({"quick_reply", "url", "copy_code", "flow", "catalog", "mpm"})


def _text(value: Any, path: str, limit: int, *, required: bool = True) -> str:
    """``value`` checked as Graph checks a string parameter (``""`` when optional and absent)."""
    if value is None or value == "":
        if required:
            raise missing_parameter(f"{path} is required")
        return ""
    if not isinstance(value, str):
        raise invalid_parameter(f"Param {path} must be a string", whatsapp=True)
    if len(value) > limit:
        raise invalid_value(f"{path} length invalid. Min length: 1, Max length: {limit}")
    return value


def _obj(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        raise missing_parameter(f"{path} is required")
    if not isinstance(value, dict):
        raise invalid_parameter(f"Param {path} must be an object", whatsapp=True)
    return value


def _header(interactive: dict[str, Any], *, text_only: bool, required: bool = False) -> None:
    header = interactive.get("header")
    if header is None:
        if required:
            raise missing_parameter("interactive.header is required")
        return
    header = _obj(header, "interactive.header")
    kind = str(header.get("type") or "")
    allowed = ("text",) if text_only else ("text", "image", "video", "document")
    if kind not in allowed:
        raise invalid_parameter(f"Param interactive.header.type must be one of {{{', '.join(allowed)}}}", whatsapp=True)
    if kind == "text":
        _text(header.get("text"), "interactive.header.text", HEADER_TEXT)
    else:
        media = _obj(header.get(kind), f"interactive.header.{kind}")
        if not (media.get("link") or media.get("id")):
            raise missing_parameter(f"interactive.header.{kind}.link or .id is required")


def _body_footer(interactive: dict[str, Any], *, body_required: bool = True, footer: bool = True) -> None:
    body = interactive.get("body")
    if body is None and body_required:
        raise missing_parameter("interactive.body is required")
    if body is not None:
        _text(_obj(body, "interactive.body").get("text"), "interactive.body.text", INTERACTIVE_BODY)
    if "footer" in interactive:
        if not footer:
            raise invalid_parameter("Param interactive.footer is not allowed for this type", whatsapp=True)
        _text(_obj(interactive["footer"], "interactive.footer").get("text"), "interactive.footer.text", FOOTER)


def _list(interactive: dict[str, Any]) -> None:
    _header(interactive, text_only=True)
    _body_footer(interactive)
    action = _obj(interactive.get("action"), "interactive.action")
    _text(action.get("button"), "interactive.action.button", LIST_BUTTON)
    sections = action.get("sections")
    if not isinstance(sections, list) or not sections:
        raise missing_parameter("interactive.action.sections is required")
    if len(sections) > LIST_SECTIONS:
        raise invalid_value(f"Too many sections. Max allowed sections: {LIST_SECTIONS}")
    rows_total = 0
    row_ids: set[str] = set()
    for i, section in enumerate(sections):
        section = _obj(section, f"interactive.action.sections[{i}]")
        _text(section.get("title"), f"sections[{i}].title", SECTION_TITLE, required=len(sections) > 1)
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise missing_parameter(f"sections[{i}].rows is required")
        for j, row in enumerate(rows):
            row = _obj(row, f"sections[{i}].rows[{j}]")
            _text(row.get("id"), f"sections[{i}].rows[{j}].id", ROW_ID)
            _text(row.get("title"), f"sections[{i}].rows[{j}].title", ROW_TITLE)
            _text(row.get("description"), f"sections[{i}].rows[{j}].description", ROW_DESCRIPTION, required=False)
            if row["id"] in row_ids:
                raise invalid_value(f"Row id {row['id']!r} is not unique in the message")
            row_ids.add(row["id"])
        rows_total += len(rows)
    if rows_total > LIST_ROWS:
        raise invalid_value(f"Total row count exceed max allowed count: {LIST_ROWS}")


def _buttons(interactive: dict[str, Any]) -> None:
    _header(interactive, text_only=False)
    _body_footer(interactive)
    action = _obj(interactive.get("action"), "interactive.action")
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not buttons:
        raise missing_parameter("interactive.action.buttons is required")
    if len(buttons) > REPLY_BUTTONS:
        raise invalid_value(f"Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: {REPLY_BUTTONS}")
    titles: set[str] = set()
    ids: set[str] = set()
    for i, button in enumerate(buttons):
        button = _obj(button, f"interactive.action.buttons[{i}]")
        if button.get("type") != "reply":
            raise invalid_parameter(f"Param interactive.action.buttons[{i}].type must be reply", whatsapp=True)
        reply = _obj(button.get("reply"), f"buttons[{i}].reply")
        _text(reply.get("id"), f"buttons[{i}].reply.id", BUTTON_ID)
        _text(reply.get("title"), f"Button title (buttons[{i}].reply.title)", BUTTON_TITLE)
        if reply["title"] in titles or reply["id"] in ids:
            raise invalid_value("Button title or id is not unique in the message")
        titles.add(reply["title"])
        ids.add(reply["id"])


def _cta_url(interactive: dict[str, Any]) -> None:
    _header(interactive, text_only=False)
    _body_footer(interactive)
    action = _obj(interactive.get("action"), "interactive.action")
    if action.get("name") != "cta_url":
        raise invalid_parameter("Param interactive.action.name must be cta_url", whatsapp=True)
    parameters = _obj(action.get("parameters"), "interactive.action.parameters")
    _text(parameters.get("display_text"), "interactive.action.parameters.display_text", CTA_DISPLAY_TEXT)
    url = _text(parameters.get("url"), "interactive.action.parameters.url", 2000)
    if not re.match(r"^https?://\S+$", url):
        raise invalid_value("interactive.action.parameters.url must be an http(s) URL")


def _known_product(state: GraphState, catalog_id: Any, retailer_id: Any, path: str) -> None:
    catalog = state.catalogs.get(str(catalog_id)) if catalog_id else None
    if catalog is None or str(catalog_id) != state.business.catalog_id:
        raise invalid_value(f"Catalog {catalog_id} is not connected to this WhatsApp Business Account")
    _text(retailer_id, path, 100)
    item = catalog.items.get(str(retailer_id))
    if item is None or item.data.get("visibility") == "hidden":
        raise invalid_value(f"Product with retailer id {retailer_id} not found in catalog {catalog_id}")


def _product(state: GraphState, interactive: dict[str, Any]) -> None:
    if "header" in interactive:
        raise invalid_parameter("Param interactive.header is not allowed for type product", whatsapp=True)
    _body_footer(interactive, body_required=False)
    action = _obj(interactive.get("action"), "interactive.action")
    _known_product(state, action.get("catalog_id"), action.get("product_retailer_id"), "product_retailer_id")


def _product_list(state: GraphState, interactive: dict[str, Any]) -> None:
    _header(interactive, text_only=True, required=True)
    _body_footer(interactive)
    action = _obj(interactive.get("action"), "interactive.action")
    sections = action.get("sections")
    if not isinstance(sections, list) or not sections:
        raise missing_parameter("interactive.action.sections is required")
    if len(sections) > PRODUCT_LIST_SECTIONS:
        raise invalid_value(f"Too many sections. Max allowed sections: {PRODUCT_LIST_SECTIONS}")
    total = 0
    for i, section in enumerate(sections):
        section = _obj(section, f"sections[{i}]")
        _text(section.get("title"), f"sections[{i}].title", SECTION_TITLE, required=len(sections) > 1)
        items = section.get("product_items")
        if not isinstance(items, list) or not items:
            raise missing_parameter(f"sections[{i}].product_items is required")
        total += len(items)
        if total > PRODUCT_LIST_ITEMS:
            raise invalid_value(f"Too many products. Max allowed products: {PRODUCT_LIST_ITEMS}")
        for j, item in enumerate(items):
            item = _obj(item, f"sections[{i}].product_items[{j}]")
            path = f"sections[{i}].product_items[{j}].product_retailer_id"
            _known_product(state, action.get("catalog_id"), item.get("product_retailer_id"), path)


def _catalog_message(state: GraphState, interactive: dict[str, Any]) -> None:
    if "header" in interactive:
        raise invalid_parameter("Param interactive.header is not allowed for type catalog_message", whatsapp=True)
    _body_footer(interactive)
    action = _obj(interactive.get("action"), "interactive.action")
    if action.get("name") != "catalog_message":
        raise invalid_parameter("Param interactive.action.name must be catalog_message", whatsapp=True)
    parameters = _obj(action.get("parameters"), "interactive.action.parameters")
    retailer_id = parameters.get("thumbnail_product_retailer_id")
    _known_product(state, state.business.catalog_id, retailer_id, "thumbnail_product_retailer_id")


def _carousel(state: GraphState, interactive: dict[str, Any]) -> None:
    """A product carousel: ``body.text`` (≤ 1024), 2-10 ``type: "product"`` cards of one catalog, numbered from 0,
    no header, footer or buttons."""
    for extra in ("header", "footer"):
        if extra in interactive:
            raise invalid_parameter(f"Param interactive.{extra} is not allowed for type carousel", whatsapp=True)
    _body_footer(interactive, footer=False)
    action = _obj(interactive.get("action"), "interactive.action")
    if "buttons" in action:
        raise invalid_parameter("Param interactive.action.buttons is not allowed for a product carousel", whatsapp=True)
    cards = action.get("cards")
    if not isinstance(cards, list) or not cards:
        raise missing_parameter("interactive.action.cards is required")
    low, high = CAROUSEL_CARDS
    if not low <= len(cards) <= high:
        raise invalid_value(f"A carousel needs {low} to {high} cards, got {len(cards)}")
    catalogs = set()
    for i, card in enumerate(cards):
        card = _obj(card, f"cards[{i}]")
        if card.get("card_index") != i:
            raise invalid_value(f"cards[{i}].card_index must be {i}")
        if card.get("type") != "product":
            raise invalid_parameter(f"Param cards[{i}].type must be product", whatsapp=True)
        card_action = _obj(card.get("action"), f"cards[{i}].action")
        catalogs.add(str(card_action.get("catalog_id")))
        path = f"cards[{i}].action.product_retailer_id"
        _known_product(state, card_action.get("catalog_id"), card_action.get("product_retailer_id"), path)
    if len(catalogs) > 1:
        raise invalid_value("All cards of a carousel must come from one catalog")


def _request_contact_info(interactive: dict[str, Any]) -> None:
    """Ask for the customer's phone number (one tap shares it): a body, ``action.name`` ``request_contact_info``."""
    if "header" in interactive:
        raise invalid_parameter("Param interactive.header is not allowed for type request_contact_info", whatsapp=True)
    _body_footer(interactive)
    action = _obj(interactive.get("action"), "interactive.action")
    if action.get("name") != "request_contact_info":
        raise invalid_parameter("Param interactive.action.name must be request_contact_info", whatsapp=True)


# --------------------------------------------------------------------------- templates


def placeholders(text: str | None) -> list[str]:
    """The ``{{1}}`` / ``{{name}}`` variables of a template text, in order of first use."""
    seen: list[str] = []
    for name in PLACEHOLDER.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def _check_parameter(param: Any, path: str) -> None:
    param = _obj(param, path)
    kind = param.get("type")
    if kind == "text":
        value = param.get("text")
        if not isinstance(value, str) or value == "":
            raise missing_parameter(f"{path}.text is required")
        if "\n" in value or "\t" in value or "     " in value:
            raise invalid_parameter(
                "Param text cannot have new-line/tab characters or more than 4 consecutive spaces", whatsapp=True
            )
    elif kind == "currency":
        currency = _obj(param.get("currency"), f"{path}.currency")
        for name in ("fallback_value", "code", "amount_1000"):
            if currency.get(name) in (None, ""):
                raise missing_parameter(f"{path}.currency.{name} is required")
        amount = currency["amount_1000"]
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise invalid_parameter(f"Param {path}.currency.amount_1000 must be an integer", whatsapp=True)
    elif kind == "date_time":
        if not _obj(param.get("date_time"), f"{path}.date_time").get("fallback_value"):
            raise missing_parameter(f"{path}.date_time.fallback_value is required")
    elif kind in ("image", "document", "video"):
        media = _obj(param.get(kind), f"{path}.{kind}")
        if not (media.get("link") or media.get("id")):
            raise missing_parameter(f"{path}.{kind}.link or .id is required")
    elif kind == "payload":
        _text(param.get("payload"), f"{path}.payload", 1000)
    elif kind == "coupon_code":
        _text(param.get("coupon_code"), f"{path}.coupon_code", COUPON_CODE)
    elif kind == "limited_time_offer":
        expires = _obj(param.get("limited_time_offer"), f"{path}.limited_time_offer").get("expiration_time_ms")
        if not isinstance(expires, int) or isinstance(expires, bool) or expires <= 0:
            raise invalid_parameter(
                f"Param {path}.limited_time_offer.expiration_time_ms must be epoch ms", whatsapp=True
            )
    elif kind == "product":
        product = _obj(param.get("product"), f"{path}.product")
        _text(product.get("product_retailer_id"), f"{path}.product.product_retailer_id", 100)
    else:
        raise invalid_parameter(f"Param {path}.type is invalid", whatsapp=True)


def _format_mismatch(details: str) -> GraphError:
    return GraphError(
        132012, "Parameter format does not match format in the created template", details=details, whatsapp=True
    )


def _mismatch(where: str, got: int, expected: int) -> GraphError:
    return GraphError(
        132000,
        "Number of parameters does not match the expected number of params",
        details=f"{where}: number of localizable_params ({got}) does not match the expected number of params "
        f"({expected})",
        whatsapp=True,
    )


def _template(state: GraphState, template: dict[str, Any]) -> Template:
    name = _text(template.get("name"), "template.name", 512)
    language = _obj(template.get("language"), "template.language")
    code = _text(language.get("code"), "template.language.code", 15)
    found = state.templates.get((name, code))
    if found is None or found.status != "APPROVED":
        raise GraphError(
            132001,
            "Template name does not exist in the translation",
            details=f"template name ({name}) does not exist in {code}",
            whatsapp=True,
        )
    components = template.get("components") or []
    if not isinstance(components, list):
        raise invalid_parameter("Param template.components must be an array", whatsapp=True)
    sent: dict[tuple[str, int], list[Any]] = {}
    for i, component in enumerate(components):
        component = _obj(component, f"template.components[{i}]")
        # Meta's examples use lower case; Meta accepts upper case too (pywa sends BODY, HEADER, URL...).
        kind = str(component.get("type", "")).lower()
        if kind not in ("header", "body", "button", "limited_time_offer", "carousel"):
            raise invalid_parameter(
                f"Param template.components[{i}].type must be header, body, button, limited_time_offer or carousel",
                whatsapp=True,
            )
        if kind == "carousel":
            _template_cards(state, found, component, f"template.components[{i}]")
            sent[(kind, 0)] = []
            continue
        params = component.get("parameters") or []
        if not isinstance(params, list):
            raise invalid_parameter(f"Param template.components[{i}].parameters must be an array", whatsapp=True)
        for j, param in enumerate(params):
            _check_parameter(param, f"template.components[{i}].parameters[{j}]")
        index = 0
        if kind == "button":
            try:
                raw_index: Any = component.get("index")  # JSON: a number or a numeric string
                index = int(raw_index)
            except (TypeError, ValueError):
                raise missing_parameter(f"template.components[{i}].index is required") from None
            if str(component.get("sub_type", "")).lower() not in BUTTON_SUB_TYPES:
                raise invalid_parameter(f"Param template.components[{i}].sub_type is invalid", whatsapp=True)
        sent[(kind, index)] = params
    _match_components(found, sent)
    return found


def _template_cards(state: GraphState, template: Template, component: dict[str, Any], path: str) -> None:
    """The cards of a product-card carousel template send: 1-10, numbered from 0, each naming a catalog product."""
    defined = next((c for c in template.components if str(c.get("type", "")).upper() == "CAROUSEL"), None)
    if defined is None:
        raise _mismatch("carousel", 1, 0)
    cards = component.get("cards")
    if not isinstance(cards, list) or not 1 <= len(cards) <= TEMPLATE_CARDS:
        raise invalid_value(f"{path}.cards must hold 1 to {TEMPLATE_CARDS} cards")
    product_cards = _card_header(defined) == "PRODUCT"
    for i, card in enumerate(cards):
        card = _obj(card, f"{path}.cards[{i}]")
        if card.get("card_index") != i:
            raise invalid_value(f"{path}.cards[{i}].card_index must be {i}")
        headers = [
            p
            for part in card.get("components") or []
            if isinstance(part, dict) and str(part.get("type", "")).lower() == "header"
            for p in part.get("parameters") or []
        ]
        if product_cards and [p.get("type") for p in headers if isinstance(p, dict)] != ["product"]:
            # A product card shows the catalog product its header names: without one there is nothing to show.
            raise _mismatch(f"cards[{i}] header", len(headers), 1)
        for j, part in enumerate(card.get("components") or []):
            for k, param in enumerate(_obj(part, f"{path}.cards[{i}].components[{j}]").get("parameters") or []):
                where = f"{path}.cards[{i}].components[{j}].parameters[{k}]"
                _check_parameter(param, where)
                if param.get("type") == "product":
                    product = param["product"]
                    catalog = product.get("catalog_id") or state.business.catalog_id
                    _known_product(state, catalog, product.get("product_retailer_id"), f"{where}.product")


def _card_header(carousel: dict[str, Any]) -> str:
    """The header format (``PRODUCT``, ``IMAGE``, ``VIDEO``) of a carousel template's cards (all share it)."""
    for card in carousel.get("cards") or []:
        for part in card.get("components") or [] if isinstance(card, dict) else []:
            if isinstance(part, dict) and str(part.get("type", "")).upper() == "HEADER":
                return str(part.get("format", "")).upper()
    return ""


def _match_components(template: Template, sent: dict[tuple[str, int], list[Any]]) -> None:
    """Compare the send's parameters with the approved template's variables."""
    for component in template.components:
        kind = str(component.get("type", "")).upper()
        expiring = (component.get("limited_time_offer") or {}).get("has_expiration")
        if kind == "LIMITED_TIME_OFFER" and expiring and not sent.get(("limited_time_offer", 0)):
            raise _mismatch("limited_time_offer", 0, 1)
        if kind == "CAROUSEL" and ("carousel", 0) not in sent:
            raise _mismatch("carousel", 0, len(component.get("cards") or []))
        if kind == "BODY":
            expected = placeholders(component.get("text"))
            params = sent.get(("body", 0), [])
            if len(params) != len(expected):
                raise _mismatch("body", len(params), len(expected))
            if any(p.get("type") not in ("text", "currency", "date_time") for p in params):
                raise _format_mismatch("body: variables take text, currency or date_time parameters")
            named = [p for p in expected if not p.isdigit()]
            if named and sorted(p.get("parameter_name", "") for p in params) != sorted(named):
                raise _format_mismatch(f"body: named parameters {named} expected")
        elif kind == "HEADER":
            fmt = str(component.get("format", "TEXT")).upper()
            params = sent.get(("header", 0), [])
            expected_count = len(placeholders(component.get("text"))) if fmt == "TEXT" else 1
            if len(params) != expected_count:
                raise _mismatch("header", len(params), expected_count)
            wanted = "text" if fmt == "TEXT" else fmt.lower()
            if any(p.get("type") != wanted for p in params):
                raise _format_mismatch(f"header: expected a {wanted} parameter")
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                dynamic = str(button.get("type", "")).upper() == "URL" and placeholders(button.get("url"))
                params = sent.get(("button", index), [])
                if dynamic and len(params) != 1:
                    raise _mismatch(f"button {index}", len(params), 1)
    has_header = any(str(c.get("type", "")).upper() == "HEADER" for c in template.components)
    for kind, index in sent:
        if kind == "button" and not _has_button(template, index):
            raise invalid_value(f"Button at index {index} does not exist in the template")
        if kind == "limited_time_offer" and not any(
            str(c.get("type", "")).upper() == "LIMITED_TIME_OFFER" for c in template.components
        ):
            raise _mismatch("limited_time_offer", len(sent[(kind, index)]), 0)
        if kind == "header" and not has_header and sent[(kind, index)]:
            # Parameters for a header the approved template does not have: Meta counts them against none.
            raise _mismatch("header", len(sent[(kind, index)]), 0)


def _has_button(template: Template, index: int) -> bool:
    for component in template.components:
        if str(component.get("type", "")).upper() == "BUTTONS":
            return index < len(component.get("buttons") or [])
    return False


# --------------------------------------------------------------------------- read receipts, typing indicators


def is_status_update(body: Any) -> bool:
    """A read receipt (``status: "read"`` + ``message_id``), optionally with a typing indicator, not a message."""
    return isinstance(body, dict) and "status" in body and "to" not in body


def validate_status_update(state: GraphState, phone_number_id: str, body: dict[str, Any]) -> tuple[InboundRecord, bool]:
    """Check a read receipt / typing indicator; return the customer's message it names and whether to show typing.

    The caller holds ``state.lock``.
    """
    if body.get("messaging_product") != "whatsapp":
        raise invalid_parameter("The parameter messaging_product is required and must be whatsapp", whatsapp=True)
    if body.get("status") != "read":
        raise invalid_parameter("Param status must be read", whatsapp=True)
    wamid = _text(body.get("message_id"), "message_id", 200)
    record = state.wa_inbound.get(wamid)
    if record is None or record.phone_number_id != phone_number_id:
        raise invalid_parameter(f"Param message_id {wamid} is not a message this phone number received", whatsapp=True)
    typing = body.get("typing_indicator")
    if typing is not None and _obj(typing, "typing_indicator").get("type") != "text":
        raise invalid_parameter("Param typing_indicator.type must be text", whatsapp=True)
    return record, typing is not None


# --------------------------------------------------------------------------- entry point


def _recipient(state: GraphState, body: dict[str, Any]) -> tuple[str, str]:
    """(recipient as given, wa_id): ``to`` (a phone number), else ``recipient`` (a business-scoped user id, 2026);
    with both, ``to`` wins as on WhatsApp."""
    to = body.get("to")
    if to is None and "recipient" in body:
        user_id = body["recipient"]
        if not isinstance(user_id, str) or not BSUID.fullmatch(user_id):
            raise invalid_parameter(
                "Param recipient must be a business-scoped user id (e.g. US.1349...)", whatsapp=True
            )
        wa_id = state.wa_user_ids.get(user_id)
        if wa_id is None:
            raise invalid_parameter(f"Param recipient {user_id} is not a user of this business", whatsapp=True)
        return user_id, wa_id
    if not isinstance(to, str) or not re.fullmatch(r"\+?[0-9][0-9 ()-]{5,20}", to):
        raise invalid_parameter("The parameter to is required and must be a phone number", whatsapp=True)
    return to, re.sub(r"\D", "", to)


def validate_send(state: GraphState, body: Any) -> tuple[str, str, str, Template | None]:
    """Check one send; return (recipient as given, its wa_id, message type, template or None). Raises
    :class:`GraphError`.

    The caller holds ``state.lock`` (product checks read the catalog).
    """
    if not isinstance(body, dict):
        raise invalid_parameter("Request body must be a JSON object", whatsapp=True)
    if body.get("messaging_product") != "whatsapp":
        raise invalid_parameter("The parameter messaging_product is required and must be whatsapp", whatsapp=True)
    if body.get("recipient_type", "individual") != "individual":
        raise invalid_parameter("Param recipient_type must be individual", whatsapp=True)
    given, wa_id = _recipient(state, body)
    kind = body.get("type", "text")
    if kind not in TYPES:
        raise invalid_parameter(f"Param type must be one of {{{', '.join(sorted(TYPES))}}}", whatsapp=True)
    if "context" in body:
        _text(_obj(body["context"], "context").get("message_id"), "context.message_id", 200)
    content = body.get(kind)
    template = None
    if kind == "text":
        text = _obj(content, "text")
        _text(text.get("body"), "text.body", TEXT_BODY)
    elif kind == "interactive":
        interactive = _obj(content, "interactive")
        itype = interactive.get("type")
        if itype not in INTERACTIVE_TYPES:
            raise invalid_parameter(
                f"Param interactive.type must be one of {{{', '.join(sorted(INTERACTIVE_TYPES))}}}", whatsapp=True
            )
        if itype == "list":
            _list(interactive)
        elif itype == "button":
            _buttons(interactive)
        elif itype == "cta_url":
            _cta_url(interactive)
        elif itype == "product":
            _product(state, interactive)
        elif itype == "product_list":
            _product_list(state, interactive)
        elif itype == "request_contact_info":
            _request_contact_info(interactive)
        elif itype == "flow":
            _header(interactive, text_only=True)
            _body_footer(interactive)
            flows.validate_flow_message(state, interactive, _text)
        elif itype == "carousel":
            _carousel(state, interactive)
        else:
            _catalog_message(state, interactive)
    elif kind == "template":
        template = _template(state, _obj(content, "template"))
    else:
        _obj(content, kind)
    return given, wa_id, kind, template
