"""The dashboard blueprint: language, login, logout, the first account, error pages, and the shared template context.

The pages themselves live in their own modules (:mod:`.pages`, :mod:`.wizard`, :mod:`.simulator`,
:mod:`.click_to_chat`, :mod:`.contacts`, :mod:`.inbox`, :mod:`.plugin_forms`), each adding its routes to the
blueprint built here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException, NotFound

from connector import roles
from connector.api import scope
from connector.dashboard import i18n, sessions, setup_link, users
from connector.dashboard.security import check_csrf, client_address, csrf_token
from connector.errors import SettingsError
from connector.web.context import runtime

NAV = (
    ("dashboard.overview", "Overview"),
    ("dashboard.inbox", "Inbox"),
    ("dashboard.wizard", "Setup"),
    ("dashboard.catalog", "Catalog"),
    ("dashboard.contacts", "Contacts"),
    ("dashboard.notifications", "Notifications"),
    ("dashboard.recovery", "Checkout recovery"),
    ("dashboard.orders", "Orders from chat"),
    ("dashboard.campaigns_page", "Campaigns"),
    ("dashboard.plugins", "Plugins"),
    ("dashboard.jobs", "Jobs"),
    ("dashboard.click_to_chat", "Click-to-chat"),
    ("dashboard.simulator", "Chat simulator"),
)


def _(text: str, **values: object) -> str:
    """Translate ``text`` into this request's language (see :mod:`connector.dashboard.i18n`)."""
    return i18n.translate(text, g.get("lang", "en"), **values)


def ngettext(singular: str, plural: str, count: int, **values: object) -> str:
    """The plural form for ``count`` in this request's language, ``{count}`` filled in."""
    return i18n.translate_plural(singular, plural, count, g.get("lang", "en"), **values)


def _safe_next(target: str | None) -> str | None:
    """Only follow ``next`` to a path on this site (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return None
    return target


def prepare_request() -> Response | None:
    """Before every dashboard request (plugins' dashboard pages too): language, session checks, the user's
    workspace bound for every query (:mod:`connector.api.scope`), CSRF, and the user's role (:mod:`connector.roles`)."""
    g.lang = i18n.select_language(runtime().config.dashboard.default_language)
    if not current_app.config.get("SECRET_KEY"):
        return Response(
            "The dashboard needs [security] secret_key to sign sessions: run `connector init`, or set "
            "CONNECTOR_SECURITY__SECRET_KEY.",
            status=503,
            mimetype="text/plain",
        )
    user = sessions.current_user(runtime())
    if user is not None:
        # Everything the pages query goes through what this user's workspace may see (connector.api.scope).
        g.role, g.operator = user.role, user.operator
        scope.bind(scope.Visibility(user.workspace_id, operator=user.operator, role=user.role))
    check_csrf()
    if user is not None:
        refusal = roles.dashboard_refusal(user.role, request.endpoint, operator=user.operator)
        if refusal is not None:
            if request.blueprint == "dashboard":
                abort(403, description=refusal)  # the dashboard's error page shows the reason
            # A plugin's page under the dashboard: the app's generic 403 would say only "Forbidden".
            return current_app.response_class(refusal, status=403, mimetype="text/plain")
    return None


def template_context() -> dict[str, Any]:
    """What ``dashboard/base.html`` needs; plugins' dashboard pages register it as their context processor."""
    config = runtime().config
    return {
        "csrf_token": csrf_token,
        "lang": g.get("lang", "en"),
        "languages": i18n.LANGUAGES,
        "nav": [
            (endpoint, label)
            for endpoint, label in NAV
            if roles.dashboard_refusal(g.get("role", "owner"), endpoint, operator=g.get("operator", True)) is None
        ],
        "role": g.get("role", ""),
        "demo": config.server.demo,
        "logged_in": bool(session.get("user_id")),
        "user_email": session.get("email", ""),
    }


def create_blueprint(app: Flask) -> Blueprint:
    """Build the dashboard blueprint for ``app``, with every page module's routes."""
    rt = app.extensions["connector"]
    cfg = rt.config.dashboard
    bp = Blueprint(
        "dashboard", __name__, url_prefix=cfg.url_prefix, template_folder="templates", static_folder="static"
    )
    sessions.configure(app, cfg)

    bp.before_request(prepare_request)

    def home() -> str:
        """Where this user lands: their role's first page."""
        return url_for(roles.HOME.get(g.get("role", "owner"), "dashboard.overview"))

    @bp.app_template_global("_")
    def _translate(text: str, **values: object) -> str:
        if any(isinstance(value, Markup) for value in values.values()):
            # A value that is markup already (a <time> from |when): fill it in as markup, escape the rest.
            return Markup(escape(_(text))).format(**values)
        return _(text, **values)

    bp.add_app_template_global(ngettext, "ngettext")
    bp.context_processor(template_context)

    @bp.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[str, int]:
        if error.code == 400 and error.description == "csrf":
            message = _("Your form expired or came from another site. Reload the page and try again.")
        elif error.code == 404 and (error.description or "") == NotFound.description:
            message = _("Page not found.")
        else:
            message = _("Request refused: {reason}", reason=error.description or error.name)
        return render_template("dashboard/error.html", message=message, code=error.code), error.code or 500

    @bp.get("/lang/<code>")
    def set_language(code: str) -> ResponseReturnValue:
        """Switch the UI language (a link, so it works without JavaScript)."""
        if code in i18n.LANGUAGES:
            session["lang"] = code
        return redirect(_safe_next(request.args.get("next")) or home())

    @bp.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        """The login form; a POST checks the password under the rate limit."""
        rt = runtime()
        if users.count_users(rt) == 0:
            return redirect(url_for("dashboard.first_user"))
        error = None
        status = 200
        if request.method == "POST":
            result = users.authenticate(
                rt, request.form.get("email", ""), request.form.get("password", ""), client_address()
            )
            if result.ok:
                sessions.start(result, request.form.get("email", ""), result.language)
                csrf_token()  # a fresh token for the new session
                g.role = result.role
                return redirect(_safe_next(request.args.get("next")) or home())
            if result.limited_seconds:
                error = _("Too many failed logins. Try again in {seconds} seconds.", seconds=result.limited_seconds)
                page = render_template("dashboard/login.html", error=error)
                return page, 429, {"Retry-After": str(result.limited_seconds)}
            error = _("Wrong e-mail or password.")
            status = 401
        return render_template("dashboard/login.html", error=error), status

    @bp.post("/logout")
    def logout() -> ResponseReturnValue:
        """End the session, and every copy of its cookie: the user's session version moves on (a POST with the
        CSRF token, so another site cannot log you out)."""
        if isinstance(session.get("user_id"), int):
            users.end_sessions(runtime(), user_id=session["user_id"])
        sessions.end()
        return redirect(url_for("dashboard.login"))

    @bp.route("/first-user", methods=["GET", "POST"])
    def first_user() -> Any:
        """Create the first account in the browser: only while none exists, and only with a valid one-time setup
        link's token (``connector init`` / ``connector dashboard setup-link`` print it)."""
        rt = runtime()
        if users.count_users(rt) > 0:
            return redirect(url_for("dashboard.login"))
        token = request.values.get("token", "")

        def refused() -> tuple[str, int]:
            return render_template("dashboard/first_user.html", allowed=False, errors={}, token=""), 403

        if not rt.config.dashboard.first_user_from_browser:
            return refused()
        # Checked before hashing a password, so posts without a valid link cost no argon2 work.
        if not setup_link.is_valid(rt, token):
            # An invalid link right after another request created the user: that request won the race.
            return redirect(url_for("dashboard.login")) if users.count_users(rt) else refused()
        errors: dict[str, str] = {}
        if request.method == "POST":
            try:
                result = users.create_first_user(
                    rt, request.form.get("email", ""), request.form.get("password", ""), token, language=g.lang
                )
            except users.FirstUserExists:  # another request won the race
                return redirect(url_for("dashboard.login"))
            except users.InvalidSetupToken:
                return refused()
            except SettingsError as exc:
                errors = exc.errors
            else:
                sessions.start(result, request.form.get("email", ""), g.lang)
                return redirect(url_for("dashboard.wizard"))
        page = render_template("dashboard/first_user.html", allowed=True, errors=errors, token=token)
        return page, 400 if errors else 200

    from connector.campaigns import dashboard as campaigns_page
    from connector.dashboard import (
        click_to_chat,
        contacts,
        formats,
        inbox,
        pages,
        plugin_forms,
        simulator,
        templating,
        wizard,
        words,
    )

    pages_modules = (templating, formats, words, pages, wizard, contacts, inbox, plugin_forms, simulator, click_to_chat)
    for module in (*pages_modules, campaigns_page):
        module.register(bp)
    return bp
