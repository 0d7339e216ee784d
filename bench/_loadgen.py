"""A load generator in its own process: ``python -m bench._loadgen REQUESTS RESULT HOST PORT CONCURRENCY``.

Sends every request of the ``REQUESTS`` file (length-prefixed raw HTTP/1.1 requests, each complete with its
headers) exactly once, over ``CONCURRENCY`` keep-alive connections at once (asyncio streams: a connection sends its
next request when the previous one was answered, as a webhook sender with a delivery slot does). Writes to
``RESULT`` a JSON object: ``statuses`` (one per request, in file order; 0 when the connection failed),
``latencies_ms`` (same order), ``seconds`` (first send to last answer) and ``bodies`` (answers that were not 200).

Its own process, so its CPU is not the server's; on a 2-core machine it still shares the cores with the server,
which is why every figure is reported next to a hello-world served the same way in the same run.
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
import time
from pathlib import Path


def write_requests(path: Path, requests: list[bytes]) -> None:
    """Store ``requests`` (raw HTTP requests) for the load generator."""
    with path.open("wb") as out:
        for raw in requests:
            out.write(struct.pack("!I", len(raw)))
            out.write(raw)


def http_request(method: str, path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    """A raw HTTP/1.1 keep-alive request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _read_requests(path: Path) -> list[bytes]:
    data = path.read_bytes()
    out, offset = [], 0
    while offset < len(data):
        (size,) = struct.unpack_from("!I", data, offset)
        out.append(data[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return out


async def _connection(
    host: str, port: int, requests: list[bytes], queue: asyncio.Queue[int], statuses: list[int], latencies: list[float]
) -> list[str]:
    errors: list[str] = []
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return errors
            started = time.perf_counter()
            try:
                writer.write(requests[index])
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length, close = 0, False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                body = await reader.readexactly(length) if length else b""
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                statuses[index] = 0
                errors.append(f"{type(exc).__name__}: {exc}")
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies[index] = (time.perf_counter() - started) * 1000
            statuses[index] = status
            if status != 200 and len(errors) < 20:
                errors.append(body[:300].decode(errors="replace"))
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def run(requests: list[bytes], host: str, port: int, concurrency: int) -> dict[str, object]:
    """Send every request once over ``concurrency`` connections; the figures described in the module docstring."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(requests)):
        queue.put_nowait(index)
    statuses = [0] * len(requests)
    latencies = [0.0] * len(requests)
    started = time.perf_counter()
    results = await asyncio.gather(
        *(_connection(host, port, requests, queue, statuses, latencies) for _ in range(concurrency))
    )
    seconds = time.perf_counter() - started
    bodies = [e for errors in results for e in errors][:20]
    return {"statuses": statuses, "latencies_ms": latencies, "seconds": seconds, "bodies": bodies}


def main(argv: list[str]) -> int:
    requests_file, result_file, host, port, concurrency = argv
    requests = _read_requests(Path(requests_file))
    result = asyncio.run(run(requests, host, int(port), int(concurrency)))
    Path(result_file).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
