"""uvicorn's HTTP protocol with a deadline and a size limit on a request's head (request line and headers).

uvicorn times out only an idle connection *after* a response (``timeout_keep_alive``). A connection that sends
nothing, or its headers a byte at a time (slowloris), is kept forever, and headers are not bounded in size by the
httptools parser. This subclass of the protocol uvicorn would pick answers such a connection with a one-line 408
(or 431) and closes it. The body has its own deadline in the app (:class:`lightning_seq.serve.app.RequestLimits`),
which can answer in the usual JSON form.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class BoundedHeadProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """Closes a connection whose request head is not complete within ``header_timeout`` seconds of its first byte
    (or of the connection, for the first request), or passes ``max_header_bytes``."""

    def __init__(self, *args: Any, header_timeout: float, max_header_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout, self.max_header_bytes = header_timeout, max_header_bytes
        self._head_deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._tail = b""  # the last bytes of the head so far: its end (CR LF CR LF) may be split across reads

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._reading_head():  # counted before the parser sees it: a whole head can come in one read
            seen = self._tail + data
            end = seen.find(b"\r\n\r\n")
            head = len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            if self._head_bytes + head > self.max_header_bytes:
                self._refuse(
                    431,
                    "Request Header Fields Too Large",
                    f"the request line and headers passed {self.max_header_bytes:,} bytes (--max_header_bytes)",
                )
                return
            self._tail = seen[-3:]
        super().data_received(data)
        if self.transport.is_closing():
            return
        if not self._reading_head():
            self._disarm()
            self._head_bytes, self._tail = 0, b""
            return
        self._head_bytes += len(data)  # a read that completed a head resets above, so this is head bytes only
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _reading_head(self) -> bool:
        """No request in progress: bytes now belong to the head of the next one."""
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self._reading_head() and not self.transport.is_closing():
            self._refuse(
                408,
                "Request Timeout",
                f"the request line and headers took over {self.header_timeout:g} s (--header_timeout)",
            )

    def _refuse(self, status: int, reason: str, detail: str) -> None:
        self._disarm()
        body = json.dumps({"detail": detail}).encode()
        head = (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()
