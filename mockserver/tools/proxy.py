"""``mockserver proxy UPSTREAM_URL``: a validating proxy in front of the real API.

Every public request is checked against the document (parameters, body, credentials present)
and forwarded to the upstream; the upstream's answer is checked too and handed back with its
status, headers and body bytes unchanged. Nothing a check finds stops the exchange: every
violation is journaled (marked ``request`` or ``response``, with its pointer) and counted in
one short ``X-Sandbox-Violations`` header. ``/_sandbox`` (journal, drift, coverage, the
inspector) and ``/openapi.json`` are answered locally by the sandbox the proxy wraps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import orjson
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from ..config import Config
from ..engine.dispatch import Reply
from ..engine.limits import query_items
from ..engine.responses import error_reply, is_json
from ..engine.spec import Operation
from ..engine.validation import check_response, parse_body, parse_parameters
from ..errors import (
    BadGateway,
    BadRequest,
    ContractViolation,
    GatewayTimeout,
    PayloadTooLarge,
    Problem,
    SandboxError,
    error_body,
)
from ..serving import browser
from ..serving.app import CONTROL_PREFIX, Sandbox, _SandboxApp
from .recording import Recorder

log = logging.getLogger("mockserver.proxy")

#: RFC 9110 section 7.6.1: connection-specific fields a proxy must not forward (besides those
#: the Connection header names); Proxy-Authorization is meant for this proxy, not the next hop.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
VIOLATIONS_HEADER = b"x-sandbox-violations"
REDACTED = "[redacted]"
_SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|password|api[-_]?key", re.I)
_VIA = b"1.1 mockserver"
DEFAULT_TIMEOUT = 30.0


def hop_by_hop(headers: list[tuple[bytes, bytes]]) -> frozenset[str]:
    """The fixed hop-by-hop names plus every name the Connection header lists."""
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    return HOP_BY_HOP | {n for n in named if n}


def redacted(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Headers for the journal: credentials and cookies replaced by ``[redacted]``."""
    out: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        value = REDACTED if _SECRET_HEADER.search(name) else raw_value.decode("latin-1")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def violation(side: str, problem: Problem, location: str | None = None) -> dict[str, Any]:
    """One journaled violation: which side, where, the JSON Pointer, the keyword, the message."""
    meta = problem.meta
    return {
        "in": side,
        "location": location or meta.get("location") or "body",
        "pointer": str(meta.get("pointer", "")),
        "keyword": meta.get("keyword"),
        "message": problem.description,
    }


def _header_value(violations: list[dict[str, Any]], entry: int, checked: bool) -> bytes:
    request = sum(1 for v in violations if v["in"] == "request")
    response = len(violations) - request
    shown = str(response) if checked else "unchecked"
    return f"{len(violations)}; request={request}; response={shown}; entry={entry}".encode()


class Proxy:
    """The proxy's ASGI entry for public paths; ``sandbox`` answers ``/_sandbox`` and checks."""

    def __init__(
        self,
        sandbox: Sandbox,
        upstream: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        reject_invalid_requests: bool = False,
        recorder: Recorder | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"upstream {upstream!r} is not an http(s) URL; give one like "
                "https://sandbox.layerfi.com"
            )
        self.sandbox = sandbox
        self.upstream = upstream.rstrip("/")
        self.timeout = timeout
        self.reject_invalid_requests = reject_invalid_requests
        self.recorder = recorder
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """One pooled client (created in the serving loop): connections to the upstream reused."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
                follow_redirects=False,  # a redirect is the upstream's answer, passed on as is
                trust_env=False,  # straight to the upstream, whatever HTTP(S)_PROXY says
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path.startswith(CONTROL_PREFIX) or path == "/openapi.json":
            await self.sandbox.asgi(scope, receive, send)
            return
        await self.forward(scope, receive, send)

    # --- one exchange ------------------------------------------------------------------------

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        sandbox = self.sandbox
        raw_path = scope["raw_path"].decode("latin-1").split("?", 1)[0]
        headers = Headers(scope=scope)
        accept = headers.get("accept")
        op: Operation | None = None
        path_params: Mapping[str, str] = {}
        violations: list[dict[str, Any]] = []
        request_body: Any = None
        try:
            sandbox._check_head(scope)  # the same limits as `serve`: answered here
            try:
                op, path_params = sandbox.router.match(scope["method"], raw_path)
            except SandboxError as exc:  # 404 or 405: the document has no such operation
                violations += [violation("request", p, "path") for p in exc.problems]
                if self.reject_invalid_requests:
                    raise
            body = await self._read_body(receive, headers)
            if op is not None:
                problems, request_body = self._check_request(op, path_params, scope, body)
                violations += [violation("request", p) for p in problems]
                if problems and self.reject_invalid_requests:
                    raise BadRequest(problems)
            elif body:
                request_body = _text(body)
        except SandboxError as exc:
            reply = self._error(op, exc, accept)
            entry = self._record(
                scope, raw_path, op, path_params, reply.status, request_body, reply.body,
                violations, proxy={"forwarded": False},
            )  # fmt: skip
            await _send_reply(send, reply, _header_value(violations, entry, True))
            return
        await self._exchange(scope, send, op, path_params, body, request_body, violations)

    async def _exchange(
        self,
        scope: Scope,
        send: Send,
        op: Operation | None,
        path_params: Mapping[str, str],
        body: bytes,
        request_body: Any,
        violations: list[dict[str, Any]],
    ) -> None:
        raw_path = scope["raw_path"].decode("latin-1").split("?", 1)[0]
        query = scope["query_string"].decode("latin-1")
        url = self.upstream + raw_path + (f"?{query}" if query else "")
        outgoing = _outgoing_headers(scope["headers"])
        info: dict[str, Any] = {
            "forwarded": True,
            "upstream": self.upstream + raw_path,
            "request_headers": redacted(outgoing),
        }
        limit = self.sandbox.config.max_body_bytes
        started = time.perf_counter()
        response: httpx.Response | None = None
        chunks: list[bytes] = []
        size = 0
        complete = True
        stream: AsyncIterator[bytes] | None = None
        try:
            async with asyncio.timeout(self.timeout):
                request = self.client.build_request(
                    scope["method"], url, headers=outgoing, content=body
                )
                response = await self.client.send(request, stream=True)
                stream = response.aiter_raw()
                async for chunk in stream:
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > limit:
                        complete = False
                        break
        except (TimeoutError, httpx.TimeoutException):
            await _close(response)
            exc: SandboxError = GatewayTimeout(
                Problem(
                    f"The upstream {self.upstream} did not answer within {self.timeout:g} "
                    "seconds (--upstream-timeout); nothing is known of what it did.",
                    {"upstream": self.upstream, "timeout": self.timeout},
                )
            )
            await self._local_error(
                scope, send, op, path_params, request_body, violations, exc, info
            )
            return
        except (httpx.HTTPError, OSError) as error:
            await _close(response)
            exc = BadGateway(
                Problem(
                    f"The upstream {self.upstream} could not be reached or broke off its answer "
                    f"({type(error).__name__}: {error or 'no detail'}); check that it is up and "
                    "the URL given to `mockserver proxy` is right.",
                    {"upstream": self.upstream},
                )
            )
            await self._local_error(
                scope, send, op, path_params, request_body, violations, exc, info
            )
            return
        assert response is not None
        info["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 3)
        info["response_checked"] = complete
        raw = b"".join(chunks)
        response_headers = [
            (name.lower(), value)
            for name, value in response.headers.raw
            if name.lower().decode("latin-1") not in hop_by_hop(response.headers.raw)
        ]
        response_headers.append((b"via", _VIA))
        decoded: Any = None
        if complete:
            await response.aclose()
            response_violations, decoded = self._check_response(op, response, raw)
            violations += response_violations
            if self.recorder is not None and op is not None and not response_violations:
                self.recorder.observe(op, path_params, response.status_code, decoded)
        entry = self._record(
            scope, raw_path, op, path_params, response.status_code, request_body,
            decoded if complete else None, violations, proxy=info,
        )  # fmt: skip
        for v in violations:
            log.warning(
                "entry %d: %s violation at %r: %s", entry, v["in"], v["pointer"], v["message"]
            )
        response_headers.append((VIOLATIONS_HEADER, _header_value(violations, entry, complete)))
        if complete:
            if not any(n == b"content-length" for n, _ in response_headers) and _has_body(
                response.status_code, scope["method"]
            ):
                response_headers.append((b"content-length", str(len(raw)).encode()))
            await send(
                {"type": "http.response.start", "status": response.status_code,
                 "headers": response_headers}
            )  # fmt: skip
            await send({"type": "http.response.body", "body": raw})
            return
        # Over the limit: passed on as it comes, never held whole; its check is skipped.
        await send(
            {"type": "http.response.start", "status": response.status_code,
             "headers": response_headers}
        )  # fmt: skip
        try:
            await send({"type": "http.response.body", "body": raw, "more_body": True})
            assert stream is not None
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (httpx.HTTPError, OSError) as error:
            log.warning("entry %d: the upstream broke off a streamed answer: %s", entry, error)
        finally:
            await response.aclose()
        await send({"type": "http.response.body", "body": b""})

    async def _local_error(
        self,
        scope: Scope,
        send: Send,
        op: Operation | None,
        path_params: Mapping[str, str],
        request_body: Any,
        violations: list[dict[str, Any]],
        exc: SandboxError,
        info: dict[str, Any],
    ) -> None:
        info["error"] = exc.type
        reply = self._error(op, exc, Headers(scope=scope).get("accept"))
        raw_path = scope["raw_path"].decode("latin-1").split("?", 1)[0]
        entry = self._record(
            scope, raw_path, op, path_params, reply.status, request_body, reply.body,
            violations, proxy=info,
        )  # fmt: skip
        log.warning("entry %d: %s", entry, exc)
        await _send_reply(send, reply, _header_value(violations, entry, True))

    # --- checks ------------------------------------------------------------------------------

    async def _read_body(self, receive: Receive, headers: Headers) -> bytes:
        """The request body, never more than the limit held: 413 beyond it."""
        limit = self.sandbox.config.max_body_bytes
        if "content-length" not in headers and "transfer-encoding" not in headers:
            return b""
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared[:19]) > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _check_request(
        self, op: Operation, path_params: Mapping[str, str], scope: Scope, body: bytes
    ) -> tuple[list[Problem], Any]:
        sandbox = self.sandbox
        headers = Headers(scope=scope)
        problems: list[Problem] = []
        query = query_items(scope["query_string"], problems)
        if op.security:  # credentials present in the form the document asks (not checked)
            try:
                sandbox.auth.authenticate(
                    op,
                    headers.get("authorization"),
                    lambda location, name: _api_key(headers, query, location, name),
                )
            except SandboxError as exc:
                problems += [
                    Problem(
                        p.description,
                        {"location": "header", "pointer": "/Authorization", "keyword": "security"},
                    )
                    for p in exc.problems
                ]
        parse_parameters(
            op,
            path_params,
            query,
            headers,
            problems,
            reject_unknown_query=sandbox.reject_unknown_query,
        )
        content_type = headers.get("content-type")
        parsed = parse_body(op, content_type, body, problems)
        if not sandbox.layer_errors:
            problems = [p for p in problems if p.meta.get("keyword") != "nul"]
        request_body = parsed if isinstance(parsed, dict | list) else _text(body)
        return problems, request_body

    def _check_response(
        self, op: Operation | None, response: httpx.Response, raw: bytes
    ) -> tuple[list[dict[str, Any]], Any]:
        """The upstream's answer against ``op``: its violations, and its body as decoded."""
        status = response.status_code
        content_type = response.headers.get("content-type")
        media_type = (content_type or "application/octet-stream").split(";")[0].strip().lower()
        try:
            data = _decoded(raw, response.headers.get("content-encoding"))
        except (ValueError, zlib.error) as exc:
            problem = Problem(
                f"the upstream's {status} body could not be decoded ({exc}); it was not checked.",
                {"location": "body", "pointer": "", "keyword": "contentEncoding"},
            )
            return ([violation("response", problem)] if op is not None else []), None
        body: Any = None
        problems: list[Problem] = []
        if data:
            if is_json(media_type):
                try:
                    body = orjson.loads(data)
                except orjson.JSONDecodeError as exc:
                    problems.append(
                        Problem(
                            f"the upstream's {status} body is not valid JSON ({exc}).",
                            {"location": "body", "pointer": "", "keyword": "json"},
                        )
                    )
                    body = _text(data)
            else:
                body = data.decode("utf-8", "replace")
        if op is None or problems:
            return [violation("response", p) for p in problems], body
        try:
            check_response(op, status, body, media_type)
        except ContractViolation as exc:
            declared = op.response_for(status)
            for p in exc.problems:
                if "pointer" in p.meta:
                    where, keyword = "body", p.meta.get("keyword")
                elif declared is None:
                    where, keyword = "status", "documented"
                else:
                    where, keyword = "content-type", "mediaType"
                described = p.description.replace("The sandbox answered", "The upstream answered")
                described = described.replace("The sandbox's", "The upstream's")
                problems.append(
                    Problem(
                        described,
                        {
                            "location": where,
                            "pointer": p.meta.get("pointer", ""),
                            "keyword": keyword,
                        },
                    )
                )
        return [violation("response", p) for p in problems], body

    def _error(self, op: Operation | None, exc: SandboxError, accept: str | None) -> Reply:
        """``exc`` in the document's error shape, as ``serve`` answers it."""
        if self.sandbox.layer_errors:
            return Reply(exc.status, error_body(exc), exc.headers)
        return error_reply(op, exc, accept)

    def _record(
        self,
        scope: Scope,
        raw_path: str,
        op: Operation | None,
        path_params: Mapping[str, str],
        status: int,
        request_body: Any,
        response_body: Any,
        violations: list[dict[str, Any]],
        *,
        proxy: dict[str, Any],
    ) -> int:
        entry = self.sandbox.journal.record(
            method=scope["method"],
            path=unquote(raw_path),
            query=scope["query_string"].decode("utf-8", "replace"),
            operation_id=op.operation_id if op else None,
            business_id=path_params.get("businessId"),
            status=status,
            request_body=request_body,
            response_body=response_body,
            off_contract=any(v["in"] == "request" for v in violations),
            contract_violation=any(v["in"] == "response" for v in violations),
            violations=tuple(violations),
            proxy=proxy,
        )
        return entry.seq


def _api_key(headers: Headers, query: list[tuple[str, str]], location: str, name: str) -> Any:
    if location == "header":
        return headers.get(name.lower())
    if location == "query":
        return next((v for k, v in query if k == name), None)
    cookie = headers.get("cookie") or ""
    for part in cookie.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _outgoing_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The client's headers for the upstream: hop-by-hop dropped, Host and length left to
    httpx (the upstream's host, the body's length), a Via added; Authorization untouched."""
    dropped = hop_by_hop(raw) | {"host", "content-length"}
    out = [(n, v) for n, v in raw if n.lower().decode("latin-1") not in dropped]
    out.append((b"via", _VIA))
    return out


def _decoded(raw: bytes, encoding: str | None) -> bytes:
    """The body with its Content-Encoding undone (gzip, deflate); others are refused."""
    codings = [c.strip().lower() for c in (encoding or "").split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            raw = zlib.decompress(raw, 16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            try:
                raw = zlib.decompress(raw)
            except zlib.error:
                raw = zlib.decompress(raw, -zlib.MAX_WBITS)
        elif coding != "identity":
            raise ValueError(f"Content-Encoding {coding!r} is not one the proxy can undo")
    return raw


def _text(raw: bytes, limit: int = 4096) -> str | None:
    return raw[:limit].decode("utf-8", "replace") if raw else None


def _has_body(status: int, method: str) -> bool:
    return not (status < 200 or status in (204, 304) or method == "HEAD")


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        Problem(
            f"The request body is larger than {limit} bytes (--max-body-bytes); the proxy did "
            "not forward it. Send a smaller body or raise the limit.",
            {"location": "body", "pointer": "", "keyword": "maxBytes", "limit": limit},
        )
    )


async def _close(response: httpx.Response | None) -> None:
    if response is not None:
        with contextlib.suppress(Exception):
            await response.aclose()


async def _send_reply(send: Send, reply: Reply, header: bytes) -> None:
    body = reply.body
    content = (
        b""
        if body is None
        else body
        if isinstance(body, bytes)
        else body.encode()
        if isinstance(body, str) and not is_json(reply.media_type)
        else orjson.dumps(body)
    )
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
    headers += [
        (b"content-type", reply.media_type.encode("latin-1")),
        (b"content-length", str(len(content)).encode()),
        (VIOLATIONS_HEADER, header),
    ]
    start: Message = {"type": "http.response.start", "status": reply.status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": content})


def create_proxy_app(
    config: Config,
    upstream: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    reject_invalid_requests: bool = False,
    record: str | None = None,
) -> Starlette:
    """The proxy as an ASGI app: ``/_sandbox`` and the inspector local, the rest forwarded."""
    sandbox = Sandbox(config)
    recorder = Recorder(sandbox, record) if record is not None else None
    proxy = Proxy(
        sandbox,
        upstream,
        timeout=timeout,
        reject_invalid_requests=reject_invalid_requests,
        recorder=recorder,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with sandbox.lifespan(app):
            yield
        await proxy.aclose()

    app = _SandboxApp(lifespan=lifespan)
    app.router.default = browser.entry(sandbox, proxy.asgi)
    app.state.sandbox = sandbox
    app.state.proxy = proxy
    return app
