"""CORS for browsers on other origins: preflights answered from the router, headers on answers.

A wrapper around the sandbox's ASGI entry. A request without an ``Origin`` header passes through
untouched (one scan of the header list). A preflight (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``) is answered here, before the sandbox sees it: it is not
journaled, takes nothing from the rate-limit bucket and so never counts towards contract
coverage. Every other answer to an allowed origin, errors included, gets
``Access-Control-Allow-Origin`` and ``Access-Control-Expose-Headers``, so a page can read a 400's
body and the rate-limit headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..engine.routing import Router
from ..engine.spec import Operation
from ..errors import NotFound, Problem, SandboxError, error_body

#: Headers every operation may be sent from a page, whatever its document declares.
ALWAYS_ALLOWED = ("Authorization", "Content-Type", "Prefer")
#: Response headers a page may read besides the CORS-safelisted ones, with those the documents
#: declare on their responses.
ALWAYS_EXPOSED = (
    "Allow",
    "Location",
    "Retry-After",
    "X-Sandbox-Violations",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)
#: How long a browser may reuse a preflight's answer, in seconds (Chromium caps it at 7200).
MAX_AGE = 600
_ORIGIN = re.compile(r"^(https?://[^/?#\s]+|null)$")


class CorsOriginRefused(SandboxError):
    status = 403
    error_enum = None
    type = "CorsOriginRefused"


def check_origin(origin: str) -> str:
    """``origin`` as given to ``--cors-origin``, or ``ValueError`` saying what one looks like."""
    if not _ORIGIN.match(origin):
        raise ValueError(
            f"CORS origin {origin!r} must be a scheme, host and optional port with no path, "
            "e.g. http://localhost:3000 (or null, for pages opened from files)"
        )
    return origin.rstrip("/")


def exposed_headers(documents: Iterable[Mapping[str, Any]]) -> list[str]:
    """``ALWAYS_EXPOSED`` and every response header the documents declare."""
    names = {name.lower(): name for name in ALWAYS_EXPOSED}
    for document in documents:
        for node in _response_objects(document):
            for name in node.get("headers") or {}:
                if isinstance(name, str):
                    names.setdefault(name.lower(), name)
    return sorted(names.values(), key=str.lower)


def _response_objects(document: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    components = document.get("components") or {}
    yield from (r for r in (components.get("responses") or {}).values() if isinstance(r, dict))
    for item in (document.get("paths") or {}).values():
        for op in (item or {}).values() if isinstance(item, dict) else ():
            if isinstance(op, dict):
                responses = op.get("responses") or {}
                yield from (r for r in responses.values() if isinstance(r, dict))


class Cors:
    """The ASGI wrapper. ``origins``: the allowed origins; empty allows any (answered ``*``).

    ``extra_paths`` are served outside the router (the documents), with their methods.
    """

    def __init__(
        self,
        app: ASGIApp,
        router: Router,
        *,
        origins: Iterable[str] = (),
        exposed: Iterable[str] = ALWAYS_EXPOSED,
        extra_paths: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.app = app
        self.router = router
        self.origins = frozenset(origins)
        self.extra_paths = {path: sorted(methods) for path, methods in (extra_paths or {}).items()}
        self._exposed = ", ".join(exposed).encode("latin-1")
        self._preflights: dict[str, tuple[bytes, frozenset[str]]] = {}

    def allowed_origin(self, origin: str) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for ``origin``; None if it is refused."""
        if not self.origins:
            return "*"
        return origin if origin in self.origins else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = None
        preflight = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"access-control-request-method":
                preflight = True
        if origin is None:
            await self.app(scope, receive, send)
            return
        if preflight and scope["method"] == "OPTIONS":
            await self._preflight(scope, origin, send)
            return
        allow = self.allowed_origin(origin)
        if allow is None:  # answered as to anyone; the browser keeps it from the page
            await self.app(scope, receive, send)
            return
        added = self._common(allow)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *added]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _common(self, allow: str) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"access-control-allow-origin", allow.encode("latin-1")),
            (b"access-control-expose-headers", self._exposed),
        ]
        if allow != "*":  # the answer depends on the Origin asked with: caches must know
            headers.append((b"vary", b"Origin"))
        return headers

    async def _preflight(self, scope: Scope, origin: str, send: Send) -> None:
        allow = self.allowed_origin(origin)
        if allow is None:
            allowed = ", ".join(sorted(self.origins))
            error: SandboxError = CorsOriginRefused(
                Problem(
                    f"Origin {origin} may not call this sandbox; it allows {allowed} "
                    "(--cors-origin). Start it with --cors-origin " + origin + " to allow it.",
                    {"location": "header", "pointer": "/origin", "keyword": "cors"},
                )
            )
            await _send(send, error.status, [(b"vary", b"Origin")], error_body(error))
            return
        headers = self._common(allow)
        path = scope["raw_path"].decode("latin-1").split("?", 1)[0]
        try:
            methods, allowed_headers = self._for_path(path)
        except NotFound as exc:
            await _send(send, exc.status, headers, error_body(exc))
            return
        requested = _header(scope, b"access-control-request-headers")
        wanted = [h.strip() for h in requested.split(",") if h.strip()]
        headers += [
            (b"access-control-allow-methods", methods),
            # The requested headers the operations take, as the browser spelled them: a header
            # missing here is one the browser then names in its console as not allowed.
            (
                b"access-control-allow-headers",
                ", ".join(
                    [h for h in wanted if h.lower() in allowed_headers]
                    or [h for h in ALWAYS_ALLOWED]
                ).encode("latin-1"),
            ),
            (b"access-control-max-age", str(MAX_AGE).encode("latin-1")),
        ]
        if _header(scope, b"access-control-request-private-network") == "true":
            headers.append((b"access-control-allow-private-network", b"true"))
        await _send(send, 204, headers, None)

    def _for_path(self, path: str) -> tuple[bytes, frozenset[str]]:
        """Allowed methods (as sent) and allowed request headers (lower case) for ``path``."""
        if path in self.extra_paths:
            return ", ".join(self.extra_paths[path]).encode("latin-1"), _allowed_headers(())
        template, operations = self.router.operations_at(path)
        cached = self._preflights.get(template)
        if cached is None:
            cached = (
                ", ".join(sorted(operations)).encode("latin-1"),
                _allowed_headers(operations.values()),
            )
            self._preflights[template] = cached
        return cached


def _allowed_headers(operations: Iterable[Operation]) -> frozenset[str]:
    names = {h.lower() for h in ALWAYS_ALLOWED}
    for op in operations:
        names.update(p.name.lower() for p in op.parameters if p.location == "header")
    return frozenset(names)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


async def _send(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: Any | None
) -> None:
    content = b"" if body is None else orjson.dumps(body)
    raw = list(headers)
    if body is not None:
        raw += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode("latin-1")),
        ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})
