"""Everything the Graph sandbox remembers, behind one lock: the demo business, catalogs, templates,
accepted messages, conversation windows, rate-limit counters, statistics and options."""

from __future__ import annotations

import base64
import bisect
import hashlib
import itertools
import re
import secrets
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from typing import Any

import phonenumbers
from connector_meta.sandbox.limits import SlidingWindow

#: Seconds WhatsApp shows a typing indicator unless the business answers first.
TYPING_SECONDS = 25.0
PLACEHOLDER = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")


@dataclass
class Options:
    """Sandbox knobs, changed at start (``GraphSandbox(options=...)``) or live with ``POST /_sandbox/options``."""

    #: WhatsApp throughput per phone number (messages/second) -> 130429 above it.
    mps: float = 80.0
    #: Messages to one recipient allowed within ``pair_window`` seconds -> 131056 above it.
    pair_limit: int = 20
    pair_window: float = 60.0
    #: Recipients refused synchronously with 131026 (not on WhatsApp).
    bad_recipients: set[str] = field(default_factory=set)
    #: Recipients whose messages are accepted, then fail through a ``failed`` status webhook.
    failing_recipients: set[str] = field(default_factory=set)
    #: Share of accepted messages (0..1, seeded) that end with a ``failed`` status instead of the flow.
    status_fail_ratio: float = 0.0
    #: Error code carried by asynchronous ``failed`` statuses.
    status_fail_code: int = 131026
    #: Statuses sent for each accepted message, in this order; ``[]`` sends none.
    status_flow: list[str] = field(default_factory=lambda: ["sent", "delivered", "read"])
    #: Send each message's statuses in a shuffled order (never the natural one).
    status_out_of_order: bool = False
    #: How many statuses one webhook may carry (Meta sometimes batches them).
    statuses_per_webhook: int = 1
    #: WhatsApp webhooks in flight at once. Meta delivers them concurrently, at-least-once and in no guaranteed
    #: order; 1 sends them one after the other, each once the previous one was answered. Messenger and Instagram
    #: events always go out in order (Meta promises that for message events).
    webhook_concurrency: int = 4
    #: ``items_batch`` calls per catalog per minute -> 80014 above it.
    catalog_calls_per_minute: int = 600
    #: Items per ``items_batch`` call (Meta: 5,000).
    max_batch_items: int = 5000
    #: ``items_batch`` request body size (Meta: 28 MB) -> code 1 above it.
    max_payload_bytes: int = 28 * 1024 * 1024
    #: How many ``check_batch_request_status`` polls answer ``in progress`` before ``finished``.
    batch_polls_in_progress: int = 1
    #: Items Meta accepts in ``items_batch`` but fails while processing the batch (an image it cannot download,
    #: a policy rejection): retailer id -> message. They are reported only by ``check_batch_request_status``.
    processing_errors: dict[str, str] = field(default_factory=dict)
    #: HTTP status of throttling errors (130429, 131056, 80014).
    throttle_http_status: int = 429
    #: Customer service window (WhatsApp, Messenger, Instagram) and the Messenger HUMAN_AGENT window.
    window_hours: float = 24.0
    human_agent_days: float = 7.0
    #: A problem with the business's WhatsApp setup that refuses every send until cleared (``0`` = none), as
    #: Meta does: 131042 (payment method), 131031 (account locked), 368 (blocked for a policy violation). The owner
    #: fixes it at Meta, so the connector's settings stay the same.
    account_problem: int = 0
    #: Seconds each send request (``POST .../messages``: WhatsApp, Messenger, Instagram) waits before the sandbox
    #: handles it: a slow Graph API that takes the message only after the wait (0 to 120).
    send_delay_seconds: float = 0.0
    #: Messenger utility messages (open beta since 2026): the countries where both the Page and the user must be
    #: (Meta: US, Vietnam, Thailand, Philippines), the Page's country, and each user's (PSID -> ISO code; users not
    #: listed are in ``messenger_default_country``).
    utility_markets: set[str] = field(default_factory=lambda: {"US", "VN", "TH", "PH"})
    page_country: str = "US"
    messenger_default_country: str = "US"
    messenger_user_countries: dict[str, str] = field(default_factory=dict)
    #: Status a new Page utility template gets (Meta approves "within seconds"): ``APPROVED``, ``PENDING`` or
    #: ``REJECTED``; ``POST /_sandbox/page_templates/status`` changes it later.
    page_template_status: str = "APPROVED"
    #: Error code of publishing a flow whose Flow JSON has validation errors (Meta's code: NOT FOUND; 100 = the
    #: documented code of the other Flow management errors).
    flow_publish_error_code: int = 100
    #: A call to a Graph API version past its end date (Meta's calendar, in sandbox time): ``"refuse"`` answers
    #: ``(#2635) You are calling a deprecated version of the Ads API...`` (the Marketing API's CONFIRMED answer);
    #: ``"serve"`` answers as the oldest served version would (REPORTED for plain Graph calls).
    expired_versions: str = "refuse"
    #: Seed of the sandbox's random choices (failures, shuffles).
    seed: int = 1
    #: The next message accepted for a recipient fails asynchronously with this error code (wa_id -> code, used
    #: up by that message; ``"131047,131047"``: the next two, in order): 131047, 131049, 131050, 131026, 130472,
    #: ... (``connector_meta.sandbox.signals``).
    fail_next: dict[str, str] = field(default_factory=dict)
    #: Marketing templates to US (+1) numbers are accepted, then fail with 131049 (Meta, CONFIRMED).
    us_marketing_blocked: bool = True
    #: The business portfolio's messaging limit (``whatsapp_business_manager_messaging_limit``). The demo
    #: portfolio has scaled to unlimited (fan-out tests); a new portfolio starts at ``TIER_250``.
    messaging_limit_tier: str = "TIER_UNLIMITED"
    #: Unique users allowed instead of the tier's (a test's small limit); 0 = the tier's.
    messaging_limit_users: int = 0
    #: Code of the asynchronous failure of a send over the messaging limit (Meta documents none: NOT FOUND).
    reach_limit_fail_code: int = 131000
    #: How ``business_capability_update`` states the limit: ``integer`` (Meta's example) or ``tier`` (its table).
    capability_limit_format: str = "integer"
    #: More phone numbers of the same business portfolio (phone_number_id -> display number): they share its limit.
    portfolio_phone_numbers: dict[str, str] = field(default_factory=dict)
    #: From this time (epoch seconds; 2026-10-01 UTC) service messages and utility templates inside the customer
    #: service window are billed (``type: regular``); before it their statuses say ``free_customer_service``.
    service_billing_from: float = 1790812800.0
    #: The WABA's ``marketing_messages_onboarding_status`` (``INELIGIBLE`` | ``ELIGIBLE`` | ``ONBOARDED``):
    #: ``/marketing_messages`` sends only once it is ``ONBOARDED`` (terms signed).
    marketing_messages_onboarding_status: str = "ELIGIBLE"
    #: Valid OAuth redirect URIs of the app (Strict Mode: exact match); empty: any HTTPS or loopback URI.
    oauth_redirect_uris: list[str] = field(default_factory=list)

    def update(self, values: dict[str, Any]) -> None:
        """Set known options; raise ``ValueError`` naming an unknown one."""
        known = {f.name: f for f in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown option {name!r}; known: {', '.join(sorted(known))}")
            current = getattr(self, name)
            if isinstance(current, set):
                value = {str(v).lstrip("+") for v in value}
            elif isinstance(current, bool):
                value = bool(value)
            elif isinstance(current, int):
                value = int(value)
            elif isinstance(current, float):
                value = float(value)
            elif isinstance(current, list):
                value = list(value)
            elif isinstance(current, dict):
                value = {str(k): str(v) for k, v in dict(value).items()}
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: sorted(v) if isinstance(v := getattr(self, f.name), set) else v for f in fields(self)}


@dataclass(slots=True)
class CatalogItem:
    """One catalog item: Meta's id, its insertion sequence (for paging) and the ``items_batch`` data."""

    fbid: str
    seq: int
    data: dict[str, Any]


@dataclass
class Batch:
    """One accepted ``items_batch`` call, as ``check_batch_request_status`` reports it."""

    handle: str
    errors: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    invalid_ids: list[str]
    polls: int = 0


class Catalog:
    """A commerce catalog. Items keep insertion order for cursor paging without scanning the catalog."""

    def __init__(self, catalog_id: str, name: str):
        self.id = catalog_id
        self.name = name
        self.items: dict[str, CatalogItem] = {}
        self.write_calls = 0
        self.batches: dict[str, Batch] = {}
        self._seqs: list[int] = []  # ascending; parallel to _ids
        self._ids: list[str | None] = []  # None = deleted (tombstone), compacted now and then
        self._tombstones = 0
        self._next_seq = 1

    def upsert(self, retailer_id: str, data: dict[str, Any], fbid: str) -> None:
        item = self.items.get(retailer_id)
        if item is not None:
            item.data.update(data)
            return
        seq = self._next_seq
        self._next_seq += 1
        self.items[retailer_id] = CatalogItem(fbid=fbid, seq=seq, data=dict(data))
        self._seqs.append(seq)
        self._ids.append(retailer_id)

    def delete(self, retailer_id: str) -> bool:
        item = self.items.pop(retailer_id, None)
        if item is None:
            return False
        index = bisect.bisect_left(self._seqs, item.seq)
        self._ids[index] = None
        self._tombstones += 1
        if self._tombstones > 1000 and self._tombstones * 2 > len(self._ids):
            self._compact()
        return True

    def _compact(self) -> None:
        kept = [(s, i) for s, i in zip(self._seqs, self._ids, strict=True) if i is not None]
        self._seqs = [s for s, _ in kept]
        self._ids = [i for _, i in kept]
        self._tombstones = 0

    def page(self, after_seq: int, limit: int) -> tuple[list[CatalogItem], bool]:
        """Up to ``limit`` items inserted after ``after_seq``, and whether more follow."""
        index = bisect.bisect_right(self._seqs, after_seq)
        found: list[CatalogItem] = []
        while index < len(self._ids):
            retailer_id = self._ids[index]
            index += 1
            if retailer_id is None:
                continue
            if len(found) == limit:
                return found, True
            found.append(self.items[retailer_id])
        return found, False


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        return int(number) if kind == "seq" else None
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class Template:
    """An approved message template, reduced to what sends are checked against."""

    id: str
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    status: str = "APPROVED"
    #: ``message_send_ttl_seconds`` (None = Meta's default for the category).
    ttl_seconds: int | None = None

    @property
    def parameter_format(self) -> str:
        """``NAMED`` when the header or body uses ``{{name}}`` variables, else ``POSITIONAL`` (Meta's default)."""
        for component in self.components:
            for name in PLACEHOLDER.findall(str(component.get("text") or "")):
                if not name.isdigit():
                    return "NAMED"
        return "POSITIONAL"

    def as_graph(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "status": self.status,
            "parameter_format": self.parameter_format,
            "components": self.components,
            **({"message_send_ttl_seconds": self.ttl_seconds} if self.ttl_seconds is not None else {}),
        }


@dataclass
class InboundRecord:
    """A customer's WhatsApp message as the business saw it, with what the business did about it."""

    wamid: str
    phone_number_id: str
    wa_id: str
    timestamp: float
    #: When the business marked it (or a later message) read.
    read_at: float | None = None
    #: When the business last showed a typing indicator in reply to it.
    typing_at: float | None = None

    def as_dict(self, now: float, replied_at: float | None) -> dict[str, Any]:
        # WhatsApp hides the indicator after 25 s or as soon as the business's next message arrives.
        typing = (
            self.typing_at is not None
            and now - self.typing_at < TYPING_SECONDS
            and (replied_at is None or replied_at < self.typing_at)
        )
        return {
            "id": self.wamid,
            "wa_id": self.wa_id,
            "timestamp": self.timestamp,
            "read": self.read_at is not None,
            "read_at": self.read_at,
            "typing_shown_at": self.typing_at,
            "typing": typing,
        }


def business_scoped_user_id(waba_id: str, wa_id: str) -> str:
    """A stable BSUID for ``wa_id``: ISO country code, ``.``, digits (the 2026 format, e.g. ``US.1349120865...``)."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + wa_id))
    except phonenumbers.NumberParseException:
        region = None
    if not region or region == "ZZ":
        region = "US"
    digest = hashlib.sha256(f"{waba_id}:{wa_id}".encode()).digest()
    return f"{region}.{int.from_bytes(digest[:8], 'big'):020d}"


@dataclass
class MessengerUser:
    """A Messenger (PSID) or Instagram (IGSID) user who wrote to the business."""

    user_id: str
    object: str  # "page" or "instagram"
    account_id: str  # page id or Instagram account id
    last_inbound: float


@dataclass(frozen=True)
class Business:
    """The demo business the sandbox starts with."""

    app_secret: str = "sandbox-app-secret"
    access_token: str = "EAAGsandboxTOKEN0000000000000000000000"
    verify_token: str = "sandbox-verify-token"
    waba_id: str = "102290129340398"
    phone_number_id: str = "106540352242922"
    display_phone_number: str = "15550100199"
    verified_name: str = "Chatshop Demo"
    catalog_id: str = "354160437058781"
    page_id: str = "100841475479486"
    page_name: str = "Chatshop Demo"
    instagram_account_id: str = "17841400000000001"
    instagram_username: str = "chatshop.demo"
    #: The Meta app (a Tech Provider) and its Facebook Login for Business configurations (``signup.py``).
    app_id: str = "1234567890123456"
    app_name: str = "Chatshop Connector"
    business_id: str = "2729063490586005"
    business_verification_status: str = "verified"
    signup_config_id: str = "880123456789012"
    login_config_id: str = "880123456789013"


class GraphState:
    """All sandbox state. Every read and write happens under :attr:`lock`."""

    def __init__(self, business: Business, options: Options):
        self.lock = threading.RLock()
        self.business = business
        self.options = options
        self.clock_offset = 0.0
        self._ids = itertools.count(1)
        #: Tokens handed out by the code exchange (``signup.py``): accepted next to the demo token.
        self.issued_tokens: set[str] = set()
        self.reset()

    def reset(self) -> None:
        """Forget everything but the business and the options."""
        with self.lock:
            self.catalogs: dict[str, Catalog] = {}
            self.add_catalog(self.business.catalog_id, "Chatshop Demo catalog")
            self.templates: dict[tuple[str, str], Template] = {}
            self.messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
            self.message_index: dict[str, dict[str, Any]] = {}
            self.wa_last_inbound: dict[tuple[str, str], float] = {}
            self.wa_inbound: dict[str, InboundRecord] = {}
            #: Business-scoped user ids handed out in webhooks -> the wa_id they stand for (sends to ``recipient``).
            self.wa_user_ids: dict[str, str] = {}
            self.messenger_users: dict[str, MessengerUser] = {}
            #: The Page's Messenger utility templates (``POST /{page_id}/message_templates``), by (name, language).
            self.page_templates: dict[tuple[str, str], Template] = {}
            #: Free entry points: when a customer wrote from a Click-to-WhatsApp ad, and when the business first
            #: answered after it; template re-categorizations announced for later (``(name, language) -> (at,
            #: category)``).
            self.wa_entry_points: dict[tuple[str, str], float] = {}
            self.wa_entry_replies: dict[tuple[str, str], float] = {}
            self.pending_categories: dict[tuple[str, str], tuple[float, str]] = {}
            self.flows: dict[str, Any] = {}  # flow id -> connector_meta.sandbox.flows.Flow
            self.throughput = SlidingWindow()
            self.pair_rate = SlidingWindow()
            self.catalog_rate = SlidingWindow()
            self.accepted: Counter[str] = Counter()
            self.refused: Counter[str] = Counter()
            #: Send requests received (``POST .../messages``), counted on arrival: with ``accepted`` and
            #: ``refused``, how many are still being answered (``send_delay_seconds``).
            self.send_requests = 0
            self.clock_offset = 0.0
            #: Users who stopped marketing messages inside WhatsApp (``user_preferences``), by wa_id.
            self.marketing_stopped: set[str] = set()
            #: wa_id -> until when marketing to them fails again with 131049 (resend penalty).
            self.marketing_penalty: dict[str, float] = {}
            #: wa_id -> when the portfolio last reached them outside a window (moving 24 h).
            self.portfolio_reached: dict[str, float] = {}

    def now(self) -> float:
        """Sandbox time: wall clock plus whatever ``POST /_sandbox/clock`` advanced."""
        return time.time() + self.clock_offset

    def add_catalog(self, catalog_id: str, name: str) -> Catalog:
        with self.lock:
            catalog = self.catalogs.get(catalog_id)
            if catalog is None:
                catalog = self.catalogs[catalog_id] = Catalog(catalog_id, name)
            return catalog

    def next_number(self) -> int:
        return next(self._ids)

    def new_fbid(self) -> str:
        return str(7_000_000_000_000_000 + self.next_number())

    def user_id_for(self, wa_id: str) -> str:
        """The customer's business-scoped user id (stable per business), remembered for sends to it."""
        with self.lock:
            user_id = business_scoped_user_id(self.business.waba_id, wa_id)
            self.wa_user_ids[user_id] = wa_id
            return user_id

    def new_wamid(self) -> str:
        return "wamid.HBgL" + base64.b64encode(secrets.token_bytes(24)).decode().rstrip("=")

    def new_mid(self) -> str:
        return "m_" + secrets.token_urlsafe(32)
