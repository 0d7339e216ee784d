"""Product photos the shop sandboxes serve themselves, so the URLs the connector stores (and the Meta catalog
receives) are real and load in a browser.

Each shop sandbox keeps a :class:`ProductImages` shelf: the paths of its seeded images, shaped like the platform's
own media URLs (``/wp-content/uploads/...``, ``/s/files/...``, ``/media/...``). A path not on the shelf is a 404, as
on a real CDN. The picture is a 600x600 PNG (Meta's catalog wants JPEG or PNG of at least 500x500) in a colour
derived from the product, cached for a year like the platforms' immutable media URLs.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import lru_cache

from flask import Flask, Response, abort, request

#: Side of the square images, in pixels.
SIZE = 600
#: Media URLs are immutable (a new upload gets a new name), so browsers and CDNs may keep them for a year.
CACHE_CONTROL = "public, max-age=31536000, immutable"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache(maxsize=128)
def product_png(name: str, size: int = SIZE) -> bytes:
    """A ``size`` x ``size`` PNG for ``name``: a coloured square with a lighter square in the middle."""
    digest = hashlib.sha256(name.encode()).digest()
    outer = bytes(64 + b % 128 for b in digest[:3])
    inner = bytes(min(255, c + 80) for c in outer)
    margin = size // 4
    plain = b"\x00" + outer * size  # each row starts with filter type 0 (None)
    framed = b"\x00" + outer * margin + inner * (size - 2 * margin) + outer * margin
    rows = [framed if margin <= y < size - margin else plain for y in range(size)]
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


class ProductImages:
    """The image paths one sandbox serves."""

    def __init__(self) -> None:
        self._paths: set[str] = set()

    def add(self, path: str) -> str:
        """Serve an image at ``path`` (absolute path on the sandbox's host) and return the path."""
        self._paths.add(path)
        return path

    def __contains__(self, path: object) -> bool:
        return path in self._paths

    def install(self, app: Flask, rule: str) -> None:
        """Answer GET (and HEAD) on ``rule`` (a Flask rule ending in ``<path:name>``) with the shelf's images."""

        def product_image(name: str) -> Response:
            if request.path not in self._paths:
                abort(404)
            response = Response(product_png(request.path), content_type="image/png")
            response.headers["Cache-Control"] = CACHE_CONTROL
            response.add_etag()
            response.make_conditional(request)  # in place: 304 for a matching If-None-Match
            return response

        app.add_url_rule(rule, endpoint="product_image", view_func=product_image, methods=["GET"])


def absolute(base_url: str, url: str | None) -> str | None:
    """``url`` as served from ``base_url``: seeded paths become absolute; absolute URLs stay as they are."""
    if url and url.startswith("/"):
        return base_url.rstrip("/") + url
    return url
