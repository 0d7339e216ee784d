"""The marketing frequency cap over a whole segment: ``python -m bench frequency_cap [--contacts 100000] [--json]``.

A fresh SQLite database gets ``--contacts`` WhatsApp contacts and two marketing messages per contact over the last
ten days in every outbox state (sent, delivered, read, failed, skipped, pending, deferred; a fixed random seed).
Timed, as process CPU seconds (robust to a loaded machine; best of five after one warm-up), with the wall-clock
next to it: the cap as a campaign preview asks it (:func:`connector.notify.frequency.capped` with ``queued=True``,
every contact in one grouped query) and as a send asks it (the same without the queued messages). One JSON object
on stdout with ``--json``.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text

from bench._support import machine, offline_channel, report, temp_runtime

STATES = ("sent", "delivered", "read", "failed", "skipped", "pending", "deferred")
REACHED = ("sent", "delivered", "read")


def seed(rt: Any, contacts: int, now: datetime) -> None:
    """The contacts and their marketing history (two messages each on average, up to ten days old)."""
    from connector.db.models import Contact, OutboundMessage

    _shop_id, channel_id = offline_channel(rt)
    chance = random.Random(1)
    with rt.db.engine.begin() as conn:
        conn.execute(
            insert(Contact),
            [
                {"channel_connection_id": channel_id, "channel_user_id": str(n), "phone": str(n)}
                for n in range(4915100000000, 4915100000000 + contacts)
            ],
        )
        ids = list(conn.scalars(select(Contact.id)))
        rows = []
        for n in range(2 * contacts):
            age, state = chance.uniform(0, 10), chance.choice(STATES)
            rows.append(
                {
                    "channel_connection_id": channel_id, "contact_id": chance.choice(ids), "recipient": "x",
                    "kind": "campaign", "payload": {}, "idempotency_key": f"bench:{n}", "purpose": "marketing",
                    "status": state, "created_at": now - timedelta(days=age + 0.5),
                    "sent_at": now - timedelta(days=age) if state in REACHED else None,
                }
            )  # fmt: skip
        conn.execute(insert(OutboundMessage), rows)
        conn.execute(text("ANALYZE"))


def timed(work: Callable[[], int]) -> tuple[float, float, int]:
    """Best CPU and wall-clock seconds of five runs of ``work`` after a warm-up, and its result."""
    work()
    runs = []
    for _ in range(5):
        cpu, wall = time.process_time(), time.perf_counter()
        found = work()
        runs.append((time.process_time() - cpu, time.perf_counter() - wall))
    return min(r[0] for r in runs), min(r[1] for r in runs), found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench frequency_cap")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--contacts", type=int, default=100_000)
    args = parser.parse_args(argv)
    from connector.notify import frequency

    rt, folder = temp_runtime()
    try:
        now = datetime.now(UTC)
        seed(rt, args.contacts, now)
        settings = rt.config.notify

        def capped(queued: bool) -> Callable[[], int]:
            def work() -> int:
                with rt.db.session() as session:
                    return len(frequency.capped(session, None, now, settings, queued=queued))

            return work

        preview = timed(capped(True))
        send = timed(capped(False))
    finally:
        rt.close()
        folder.cleanup()
    result = {
        "contacts": args.contacts,
        "marketing_messages": 2 * args.contacts,
        "preview_cpu_seconds": round(preview[0], 3),
        "preview_wall_seconds": round(preview[1], 3),
        "preview_capped": preview[2],
        "send_rule_cpu_seconds": round(send[0], 3),
        "send_rule_wall_seconds": round(send[1], 3),
        "send_rule_capped": send[2],
        "load_average": round(os.getloadavg()[0], 1),
        "machine": machine(),
    }
    report(
        result,
        args.json,
        [
            f"frequency cap over {args.contacts} contacts / {2 * args.contacts} marketing messages: preview "
            f"{result['preview_cpu_seconds']} s CPU ({preview[2]} capped, queued counted), send rule "
            f"{result['send_rule_cpu_seconds']} s CPU ({send[2]} capped); load {result['load_average']}"
        ],
    )
    return 0
