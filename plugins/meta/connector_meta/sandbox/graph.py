"""The Graph API side of the sandbox: auth, node lookups, catalog, WhatsApp and Send API endpoints."""

from __future__ import annotations

import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

from connector_meta import versions
from connector_meta.sandbox import catalog as catalog_api
from connector_meta.sandbox import flows as flows_api
from connector_meta.sandbox import messenger, signals, utility, whatsapp
from connector_meta.sandbox import pricing as pricing_api
from connector_meta.sandbox.errors import GraphError, invalid_parameter, unknown_object
from connector_meta.sandbox.events import WebhookHub
from connector_meta.sandbox.state import GraphState
from connector_meta.sandbox.templates import create_template, templates_page
from flask import Blueprint, Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.routing import BaseConverter


class VersionConverter(BaseConverter):
    """Graph API versions in paths (``v25.0``); which ones are served is checked per request (:func:`check_version`)."""

    regex = r"v\d{1,2}\.0"


def access_token() -> str | None:
    """The token from ``Authorization: Bearer``, or an ``access_token`` query/form/JSON parameter."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    token = request.args.get("access_token") or request.form.get("access_token")
    if token:
        return token
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("access_token"), str):
            return body["access_token"]
    return None


def check_token(state: GraphState) -> None:
    token = access_token()
    if token is None:
        raise GraphError(190, "An active access token must be used to query information about the current user.")
    if token in state.issued_tokens:
        return
    if not hmac.compare_digest(token.encode(), state.business.access_token.encode()):
        raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")


def check_version(state: GraphState, version: str) -> None:
    """Refuse a version Meta has not released (unknown path, code 2500) or no longer serves (code 2635)."""
    number = versions.VERSION.match(version)
    if number is None or int(number.group(1)) > (versions.version_number(versions.NEWEST) or 0):
        raise GraphError(2500, f"Unknown path components: {request.path}")
    until = versions.expiry(version)
    today = datetime.fromtimestamp(state.now(), UTC).date()
    if until is not None and until <= today and state.options.expired_versions == "refuse":
        raise GraphError(
            versions.EXPIRED_CODE,
            f"You are calling a deprecated version of the Ads API. Please update to the latest version: "
            f"{versions.NEWEST}.",
        )


def json_body() -> Any:
    """The request's JSON body; Graph answers malformed JSON with code 100."""
    data = request.get_data()
    if not data:
        return {}
    try:
        return json.loads(data)
    except ValueError:
        raise invalid_parameter("Request body is not valid JSON") from None


def request_params() -> dict[str, Any]:
    """Query, form and JSON parameters merged, as Graph reads them."""
    params: dict[str, Any] = dict(request.args.items())
    if request.is_json:
        body = json_body()
        if not isinstance(body, dict):
            raise invalid_parameter("Request body must be a JSON object")
        params.update(body)
    else:
        params.update(request.form.items())
    params.pop("access_token", None)
    return params


def _pretty_number(digits: str) -> str:
    """``15550100199`` -> ``+1 555-010-0199``, the way Graph shows a phone number node."""
    if len(digits) == 11 and digits.startswith("1"):
        return f"+1 {digits[1:4]}-{digits[4:7]}-{digits[7:]}"
    return "+" + digits


def graph_blueprint(state: GraphState, hub: WebhookHub) -> Blueprint:
    """Routes under ``/<version>/``."""
    bp = Blueprint("graph", __name__)
    business = state.business

    @bp.before_request
    def _auth() -> None:
        check_token(state)
        check_version(state, str((request.view_args or {}).get("version") or ""))

    @bp.errorhandler(GraphError)
    def _graph_error(error: GraphError) -> Response:
        return error.response(state.options.throttle_http_status)

    @bp.get("/<version:version>/<node>")
    def node(version: str, node: str) -> Response:
        numbers = signals.portfolio_numbers(state)
        if node in numbers:
            answer: dict[str, Any] = {
                "id": node,
                "display_phone_number": _pretty_number(numbers[node]),
                "verified_name": business.verified_name,
                "code_verification_status": "VERIFIED",
                "quality_rating": "GREEN",
                "platform_type": "CLOUD_API",
                "throughput": {"level": "STANDARD"},
            }
            wanted = {f.strip() for f in request.args.get("fields", "").split(",") if f.strip()}
            if "whatsapp_business_manager_messaging_limit" in wanted:  # v24.0+ (platform-changes-2026.md §2)
                with state.lock:
                    answer["whatsapp_business_manager_messaging_limit"] = state.options.messaging_limit_tier
            return jsonify(answer)
        if node == business.waba_id:
            answer = {"id": node, "name": business.verified_name, "currency": "EUR"}
            if "marketing_messages_onboarding_status" in request.args.get("fields", "").split(","):
                answer["marketing_messages_onboarding_status"] = state.options.marketing_messages_onboarding_status
            return jsonify(answer)
        if node in ("me", business.page_id):
            return jsonify({"id": business.page_id, "name": business.page_name})
        if node == business.instagram_account_id:
            return jsonify({"id": node, "username": business.instagram_username})
        if node == business.business_id:  # the business portfolio (prerequisite check: verification)
            return jsonify(
                {
                    "id": node,
                    "name": business.verified_name,
                    "verification_status": business.business_verification_status,
                }
            )
        with state.lock:
            flow = state.flows.get(node)
            if flow is not None:
                return jsonify(flow.as_graph())
            catalog = state.catalogs.get(node)
            if catalog is not None:
                return jsonify({"id": node, "name": catalog.name, "product_count": len(catalog.items)})
        raise unknown_object(node)

    @bp.route("/<version:version>/<node>/flows", methods=["GET", "POST"])
    def flows(version: str, node: str) -> Response:
        """WhatsApp Flows of the WABA: list or create (:mod:`connector_meta.sandbox.flows`)."""
        if node != business.waba_id:
            raise unknown_object(node, request.method.lower())
        with state.lock:
            if request.method == "POST":
                return jsonify(flows_api.create(state, request_params()))
            data = [flow.as_graph() for flow in state.flows.values()]
        return jsonify({"data": data, "paging": {"cursors": {"before": "", "after": ""}}})

    @bp.post("/<version:version>/<node>/assets")
    def flow_assets(version: str, node: str) -> Response:
        """Upload a flow's ``flow.json`` (multipart)."""
        upload = request.files.get("file")
        with state.lock:
            if node not in state.flows:
                raise unknown_object(node, "post")
            answer = flows_api.upload_asset(state, node, dict(request.form.items()), upload.read() if upload else None)
        return jsonify(answer)

    @bp.post("/<version:version>/<node>/<any(publish, deprecate):verb>")
    def flow_lifecycle(version: str, node: str, verb: str) -> Response:
        with state.lock:
            if node not in state.flows:
                raise unknown_object(node, "post")
            return jsonify(flows_api.publish(state, node) if verb == "publish" else flows_api.deprecate(state, node))

    @bp.post("/<version:version>/<node>/messages")
    def messages(version: str, node: str) -> Response:
        # A read receipt or typing indicator sends no message; every other request is counted as it arrives.
        whatsapp_number = node in signals.portfolio_numbers(state)
        receipt = whatsapp_number and whatsapp.is_status_update(json_body())
        if not receipt:
            with state.lock:
                state.send_requests += 1
        delay = state.options.send_delay_seconds
        if delay > 0:  # a slow Graph API: the request is answered only after the wait
            time.sleep(delay)
        if receipt:
            return jsonify(_mark_read(node, json_body()))
        if whatsapp_number:
            return jsonify(_send_whatsapp(node))
        if node in ("me", business.page_id):
            return jsonify(_send_messenger({business.page_id, business.instagram_account_id}))
        if node == business.instagram_account_id:
            return jsonify(_send_messenger({business.instagram_account_id}))
        raise unknown_object(node, "post")

    @bp.post("/<version:version>/<node>/marketing_messages")
    def marketing_messages(version: str, node: str) -> Response:
        """The Marketing Messages API: a marketing template send, priced ``marketing_lite``."""
        if node != business.phone_number_id:
            raise unknown_object(node, "post")
        with state.lock:
            state.send_requests += 1
        return jsonify(_send_whatsapp(node, marketing=True))

    @bp.post("/<version:version>/<node>")
    def edit_template(version: str, node: str) -> Response:
        """Template edit (``POST /<TEMPLATE_ID>``): the sandbox takes ``message_send_ttl_seconds``."""
        params = request_params()
        with state.lock:
            template = next((t for t in state.templates.values() if t.id == node), None)
            if template is None:
                raise unknown_object(node, "post")
            unknown = sorted(set(params) - {"message_send_ttl_seconds", "category"})
            if unknown:
                raise invalid_parameter(f"Param {unknown[0]} cannot be edited in the sandbox")
            if "category" in params and str(params["category"]).upper() != template.category:
                raise invalid_parameter("Param category cannot be changed on an approved template")
            template.ttl_seconds = pricing_api.check_ttl(template.category, params.get("message_send_ttl_seconds"))
        return jsonify({"success": True})

    def _account_problem(code: int) -> GraphError:
        titles = {
            131042: ("Business eligibility payment issue", "Message failed to send because there were one or more "
                     "errors related to your payment method."),
            131031: ("Business Account locked", "The WhatsApp Business Account is restricted or disabled."),
            368: ("Temporarily blocked for policies violations", "The account is restricted for violating policies."),
        }  # fmt: skip
        title, details = titles.get(code, ("Account problem", "The WhatsApp Business Account cannot send messages."))
        return GraphError(code, title, details=details, whatsapp=True)

    def _send_whatsapp(phone_number_id: str, *, marketing: bool = False) -> dict[str, Any]:
        body = json_body()
        options = state.options
        pricing_api.apply_due(state, hub)
        try:
            with state.lock:
                given, wa_id, _kind, template = whatsapp.validate_send(state, body)
                if marketing:
                    pricing_api.check_marketing_send(state, body, template)
                callback = body.get("biz_opaque_callback_data")
                if callback is not None and (not isinstance(callback, str) or len(callback) > 512):
                    raise GraphError(
                        100,
                        "Invalid parameter",
                        details="biz_opaque_callback_data must be a string of at most 512 characters",
                        whatsapp=True,
                    )
                now = state.now()
                if options.account_problem:
                    raise _account_problem(options.account_problem)
                if wa_id in options.bad_recipients:
                    raise GraphError(
                        131026,
                        "Message Undeliverable.",
                        details="Message failed to send because the recipient is not on WhatsApp, has not accepted "
                        "the new Terms of Service, or uses an unsupported client.",
                        whatsapp=True,
                    )
                last = state.wa_last_inbound.get((phone_number_id, wa_id))
                window_open = last is not None and now - last <= options.window_hours * 3600
                if template is None and not window_open:
                    raise GraphError(
                        131047,
                        "Re-engagement message",
                        details="Message failed to send because more than 24 hours have passed since the customer "
                        "last replied to this number.",
                        whatsapp=True,
                    )
                if not state.throughput.try_acquire(phone_number_id, now, max(1, int(options.mps)), 1.0):
                    raise GraphError(
                        130429,
                        "Rate limit hit",
                        details=f"Cloud API message throughput ({options.mps:g} mps) has been reached.",
                        whatsapp=True,
                    )
                if not state.pair_rate.try_acquire(
                    (phone_number_id, wa_id), now, options.pair_limit, options.pair_window
                ):
                    raise GraphError(
                        131056,
                        "(Business Account, Consumer Account) pair rate limit hit",
                        details="Message failed to send because there were too many messages sent from this phone "
                        "number to the same phone number in a short period of time.",
                        whatsapp=True,
                    )
                failure = signals.async_failure(state, wa_id, template, window_open, now)
                if failure is not None:
                    signals.note_failure(state, wa_id, failure[0], now)
                wamid = state.new_wamid()
                record = {
                    "id": wamid,
                    "timestamp": str(int(now)),
                    "sent_at": now,
                    "from": phone_number_id,
                    "body": body,
                }
                state.messages[wa_id].append(record)
                state.message_index[wamid] = record
                state.accepted["whatsapp"] += 1
                if marketing:  # of which through the Marketing Messages API
                    state.accepted["whatsapp_marketing_messages"] += 1
                priced, conversation = pricing_api.status_pricing(
                    state, phone_number_id, wa_id, template, window_open, marketing_lite=marketing
                )
        except GraphError as error:
            with state.lock:
                state.refused[f"whatsapp:{error.code}"] += 1
            raise
        hub.queue_statuses(
            phone_number_id,
            wamid,
            wa_id,
            template,
            window_open,
            callback_data=callback,
            pricing=priced,
            conversation=conversation,
            failure=failure,
        )
        # Sent to a business-scoped user id: WhatsApp answers with ``user_id`` and no ``wa_id``.
        by_user_id = given != body.get("to")
        answer: dict[str, Any] = {"input": given, "user_id": given} if by_user_id else {"input": given, "wa_id": wa_id}
        message: dict[str, Any] = {"id": wamid}
        if template is not None:
            message["message_status"] = "accepted"
        return {"messaging_product": "whatsapp", "contacts": [answer], "messages": [message]}

    def _mark_read(phone_number_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Read receipt (+ typing indicator): no message is sent and no webhook follows, only ``success``."""
        try:
            with state.lock:
                record, typing = whatsapp.validate_status_update(state, phone_number_id, body)
                now = state.now()
                # WhatsApp marks the earlier messages of the conversation read as well.
                for other in state.wa_inbound.values():
                    same_chat = other.phone_number_id == phone_number_id and other.wa_id == record.wa_id
                    if same_chat and other.timestamp <= record.timestamp and other.read_at is None:
                        other.read_at = now
                if typing:
                    record.typing_at = now
                state.accepted["whatsapp_typing" if typing else "whatsapp_read"] += 1
        except GraphError as error:
            with state.lock:
                state.refused[f"whatsapp:{error.code}"] += 1
            raise
        return {"success": True}

    def _send_messenger(account_ids: set[str]) -> dict[str, Any]:
        body = json_body()
        channel = "messenger"
        try:
            with state.lock:
                recipient = body.get("recipient") if isinstance(body, dict) else None
                known = state.messenger_users.get(str((recipient or {}).get("id"))) if recipient else None
                if known is not None and known.object == "instagram":
                    channel = "instagram"
                user = messenger.validate_send(state, account_ids, body)
                mid = state.new_mid()
                record = {"id": mid, "timestamp": str(int(state.now() * 1000)), "from": user.account_id, "body": body}
                state.messages[user.user_id].append(record)
                state.message_index[mid] = record
                state.accepted[channel] += 1
        except GraphError as error:
            with state.lock:
                state.refused[f"{channel}:{error.code}"] += 1
            raise
        return {"recipient_id": user.user_id, "message_id": mid}

    def _catalog(node: str, method: str = "get") -> Any:
        with state.lock:
            found = state.catalogs.get(node)
        if found is None:
            raise unknown_object(node, method)
        return found

    @bp.post("/<version:version>/<node>/items_batch")
    def items_batch(version: str, node: str) -> ResponseReturnValue:
        found = _catalog(node, "post")
        size = request.content_length or 0
        if size > state.options.max_payload_bytes:
            # Refuse before reading a body Meta would not read either.
            return catalog_api.items_batch(state, found, {}, size)  # raises code 1
        return jsonify(catalog_api.items_batch(state, found, request_params(), size))

    @bp.get("/<version:version>/<node>/check_batch_request_status")
    def check_batch_request_status(version: str, node: str) -> Response:
        return jsonify(catalog_api.batch_status(state, _catalog(node), request.args.get("handle")))

    @bp.get("/<version:version>/<node>/products")
    def products(version: str, node: str) -> Response:
        base_url = request.base_url
        return jsonify(catalog_api.products(state, _catalog(node), dict(request.args.items()), base_url))

    @bp.route("/<version:version>/<node>/message_templates", methods=["GET", "POST"])
    def message_templates(version: str, node: str) -> Response:
        if node not in (business.waba_id, business.page_id):
            raise unknown_object(node, request.method.lower())
        page = node == business.page_id  # Messenger utility templates of the Page
        with state.lock:
            if request.method == "POST":
                params = request_params()
                template = utility.create_page_template(state, params) if page else create_template(state, params)
                return jsonify({"id": template.id, "status": template.status, "category": template.category})
            data = [t.as_graph() for t in (state.page_templates if page else state.templates).values()]
        return jsonify(templates_page(data, dict(request.args.items()), request.base_url))

    return bp


def install(app: Flask, state: GraphState, hub: WebhookHub) -> None:
    """Mount the Graph API on ``app`` and answer unknown paths like Graph does."""
    app.url_map.converters["version"] = VersionConverter
    app.register_blueprint(graph_blueprint(state, hub))

    @app.errorhandler(404)
    def _unknown_path(_error: Exception) -> ResponseReturnValue:
        if request.path.startswith("/_sandbox/"):
            return jsonify({"error": f"no control endpoint {request.path}"}), 404
        error = GraphError(2500, f"Unknown path components: {request.path}")
        return error.response()

    @app.errorhandler(405)
    def _wrong_method(_error: Exception) -> Response:
        return unknown_object(request.path.strip("/").split("/")[-1], request.method.lower()).response()
