"""Waitress's connection channel without its busy loop.

Waitress's listener polls every connection that has output waiting. While a request thread is writing its answer it
holds the connection's output lock; the listener then finds the socket writable, fails to take the lock, and polls
again at once. It spins like that, holding the GIL, until the request thread gets the GIL back. With many request
threads that is a convoy: measured on 2 cores (``bench ingest``, 32 connections), the listener's spin was 95% of
the server's CPU, about 8 ms per webhook, and the server answered 120-160 deliveries/s.

:class:`QuietChannel` asks the poll for writability only when the lock is free. A request thread that leaves
output unsent wakes the listener itself (waitress pulls its trigger after a partial flush and when a request
ends), so nothing waits longer than before.
"""

from __future__ import annotations

from waitress.channel import HTTPChannel


class QuietChannel(HTTPChannel):
    """An :class:`~waitress.channel.HTTPChannel` that does not poll for output a request thread is writing."""

    def writable(self) -> bool:
        if self.will_close or self.close_when_flushed:
            return True
        if not self.total_outbufs_len:
            return False
        if not self.requests:
            return True  # no request thread: the listener sends what is left
        # A request thread is running: poll only when it does not hold the output lock right now.
        if self.outbuf_lock.acquire(False):
            self.outbuf_lock.release()
            return True
        return False
