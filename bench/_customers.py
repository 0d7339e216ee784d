"""Sandbox customers for ``bench checkout``, driven from a process of their own (so that their requests and
polling cost the connector's process no CPU: the benchmark reports that process's CPU per message and order).

* :func:`send_carts`: carts sent at given offsets from a common start (a Poisson stream, or all at once);
* :func:`browse`: customers who each write "hi" (the menu), tap "browse" and then the first row offered (a product
  list), one turn after the other, each once the previous one was answered.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests


def send_carts(graph_url: str, carts: list[tuple[float, dict[str, Any]]]) -> list[tuple[str, float]]:
    """Send each ``(offset, cart)`` at ``offset`` seconds after the start; returns (message id, seconds late)."""
    started = time.monotonic()

    def send(item: tuple[float, dict[str, Any]]) -> tuple[str, float]:
        offset, cart = item
        delay = offset - (time.monotonic() - started)
        if delay > 0:
            time.sleep(delay)
        late = time.monotonic() - started - offset
        response = requests.post(f"{graph_url}/_sandbox/whatsapp/messages", json=cart, timeout=120)
        response.raise_for_status()
        return str(response.json()["message"]["id"]), late

    # One thread per cart in flight: a cart is sent on time even while earlier ones are being delivered.
    with ThreadPoolExecutor(max_workers=min(256, max(1, len(carts)))) as pool:
        return list(pool.map(send, carts))


def _sent_to(http: requests.Session, graph_url: str, wa_id: str) -> list[dict[str, Any]]:
    return list(http.get(f"{graph_url}/_sandbox/messages", params={"to": wa_id}, timeout=60).json()["messages"])


def _first_row(messages: list[dict[str, Any]]) -> str | None:
    """The id of the first row of the last list message sent, or of its first reply button."""
    for message in reversed(messages):
        interactive = message.get("interactive") or {}
        action = interactive.get("action") or {}
        for section in action.get("sections") or []:
            for row in section.get("rows") or []:
                return str(row["id"])
        for button in action.get("buttons") or []:
            return str(button["reply"]["id"])
    return None


def browse(graph_url: str, wa_ids: list[str], give_up: float = 300.0) -> dict[str, Any]:
    """Each customer: "hi", then "browse" from the menu, then the first row offered. Returns the turns answered and
    the latencies (seconds from the customer's message to the first reply of the turn)."""

    def customer(wa_id: str) -> list[float]:
        http = requests.Session()
        latencies: list[float] = []
        turns: list[dict[str, Any]] = [{"type": "text", "text": "hi"}]
        for turn in range(3):
            before = len(_sent_to(http, graph_url, wa_id))
            if turn == 1:
                turns.append({"type": "list_reply", "row_id": "menu:browse"})
            elif turn == 2:
                row = _first_row(_sent_to(http, graph_url, wa_id))
                if row is None:
                    break
                turns.append({"type": "list_reply", "row_id": row})
            sent = time.monotonic()
            body = {"wa_id": wa_id, "name": f"Browser {wa_id[-4:]}", **turns[-1]}
            http.post(f"{graph_url}/_sandbox/whatsapp/messages", json=body, timeout=120).raise_for_status()
            while len(_sent_to(http, graph_url, wa_id)) <= before:
                if time.monotonic() - sent > give_up:
                    return latencies
                time.sleep(0.05)
            latencies.append(time.monotonic() - sent)
            time.sleep(0.3)  # the rest of the turn's replies (a list after a text) arrive before the next tap
        return latencies

    with ThreadPoolExecutor(max_workers=len(wa_ids)) as pool:
        per_customer = list(pool.map(customer, wa_ids))
    return {"turns": sum(len(x) for x in per_customer), "latencies": [x for xs in per_customer for x in xs]}
