"""``connector doctor``: checks config, database, migrations, each connection's credentials, webhook
registration and the scheduler, and prints what to fix."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, text

from connector.errors import ConfigError, ConnectorError

if TYPE_CHECKING:
    from connector.config import Config
    from connector.runtime import Runtime

#: Webhooks a connection should have received within this time to count as registered.
WEBHOOK_LOOKBACK = timedelta(days=7)
#: A scheduler that enqueued no tick for this long is reported as not running.
SCHEDULER_SILENCE = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome: ``ok``, ``warn`` or ``fail``, what was found, and what to do about it."""

    name: str
    status: str
    detail: str
    fix: str = ""


def check_config(config: Config) -> list[Check]:
    """The settings that have to be set for a working deployment."""
    checks = []
    if not config.security.secret_key:
        checks.append(Check("config: secret key", "fail", "[security] secret_key is empty", "run `connector init`"))
    else:
        checks.append(Check("config: secret key", "ok", "set"))
    if not config.security.encryption_keys:
        checks.append(
            Check(
                "config: encryption keys",
                "fail",
                "[security] encryption_keys is empty: credentials cannot be stored",
                "run `connector init`, or add a Fernet key to [security] encryption_keys",
            )
        )
    else:
        checks.append(Check("config: encryption keys", "ok", f"{len(config.security.encryption_keys)} key(s)"))
    public = config.public_url
    if any(host in public for host in ("127.0.0.1", "localhost", "0.0.0.0")) and not config.server.demo:
        checks.append(
            Check(
                "config: public URL",
                "warn",
                f"webhook URLs use {public}, which platforms cannot reach",
                "set [server] public_url to the https URL the internet reaches this server at",
            )
        )
    else:
        checks.append(Check("config: public URL", "ok", public))
    return checks


def check_public_https(config: Config) -> list[Check]:
    """Webhooks and approval flows need an HTTPS address the platforms reach: say so, with the ways to get one."""
    from connector.dashboard.reachability import check_public_https as verdict

    if config.server.demo:
        return []
    found = verdict(config.public_url)
    return [Check("public HTTPS", "ok" if found.ok else "warn", found.detail, found.fix)]


def check_database(rt: Runtime) -> list[Check]:
    """Can we reach the database, and is the schema up to date?"""
    from connector.db.migrate import current_revision, head_revision, is_up_to_date

    try:
        with rt.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # report any connection failure as a finding
        return [Check("database", "fail", f"cannot connect: {exc}", "check [database] url and that the server runs")]
    checks = [Check("database", "ok", rt.db.engine.url.render_as_string(hide_password=True))]
    if is_up_to_date(rt.db):
        checks.append(Check("migrations", "ok", f"at {current_revision(rt.db)}"))
    else:
        checks.append(
            Check(
                "migrations",
                "fail",
                f"database at {current_revision(rt.db) or 'nothing'}, code at {head_revision(rt.db)}",
                "run `connector db upgrade`",
            )
        )
    return checks


def check_connections(rt: Runtime) -> list[Check]:
    """Each connection's credentials (one live call each) and whether webhooks have reached it."""
    from connector.dashboard.queries import webhook_count

    checks = []
    shops = rt.connections.shops()
    if not shops:
        return [
            Check(
                "connections",
                "warn",
                "no shop connected",
                "`connector connections add shop PLATFORM --set KEY=VALUE ...`, or the dashboard's setup",
            )
        ]
    since = datetime.now(UTC) - WEBHOOK_LOOKBACK
    targets = [("shop", s.id, s.platform, s.name) for s in shops]
    targets += [("channel", c.id, c.channel, c.name) for c in rt.connections.channels()]
    for kind, cid, adapter, name in targets:
        label = f"{kind} {cid} ({adapter}, {name})"
        try:
            info = rt.connections.test(kind, cid)  # type: ignore[arg-type]
            checks.append(Check(f"credentials: {label}", "ok", f"connected to {info.name}"))
        except ConnectorError as exc:
            checks.append(
                Check(
                    f"credentials: {label}",
                    "fail",
                    str(exc),
                    f"`connector connections set {kind} {cid} --set KEY=VALUE` (see `connector connections fields {adapter}`)",
                )
            )
        received = webhook_count(rt, kind, cid, since)
        url = rt.connections.webhook_url(adapter, cid)
        if received:
            checks.append(Check(f"webhooks: {label}", "ok", f"{received} received in the last 7 days"))
        else:
            checks.append(
                Check(
                    f"webhooks: {label}",
                    "warn",
                    f"none received at {url} in the last 7 days",
                    f"run `connector webhooks register {kind} {cid}` (or the dashboard's setup step 3), then `connector webhooks test {kind} {cid}`",
                )
            )
    return checks


def check_scheduler(rt: Runtime) -> list[Check]:
    """Is a scheduler enqueuing ticks, and is the queue being worked off?"""
    from connector.db.models import JobRun, Task

    if not rt.config.scheduler.enabled:
        return [
            Check(
                "scheduler",
                "warn",
                "[scheduler] enabled = false in this config",
                "make sure exactly one `connector serve` (or `connector scheduler`) runs with the scheduler on",
            )
        ]
    now = datetime.now(UTC)
    with rt.db.session() as session:
        last_tick = session.scalar(select(func.max(JobRun.created_at)))
        stuck = session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.status == "pending", Task.due_at < now - timedelta(minutes=10))
        )
        failed = session.scalar(select(func.count()).select_from(Task).where(Task.status == "failed"))
    checks = []
    if last_tick is None:
        checks.append(
            Check(
                "scheduler", "warn", "no scheduled job has run yet", "start `connector serve` (it runs the scheduler)"
            )
        )
    elif now - last_tick > SCHEDULER_SILENCE:
        checks.append(
            Check(
                "scheduler",
                "fail",
                f"last tick at {last_tick:%Y-%m-%d %H:%M} UTC",
                "start `connector serve`; check its log",
            )
        )
    else:
        checks.append(Check("scheduler", "ok", f"last tick at {last_tick:%Y-%m-%d %H:%M} UTC"))
    if stuck:
        checks.append(
            Check(
                "worker",
                "fail",
                f"{stuck} task(s) overdue by more than 10 minutes",
                "start a worker (`connector serve`)",
            )
        )
    else:
        checks.append(Check("worker", "ok", "no overdue tasks"))
    if failed:
        checks.append(
            Check("failed tasks", "warn", f"{failed} task(s) gave up", "see the dashboard's overview for errors")
        )
    return checks


def run_checks(config_loader: object) -> list[Check]:
    """Every check, in order; a config that does not load is itself the finding."""
    try:
        config = config_loader.config  # type: ignore[attr-defined]
    except ConfigError as exc:
        return [Check("config", "fail", str(exc), "fix the named key in the config file or environment")]
    checks = check_config(config)
    try:
        rt = config_loader.runtime  # type: ignore[attr-defined]
    except ConnectorError as exc:
        return [*checks, Check("runtime", "fail", str(exc), "fix the named setting")]
    database = check_database(rt)
    checks += database
    if any(c.status == "fail" for c in database):
        return checks
    plugins = rt.plugins.doctor_checks(rt)
    return checks + check_public_https(config) + check_connections(rt) + check_scheduler(rt) + plugins
