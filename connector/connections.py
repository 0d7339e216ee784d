"""Shop and channel connections: creating, testing and instantiating their adapters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class ConnectionRef:
    """Which connection something concerns: passed to webhook hooks so plugins know where a request came in."""

    kind: Literal["shop", "channel"]
    id: int
    adapter: str
    name: str = ""
