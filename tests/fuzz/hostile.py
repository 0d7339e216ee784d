"""Hypothesis strategies for hostile JSON, and the checks every fuzzer makes after sending it.

A mutated delivery keeps the platform's shape (it starts from a payload a sandbox really sent) and then has one to
three of its values replaced, removed or added: the values that broke the connector once (integers past 64 bits,
timestamps past year 9999, lone surrogates, lists where a string belongs, nesting deeper than the JSON parser
recurses) and whatever else hypothesis draws.
"""

from __future__ import annotations

import copy
import json
import os
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import select

from connector.db.models import Task, WebhookEvent
from connector.runtime import Runtime
from tests.conftest import wait_for

#: Examples per webhook fuzzer (the API fuzzer makes a tenth of it per operation): 250 keeps all of them near two
#: minutes in CI; ``FUZZ_EXAMPLES`` raises it for a long local run.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "250"))

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)

#: Replaced by raw ``[[[...]]]`` text after serialising (the test's own json.dumps must not recurse that deep).
DEEP = "\x00deep-nesting\x00"

_KNOWN_BAD: list[Any] = [
    2**63,
    2**64 + 1,
    -(2**63) - 1,
    10**20,
    99999999999999999999,
    10**400,
    1e300,
    -1e300,
    float("inf"),
    float("nan"),
    253402300800,  # 10000-01-01: past datetime's range
    253402300800000,  # the same in milliseconds
    -62135596801,  # before year 1
    -1,
    0,
    True,
    None,
    "",
    "\ud800",
    "x\udfffy",
    "\x00",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "10000-01-01T00:00:00Z",
    "not a date",
    "1e999",
    "NaN",
    [],
    [[]],
    [1, "a"],
    {},
    {"id": []},
    DEEP,
]

scalars = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3),  # lone surrogates
    st.booleans(),
    st.none(),
)
hostile_values = st.one_of(
    st.sampled_from(_KNOWN_BAD),
    st.sampled_from(_KNOWN_BAD),
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=6), scalars, max_size=3),
)


#: Names of the fields parsers read: mutated more often than the rest.
_TELLING = re.compile(
    r"(^|_)(id|ids|mid|mids|time|timestamp|watermark|date|at|gmt|variations|variants|quantity|stock|available|"
    r"primaryKey|eventId|event|payload|price|status|type|entry|changes|messaging|messages|statuses|from|sender)$",
    re.IGNORECASE,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``node`` (dict keys and list indexes), the root's children first."""
    found: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _apply(document: Any, path: tuple[Any, ...], operation: str, value: Any) -> Any:
    """``document`` with the value at ``path`` replaced (``set``), removed (``drop``) or given a sibling (``add``)."""
    if not path:
        return value
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if operation == "set":
        parent[last] = value
    elif operation == "drop":
        del parent[last]
    elif isinstance(parent, dict):
        parent[f"{last}_x"] = value
    else:
        parent.append(value)
    return document


@st.composite
def mutated(draw: st.DrawFn, seed: Any) -> bytes:
    """The JSON ``seed`` with one to three hostile changes, serialised as the platform would send it."""
    document = json.loads(json.dumps(seed))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(document)
        # Half the time a field the connector reads (ids, times, quantities...), or a random one.
        telling = [p for p in paths if _TELLING.search(str(p[-1]))]
        pool = telling if telling and draw(st.booleans()) else paths
        path = draw(st.sampled_from(pool)) if pool and draw(st.integers(0, 19)) else ()
        operation = draw(st.sampled_from(["set", "set", "set", "drop", "add"])) if path else "set"
        # A copy: a later mutation may append into it, and the sampled constants must stay as they are.
        document = _apply(document, path, operation, copy.deepcopy(draw(hostile_values)))
    text = json.dumps(document)
    depth = draw(st.sampled_from([2_000, 100_000]))
    return text.replace(json.dumps(DEEP), "[" * depth + "]" * depth).encode()


def settled(rt: Runtime) -> list[Task]:
    """Wait until the worker has run every task that is due (nothing running, nothing pending and due); return all
    tasks. A task a real error put back has ``last_error`` and a counted attempt; a deliberate wait (another sync
    running, a batch still processing) gives its attempt back."""

    def idle() -> list[Task] | None:
        now = datetime.now(UTC).replace(tzinfo=None)
        with rt.db.session() as session:
            tasks = list(session.scalars(select(Task)))
            session.expunge_all()
        busy = [
            t
            for t in tasks
            if t.status == "running" or (t.status == "pending" and t.due_at.replace(tzinfo=None) <= now)
        ]
        return None if busy else tasks

    return wait_for(idle, timeout=120, interval=0.1)


def poisoned(rt: Runtime) -> list[str]:
    """Tasks that failed (for good, or once and now waiting for a retry) and deliveries marked failed."""
    problems = [
        f"task {t.id} {t.kind} {t.args} ({t.status}, attempt {t.attempts}): {t.last_error}"
        for t in settled(rt)
        if t.status == "failed" or (t.last_error and t.attempts > 0 and t.status != "done")
    ]
    with rt.db.session() as session:
        failed = session.execute(
            select(WebhookEvent.id, WebhookEvent.adapter, WebhookEvent.error).where(WebhookEvent.status == "failed")
        ).all()
    problems.extend(f"webhook event {i} ({adapter}) failed: {error}" for i, adapter, error in failed)
    return problems
