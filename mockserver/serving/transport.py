"""``ASGITransport``: a synchronous httpx transport that calls an ASGI app in-process, no socket."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from starlette.types import ASGIApp, Message

_CLIENT_ADDRESS = ("127.0.0.1", 50000)


class ASGITransport(httpx.BaseTransport):
    """Send each request straight to ``app`` and return its buffered response.

    httpx's own ``ASGITransport`` is async-only. This one runs the app on a private event loop
    owned by the transport (no thread hop, no socket); when the calling thread already runs an
    event loop (a sync client used inside an async test), the call goes to a helper thread with
    its own loop instead, since one thread cannot run two loops.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._helper: ThreadPoolExecutor | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        url = request.url
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?", 1)[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(name.lower(), value) for name, value in request.headers.raw],
            "client": _CLIENT_ADDRESS,
            "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
            "extensions": {},
        }
        status, headers, content = self._run(self._call(scope, body))
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _call(
        self, scope: dict[str, Any], body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        request_sent = False
        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, headers, b"".join(chunks)

    def _run(
        self, call: Coroutine[Any, Any, tuple[int, list[tuple[bytes, bytes]], bytes]]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            with self._lock:
                if self._loop is None or self._loop.is_closed():
                    self._loop = asyncio.new_event_loop()
                return self._loop.run_until_complete(call)
        with self._lock:
            if self._helper is None:
                self._helper = ThreadPoolExecutor(1, thread_name_prefix="layer-sandbox-asgi")
            helper = self._helper
        return helper.submit(asyncio.run, call).result()

    def close(self) -> None:
        with self._lock:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.close()
            if self._helper is not None:
                self._helper.shutdown(wait=True)
                self._helper = None
