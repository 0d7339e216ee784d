"""``python -m bench campaign [--json] [--contacts N]``: a campaign to N contacts (default 100,000) in a segment,
against the Graph sandbox, through the same harness as the back-in-stock fan-out (``bench/_fanout_harness.py``).

The run:

1. measures the sandbox's own ceiling with a plain load generator (``bench/fanout.py``'s), before the runs and after
   them: the higher of the two is the ceiling (``fanout.stricter_ceiling``);
2. sends the campaign through the connector (a worker process runs the campaign's fan-out task and the sends; this
   process receives the status webhooks); reports messages/s and duplicates and losses counted from the sandbox's
   own record; before the start, times the segment and its cost preview on that SQLite database;
3. does it again with the worker SIGKILLed at 50% and restarted, and counts again;
4. times the segment and cost preview for N contacts on PostgreSQL (``--postgres-url``; skipped when unreachable).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

harness = importlib.import_module("bench._fanout_harness")
fanout = importlib.import_module("bench.fanout")

TEMPLATE = "winter_sale"
#: The segment: opted-in subscribers of the bench's variant, who write German (the harness's contacts all are).
FILTERS = {"consent": "marketing", "subscribed": [harness.VARIANT], "country": ["DE"]}
#: No quiet hours (the benchmark runs at any time of day); the harness's contacts never got marketing before.
NOTIFY = {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"}


def _template(graph_url: str) -> None:
    import requests

    requests.post(
        f"{graph_url}/_sandbox/templates",
        json={
            "name": TEMPLATE,
            "language": "en_US",
            "category": "MARKETING",
            "components": [{"type": "BODY", "text": "Hi {{1}}, {{2}} off everything with code {{3}}."}],
        },
        timeout=30,
    ).raise_for_status()


def preview_seconds(rt: Any, channel_id: int | None = None) -> tuple[float, dict[str, Any]]:
    """Seconds to compute the segment and its cost preview (as ``GET /api/v1/segments/<id>/preview`` does)."""
    from connector.campaigns import preview, segments
    from connector.db.models import Contact

    started = time.perf_counter()
    with rt.db.session() as session:
        scope = Contact.channel_connection_id == channel_id if channel_id is not None else None
        clauses = segments.clauses(session, segments.parse(FILTERS), scope)
        found = preview.preview(session, rt.config.notify, clauses, datetime.now(UTC))
    return time.perf_counter() - started, found


def begin(results: dict[str, Any]) -> Any:
    """What starts a run: the template at the sandbox, the segment and the campaign, the preview timed, the start."""

    def start(fan: Any) -> None:
        from connector.campaigns import campaigns
        from connector.db.models_sales import Segment

        _template(fan.graph_url)
        rt = fan.runtime
        with rt.db.session() as session:
            segment = Segment(workspace_id=1, name="Bench segment", filters=FILTERS)
            session.add(segment)
            session.flush()
            created = campaigns.create(
                session, workspace_id=1, name="Bench campaign", segment_id=segment.id,
                channel_connection_id=fan.channel_id, template=TEMPLATE, language="en_US",
                parameters=["{first_name}", "20%", "WINTER20"],
            )  # fmt: skip
            campaign_id = created.id
        seconds, found = preview_seconds(rt, fan.channel_id)
        results["segment_preview_seconds"] = round(seconds, 3)
        results["eligible"] = found["eligible"]
        campaigns.start(rt, campaign_id)

    return start


def postgres_preview(url: str, contacts: int) -> float | None:
    """Seconds of the segment and cost preview for ``contacts`` contacts on a fresh PostgreSQL database."""
    from sqlalchemy.engine import make_url

    from connector.config import load_config
    from connector.db.migrate import upgrade
    from connector.runtime import Runtime

    name = f"bench_campaign_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        print(f"campaign: PostgreSQL preview skipped ({error.__class__.__name__})", file=sys.stderr)
        return None
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    try:
        db_url = make_url(url).set(database=name).render_as_string(hide_password=False)
        from connector.config import generate_secrets

        secrets = generate_secrets()
        config = folder / "connector.toml"
        config.write_text(
            f'[database]\nurl = "{db_url}"\n[security]\nsecret_key = "{secrets["secret_key"]}"\n'
            f'encryption_keys = ["{secrets["encryption_key"]}"]\n[logging]\nlevel = "WARNING"\n'
        )
        rt = Runtime(load_config(config))
        upgrade(rt.db)
        from bench._support import offline_channel

        shop_id, channel_id = offline_channel(rt)
        harness.add_subscribers(rt, shop_id, [channel_id], contacts, stock=contacts)
        with rt.db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        preview_seconds(rt, channel_id)  # warm: the first query plans and fills the caches
        seconds, _found = preview_seconds(rt, channel_id)
        rt.close()
        return seconds
    finally:
        admin.dispose()
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main(argv: list[str]) -> int:
    """Run the benchmark; one JSON object on stdout with ``--json``, a summary on stderr."""
    parser = argparse.ArgumentParser(prog="python -m bench campaign")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=4, help="worker threads of the worker process")
    parser.add_argument("--mps", type=int, default=1000, help="the sandbox's and the connector's per-number limit")
    parser.add_argument("--statuses-per-webhook", type=int, default=50)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    before = fanout.measured_ceiling(args.mps)
    options = {"threads": args.threads, "mps": args.mps, "statuses_per_webhook": args.statuses_per_webhook}
    straight: dict[str, Any] = {}
    plain = fanout.run(args.contacts, kill_at=None, notify=NOTIFY, begin=begin(straight), **options)
    killed = fanout.run(args.contacts, kill_at=0.5, notify=NOTIFY, begin=begin({}), **options)
    postgres = postgres_preview(args.postgres_url, args.contacts)
    judged = fanout.stricter_ceiling(before, fanout.measured_ceiling(args.mps))
    ceiling_per_second = judged["ceiling_per_second"]
    result = {
        "messages": plain["messages"],
        "messages_per_second": plain["messages_per_second"],
        **judged,
        "ratio_to_ceiling": round(plain["messages_per_second"] / ceiling_per_second, 3),
        "duplicates": plain["duplicates"],
        "lost": plain["lost"],
        "throttled_sends": plain["throttled_sends"],
        "killed_duplicates": killed["duplicates"],
        "killed_lost": killed["lost"],
        "killed_messages_per_second": killed["messages_per_second"],
        "killed_recovery_seconds": killed["recovery_seconds"],
        "segment_preview_seconds": straight["segment_preview_seconds"],
        "segment_preview_seconds_postgres": round(postgres, 3) if postgres is not None else None,
        "segment_eligible": straight["eligible"],
        "cpu_ms_per_message": plain["cpu_ms_per_message"],
        "worker_cpu_ms_per_message": plain["worker_cpu_ms_per_message"],
        "limit_per_second": args.mps,
        "worker_threads": args.threads,
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "write_lock": plain["write_lock"],
    }
    print(
        f"campaign: {result['messages']} messages at {result['messages_per_second']}/s "
        f"({result['ratio_to_ceiling']:.0%} of the sandbox's ceiling of {result['ceiling_per_second']}/s); "
        f"duplicates {result['duplicates']}, lost {result['lost']}; killed at 50%: duplicates "
        f"{result['killed_duplicates']}, lost {result['killed_lost']}; segment + cost preview "
        f"{result['segment_preview_seconds']} s (SQLite), {result['segment_preview_seconds_postgres']} s (PostgreSQL)",
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps(result))
    failed = result["duplicates"] or result["lost"] or result["killed_duplicates"] or result["killed_lost"]
    return 1 if failed else 0
