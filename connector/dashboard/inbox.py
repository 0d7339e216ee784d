"""The inbox pages: conversations (needs a person, unread, channel, shop), one thread with the reply form, takeover
and hand-back. The work is done by :mod:`connector.inbox`; the thread and the list refresh by htmx polling."""

from __future__ import annotations

import uuid
import zlib
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, session, url_for

from connector.dashboard.security import login_required
from connector.inbox import actions, conversations
from connector.web.context import runtime

if TYPE_CHECKING:
    from connector.runtime import Runtime


def _filters() -> conversations.Filters:
    """The list's filters from the query string (anything malformed is a 400 with the reason)."""
    values: dict[str, Any] = {}
    for name in ("channel", "shop", "page"):
        raw = request.args.get(name, "")
        if raw:
            if not raw.isdigit() or len(raw) > 9:
                abort(400, description=f"{name} must be a number")
            values[name] = int(raw)
    page = max(1, values.get("page", 1))
    return conversations.Filters(
        needs_person=request.args.get("needs_person") == "1",
        unread=request.args.get("unread") == "1",
        channel_id=values.get("channel"),
        shop_id=values.get("shop"),
        offset=(page - 1) * conversations.PAGE_SIZE,
    )


def _list_context(rt: Runtime) -> dict[str, Any]:
    filters = _filters()
    rows, total = conversations.conversations(rt, filters)
    page = filters.offset // conversations.PAGE_SIZE + 1
    query = {k: v for k, v in request.args.items() if k not in ("page", "sig")}
    return {
        "signature": str(zlib.crc32(repr((total, rows)).encode())),
        "rows": rows,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // conversations.PAGE_SIZE)),
        "query": query,
        "filters": filters,
    }


def _thread_context(rt: Runtime, contact_id: int, **extra: Any) -> dict[str, Any]:
    found = conversations.thread(rt, contact_id)
    if found is None:
        abort(404, description="no such conversation")
    allowed = actions.window(rt, contact_id)
    chosen = request.values.get("template", "")
    templates: list[actions.PricedTemplate] = []
    templates_error = None
    if allowed.templates and (not allowed.text_allowed or request.values.get("templates") == "1" or chosen):
        try:
            templates = actions.templates(rt, contact_id)
        except actions.InboxError as exc:
            if exc.status == 404:
                raise
            templates_error = str(exc)
    picked = next((t for t in templates if f"{t.template.name}:{t.template.language}" == chosen), None)
    return {
        "thread": found,
        "window": allowed,
        "templates": templates,
        "templates_error": templates_error,
        "picked": picked,
        "reply_key": uuid.uuid4().hex,
        "currency": rt.config.dashboard.cost_currency,
        "signature": _signature(found),
        **extra,
    }


def _signature(found: conversations.Thread) -> str:
    """What the thread looks like now, so a poll that finds nothing new answers 204 (the page stays as it is)."""
    last = found.entries[-1] if found.entries else None
    states = ",".join(f"{e.message_id}:{e.status}" for e in found.entries if e.message_id)
    taken = found.summary.taken_over_by or ""
    digest = zlib.crc32(states.encode())
    return f"{len(found.entries)}:{last.at.timestamp() if last else 0}:{digest}:{taken}:{found.silent_until}"


def register(bp: Blueprint) -> None:
    """Add the inbox pages to the dashboard blueprint."""

    @bp.get("/inbox")
    @login_required
    def inbox() -> Any:
        """The conversations, those needing a person first, with filters."""
        rt = runtime()
        channels, shops = conversations.choices(rt)
        return render_template("dashboard/inbox.html", channels=channels, shops=shops, **_list_context(rt))

    @bp.get("/inbox/list")
    @login_required
    def inbox_list() -> Any:
        """The list alone (polled by htmx; 204 when nothing changed, so a keyboard user's focus stays put)."""
        context = _list_context(runtime())
        if request.args.get("sig") == context["signature"]:
            return Response(status=204)
        return render_template("dashboard/_inbox_list.html", **context)

    @bp.get("/inbox/<int:contact_id>")
    @login_required
    def inbox_thread(contact_id: int) -> Any:
        """One conversation: every message in order with status and cost, the reply form, takeover."""
        rt = runtime()
        context = _thread_context(rt, contact_id)
        actions.mark_read(rt, contact_id, context["thread"].last_inbound_id or 0)
        return render_template("dashboard/inbox_thread.html", **context)

    @bp.get("/inbox/<int:contact_id>/messages")
    @login_required
    def inbox_messages(contact_id: int) -> Any:
        """The thread's messages alone (polled by htmx; 204 when nothing changed)."""
        rt = runtime()
        found = conversations.thread(rt, contact_id)
        if found is None:
            abort(404, description="no such conversation")
        signature = _signature(found)
        if request.args.get("sig") == signature:
            return Response(status=204)
        actions.mark_read(rt, contact_id, found.last_inbound_id or 0)
        return render_template("dashboard/_inbox_messages.html", thread=found, signature=signature)

    def _author() -> str:
        return str(session.get("email") or "?")

    @bp.post("/inbox/<int:contact_id>/reply")
    @login_required
    def inbox_reply(contact_id: int) -> Any:
        """Send a text (inside the window) or an approved template, through the outbox."""
        rt = runtime()
        chosen = request.form.get("template", "")
        name, _sep, language = chosen.partition(":")
        try:
            actions.reply(
                rt,
                contact_id,
                key=request.form.get("key", ""),
                author=_author(),
                text=request.form.get("text") if not chosen else None,
                template=name or None,
                language=language or None,
                parameters=request.form.getlist("param"),
                button_parameters=request.form.getlist("button_param"),
            )
        except actions.InboxError as exc:
            if exc.status == 404:
                abort(404, description=str(exc))
            context = _thread_context(rt, contact_id, error=str(exc), typed=request.form.get("text", ""))
            return render_template("dashboard/inbox_thread.html", **context), exc.status
        flash("Reply queued.", "ok")
        return redirect(url_for("dashboard.inbox_thread", contact_id=contact_id))

    @bp.post("/inbox/<int:contact_id>/take-over")
    @login_required
    def inbox_take_over(contact_id: int) -> Any:
        """Silence the bot for this customer until a person hands back."""
        try:
            actions.take_over(runtime(), contact_id, _author())
        except actions.InboxError as exc:
            abort(exc.status, description=str(exc))
        flash("You took over: the bot is silent for this customer.", "ok")
        return redirect(url_for("dashboard.inbox_thread", contact_id=contact_id))

    @bp.post("/inbox/<int:contact_id>/hand-back")
    @login_required
    def inbox_hand_back(contact_id: int) -> Any:
        """Give the conversation back to the bot."""
        try:
            actions.hand_back(runtime(), contact_id)
        except actions.InboxError as exc:
            abort(exc.status, description=str(exc))
        flash("Handed back: the bot answers this customer again.", "ok")
        return redirect(url_for("dashboard.inbox_thread", contact_id=contact_id))
