"""Which Admin API versions the sandbox serves, and what it does with the others (Shopify's "fall forward").

Shopify serves each stable version for at least twelve months. A request naming a well-formed version that is
no longer (or not yet) served is answered by the **oldest supported stable version**, and the answer's
``X-Shopify-API-Version`` header names the version that actually served it (shopify.dev/docs/api/usage/versioning;
fact sheet platform-changes-2026.md §11.1). A path segment that is not a version at all is a 404.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

VERSION_FORMAT = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")

#: Stable versions Shopify serves on 2026-12-07 (2025-10 ended about 2026-10-16), oldest first.
SUPPORTED: tuple[str, ...] = ("2026-01", "2026-04", "2026-07", "2026-10")
#: The release candidate, served as itself.
RELEASE_CANDIDATE = "2027-01"


def served_version(requested: str, supported: Sequence[str] = SUPPORTED) -> str | None:
    """The version that answers a request for ``requested``; ``None`` when ``requested`` is no version (404)."""
    if not VERSION_FORMAT.match(requested):
        return None
    if requested in supported or requested in ("unstable", RELEASE_CANDIDATE):
        return requested
    return min(supported)
