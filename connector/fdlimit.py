"""File descriptors of the web listener: raise the soft limit, and derive a connection limit that stays below it.

Every client connection holds a descriptor. A listener that accepts more connections than the process may open
fails on ``accept()`` (and on everything else that opens a file: the database, log files, outbound HTTP).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

#: Connections beyond this are not worth the memory even where the descriptor limit allows them (each one holds
#: buffers; webhooks and the dashboard need a few dozen).
MAX_CONNECTIONS = 4096
#: Descriptors kept for everything but client connections: the database, log files, outbound HTTP, sandboxes.
MIN_RESERVE = 128


def raise_nofile_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit where the platform allows it; return the soft limit."""
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the C runtime's default applies
        return 512
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft == resource.RLIM_INFINITY or wanted <= soft:
        return soft if soft != resource.RLIM_INFINITY else wanted
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open-file limit from %s to %s: %s", soft, wanted, exc)
        return soft
    return wanted


def connection_limit(descriptors: int, configured: int = 0) -> int:
    """Most client connections for a process allowed ``descriptors`` open files: ``configured`` (0 = derived),
    never so many that the listener would run out of descriptors."""
    reserve = max(MIN_RESERVE, descriptors // 8)
    ceiling = max(16, descriptors - reserve)
    if configured:
        if configured > ceiling:
            log.warning(
                "server.connection_limit %s exceeds what %s open files allow; using %s",
                configured,
                descriptors,
                ceiling,
            )
        return min(configured, ceiling)
    return min(MAX_CONNECTIONS, ceiling)
