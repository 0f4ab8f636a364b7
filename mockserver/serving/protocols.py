"""uvicorn's HTTP/1.1 protocols, answering unreadable requests in Layer's error envelope.

uvicorn answers a request it cannot parse (bad request line, bad header, a head over its
limits) itself, in plain text, before the app sees it. These subclasses send the same 400 as a
``SpecifiedBadRequest`` envelope instead, and cap the bytes of a request head both parsers
buffer. Requests whose head fits under the cap reach the app, which applies the precise
``max_url_bytes`` and ``max_header_bytes`` limits (``limits.py``).

They also close connections gracefully ("lingering close"): an answer sent before the whole
request was read (a 413, a 400 for a huge head) is followed by closing only the sending side
while what the client still sends is read and dropped. Closing outright with unread bytes
makes the kernel reset the connection, and the client would lose the answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.parse
from collections.abc import Iterable
from typing import Any, cast

import orjson

from ..config import Config
from ..errors import BadRequest, Problem, error_body

log = logging.getLogger("mockserver")

#: Head bytes allowed beyond the app's URL and header limits before the parser stops reading.
_HEAD_SLACK = 8 * 1024
#: Seconds a closing connection keeps draining what the client still sends.
LINGER_SECONDS = 2.0


def head_limit(config: Config) -> int:
    """Bytes of request line and headers the HTTP parser buffers before answering 400 itself."""
    return config.max_url_bytes + config.max_header_bytes + _HEAD_SLACK


def unreadable_body(limit: int) -> bytes:
    """The 400 envelope for a request the HTTP parser refused."""
    problem = Problem(
        "the request is not valid HTTP/1.1, or its request line and headers exceed "
        f"{limit} bytes, so the sandbox could not read it; check the request line, header "
        "syntax and sizes.",
        {"location": "header", "pointer": "", "keyword": "http", "limit": limit},
    )
    return orjson.dumps(error_body(BadRequest(problem)))


def uvicorn_options(config: Config, http: str = "auto") -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config`` that install these protocols.

    ``http`` picks the implementation as uvicorn's option of that name does: ``"auto"``
    (httptools if installed, else h11), ``"h11"`` or ``"httptools"``.
    """
    return {
        "http": protocol_class(config, http),
        "h11_max_incomplete_event_size": head_limit(config),
    }


def protocol_class(config: Config, implementation: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol if installed (as uvicorn picks), else h11, with the envelope."""
    limit = head_limit(config)
    body = unreadable_body(limit)
    if implementation in ("auto", "httptools"):
        try:
            return _httptools_protocol(limit, body, config.max_body_bytes)
        except ImportError:
            if implementation == "httptools":
                raise
    return _h11_protocol(body)


class _LingeringTransport:
    """A transport whose ``close`` sends FIN, drains for a while, then closes for real.

    It also sends a response head together with the body written right after it: uvicorn
    writes them apart, two system calls and two packets per answer, and one instead makes the
    sandbox 8-10% faster (bench/README.md). A head waits at most until the loop's next turn.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = self.raw = transport
        self.lingering = False
        self._head: bytes | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        if self.lingering:  # closing: what a pipelined request still answers is dropped
            return
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif data.endswith(b"\r\n\r\n") and data.startswith(b"HTTP/1.1 "):
            self._head = data
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._transport.write(data)

    def write_answer(self, data: bytes) -> None:
        """``write`` for a whole answer (head and body) while the connection is open."""
        if self._head is None and not self.lingering:
            self.raw.write(data)
        else:
            self.write(data)

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def _flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        self._flush()
        if self.is_closing():
            return
        self.lingering = True
        try:
            if not self._transport.can_write_eof():
                raise RuntimeError("no half-close on this transport")
            self._transport.write_eof()  # after the buffered answer: the client sees its end
            self._transport.resume_reading()
            asyncio.get_running_loop().call_later(LINGER_SECONDS, self._transport.close)
        except (OSError, RuntimeError):
            self._transport.close()


class _LingeringClose(asyncio.Protocol):
    transport: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        lingering = _LingeringTransport(cast(asyncio.Transport, transport))
        super().connection_made(cast(asyncio.Transport, lingering))

    def data_received(self, data: bytes) -> None:
        if self.transport.lingering:
            return  # drained and dropped; the end of the client's data closes the connection
        super().data_received(data)


def _h11_protocol(body: bytes) -> type[asyncio.Protocol]:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class EnvelopeH11Protocol(_LingeringClose, H11Protocol):
        # h11 itself caps the buffered head (h11_max_incomplete_event_size).
        def send_400_response(self, msg: str) -> None:
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            for event in (
                h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event))
            self.transport.close()

    return EnvelopeH11Protocol


#: Request headers that send a request the ASGI way: what may make the answer wait or change
#: on the way out (``Prefer``, CORS), or the body arrive in its own time (``Expect``).
_NOT_DIRECT = frozenset({b"prefer", b"origin", b"expect", b"upgrade"})


#: What the direct path reads of uvicorn's httptools protocol beyond the protocol interface:
#: attributes of a connection (once ``connection_made`` ran) and of its flow control. Written
#: against uvicorn 0.54, and tests/test_direct_path.py compares its answers byte for byte with
#: uvicorn's own; a uvicorn without any of these serves every request its own way.
_UVICORN_INTERNALS = (
    "app",
    "config",
    "cycle",
    "flow",
    "parser",
    "pipeline",
    "scope",
    "server_state",
    "limit_concurrency",
    "loop",
    "on_response_complete",
    "root_path",
    "scheme",
    "server",
    "client",
    "timeout_keep_alive",
    "timeout_keep_alive_handler",
    "_start_asgi_task",
    "_unset_keepalive_if_required",
    "logger",
    "_should_upgrade",
    "handle_websocket_upgrade",
    "_unsupported_upgrade_warning",
)


def _uvicorn_fits(protocol: Any, module: Any) -> bool:
    """Whether ``protocol`` (a connection of uvicorn's httptools protocol, in ``module``) has
    every internal the direct path uses."""
    return (
        all(hasattr(protocol, name) for name in _UVICORN_INTERNALS)
        and hasattr(protocol.flow, "write_paused")
        and hasattr(protocol.server_state, "default_headers")
        and isinstance(getattr(module, "STATUS_LINE", None), dict)
    )


#: A byte uvicorn refuses in a response header value (its ``HEADER_VALUE_RE``): it could split
#: the response.
_SPLITS_RESPONSE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")


def header_lines(pairs: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """``pairs`` as the header lines of an HTTP/1.1 head, to be written as they are; None
    where they need uvicorn's checks on the way out: a value that could split the response,
    a connection header."""
    pairs = tuple(pairs)
    if any(name == b"connection" or _SPLITS_RESPONSE.search(value) for name, value in pairs):
        return None
    return b"".join(name + b": " + value + b"\r\n" for name, value in pairs)


def _httptools_protocol(limit: int, body: bytes, max_body: int) -> type[asyncio.Protocol]:
    import httptools
    from uvicorn.protocols.http import httptools_impl
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    status_line: Any = getattr(httptools_impl, "STATUS_LINE", None)

    class EnvelopeHttpToolsProtocol(_LingeringClose, HttpToolsProtocol):
        """uvicorn's protocol, plus a direct path for the sandbox's own requests.

        uvicorn starts an ASGI task for every request, with its messages, a Starlette request
        and response, and the CORS and inspector layers around the sandbox: half of what a
        served fetch costs (bench/README.md). A public request to the sandbox that needs none
        of that (no ``Prefer``, ``Origin`` or ``Expect`` header, no fault scenario, not the
        control API, not HEAD, its body under the size limit, nothing else in flight on the
        connection, the client reading its answers) is held until its body is in, then
        answered by ``Sandbox.answer_now`` and written at once. Any other request, or one the
        sandbox turns down, goes uvicorn's way unchanged, replayed from the parser's callbacks.
        """

        # httptools buffers a head of any size; count the bytes that arrive before the head ends.
        _in_head = False
        _head_bytes = 0
        _ended_in_chunk = False  # a request ended in the chunk being parsed
        _held: list[bytes] | None = None  # the body of a request held for the direct path
        _held_bytes = 0
        #: Whether this uvicorn has what the direct path reads (asked of the first connection).
        _fits: bool | None = None
        _direct: Any = None  # the sandbox answering directly (``Sandbox``), or None
        _not_direct = False  # a header of the request being read rules the direct path out
        _messages = 0  # requests begun on this connection
        _idle_mark = 0  # ``_messages`` when the last answer went out
        _idle_since = 0.0  # and the loop's time then
        _idle_timer: asyncio.TimerHandle | None = None
        #: uvicorn's default headers (date, server) last seen, and their lines (``header_lines``).
        _default_lines: tuple[Any, bytes | None] = (None, None)

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            cls = type(self)
            if cls._fits is None:
                cls._fits = _uvicorn_fits(self, httptools_impl)
                if not cls._fits:
                    log.warning(
                        "this uvicorn's HTTP protocol is not the one the direct path was "
                        "written for: every request takes uvicorn's way (slower, same answers)"
                    )
            # Not with an access log asked for: its lines are written by uvicorn's cycle.
            direct = getattr(self.app, "direct_sandbox", None) if cls._fits else None
            self._direct = direct() if direct is not None and not self.config.access_log else None

        def on_message_begin(self) -> None:
            self._messages += 1
            self._in_head = True
            self._head_bytes = 0
            if self._direct is None:
                super().on_message_begin()
                return
            # uvicorn's per-request state but its scope, which is built only for a request
            # that goes uvicorn's way (``_uvicorn_begin``): a direct answer needs less.
            self.url = b""
            self.expect_100_continue = False
            self.headers = []
            self._not_direct = False

        def on_header(self, name: bytes, value: bytes) -> None:
            if self._direct is None:
                super().on_header(name, value)
                return
            name = name.lower()  # as uvicorn's, noting a header that rules the direct path out
            if name in _NOT_DIRECT:
                self._not_direct = True
                if name == b"expect" and value.lower() == b"100-continue":
                    self.expect_100_continue = True
            self.headers.append((name, value))

        def _uvicorn_begin(self) -> None:
            """uvicorn's ``on_message_begin`` for the request being read, as if it had run
            when the request began: its scope, over the URL and headers read since."""
            url, headers, expect = self.url, self.headers, self.expect_100_continue
            super().on_message_begin()
            self.url, self.headers, self.expect_100_continue = url, headers, expect
            self.scope["headers"] = headers

        def on_headers_complete(self) -> None:
            self._in_head = False
            direct = self._direct
            if direct is not None:
                # Whether this request may take the direct path (see the class docstring);
                # flow.write_paused: a client not reading its answers, for whom uvicorn's
                # way waits.
                cycle = self.cycle
                parser = self.parser
                if (
                    not self._not_direct
                    and not self.pipeline
                    and self.limit_concurrency is None
                    and not self.flow.write_paused
                    and (cycle is None or cycle.response_complete)
                    and parser.get_method() != b"HEAD"
                    and not parser.should_upgrade()
                    and direct.answers_directly(self.url)
                ):
                    self._held, self._held_bytes = [], 0
                    return
                self._uvicorn_begin()
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            held = self._held
            if held is None:
                super().on_body(body)
                return
            held.append(body)
            self._held_bytes += len(body)
            if self._held_bytes > max_body:  # the sandbox's 413 is the ASGI way's
                self._release()

        def on_message_complete(self) -> None:
            self._ended_in_chunk = True
            held = self._held
            if held is None:
                super().on_message_complete()
                return
            self._held = None
            if not self._answer_directly(b"".join(held)):
                self._release(held, complete=True)

        def shutdown(self) -> None:
            # A held request is a request in flight: uvicorn lets it finish only once it has
            # its task, so it goes uvicorn's way now (and its connection closes after it).
            if self._held is not None:
                self._release()
            super().shutdown()

        def _release(self, held: list[bytes] | None = None, *, complete: bool = False) -> None:
            """Hand a held request to uvicorn as if it had never been held."""
            if held is None:
                held, self._held = self._held or [], None
            self._uvicorn_begin()
            super().on_headers_complete()
            for chunk in held:
                super().on_body(chunk)
            if complete:
                super().on_message_complete()

        def _answer_directly(self, body: bytes) -> bool:
            sandbox = self._direct
            assert sandbox is not None
            parser = self.parser
            version = parser.get_http_version()
            url = httptools.parse_url(self.url)
            raw_path = url.path
            path = raw_path.decode("ascii")
            scope = {  # what uvicorn's scope would hold, but its per-connection "state"
                "type": "http",
                "http_version": version,
                "server": self.server,
                "client": self.client,
                "scheme": self.scheme,
                "root_path": self.root_path,
                "headers": self.headers,
                "method": parser.get_method().decode("ascii"),
                "path": urllib.parse.unquote(path) if "%" in path else path,
                "raw_path": raw_path,
                "query_string": url.query or b"",
            }
            answer = sandbox.answer_now(scope, body)
            if answer is None:
                return False
            status, content = answer.status_code, answer.body
            lines: bytes | None = getattr(answer, "lines", None)
            keep_alive = version != "1.0" and parser.should_keep_alive()
            default_lines = None
            if lines is not None:
                defaults = self.server_state.default_headers  # a new list when they change
                cached = self._default_lines
                if cached[0] is not defaults:
                    cached = (defaults, header_lines(defaults))
                    type(self)._default_lines = cached
                default_lines = cached[1]
            if lines is not None and default_lines is not None:
                # The usual answer: header lines known to be safe, and no connection header.
                end = b"\r\n" if keep_alive else b"connection: close\r\n\r\n"
                self.transport.write_answer(
                    status_line[status] + default_lines + lines + end + content
                )
            else:
                keep_alive = self._write_answer(status, answer.raw_headers, content, keep_alive)
            self.server_state.total_requests += 1  # then as uvicorn's on_response_complete
            if keep_alive:
                self._idle()
            else:
                self.transport.close()
            sandbox.answered()
            return True

        def _write_answer(
            self, status: int, headers: list[tuple[bytes, bytes]], content: bytes, keep_alive: bool
        ) -> bool:
            """Write an answer as uvicorn's cycle would; whether the connection stays open."""
            head = [status_line[status]]
            pairs = (*self.server_state.default_headers, *headers)
            # As uvicorn: never a split response (one search over all values finds the same).
            if _SPLITS_RESPONSE.search(b"".join(value for _, value in pairs)):
                name = next(name for name, value in pairs if _SPLITS_RESPONSE.search(value))
                log.error("invalid response header %r: answered 500", name)
                head = [status_line[500], b"content-length: 0\r\n"]
                keep_alive, content, pairs = False, b"", ()
            for name, value in pairs:
                if name == b"connection" and b"close" in value.lower():
                    keep_alive = False
                head += (name, b": ", value, b"\r\n")
            if not keep_alive:
                head.append(b"connection: close\r\n")
            head.append(b"\r\n")
            if status not in (204, 304):
                head.append(content)
            self.transport.write(b"".join(head))
            return keep_alive

        # Keep-alive: uvicorn arms a timer after every answer and cancels it when the next
        # request's first bytes arrive (3% of a direct answer). Here one timer per idle spell
        # checks, when it fires, whether a request began since the last answer.

        def on_response_complete(self) -> None:
            if self._direct is None:
                super().on_response_complete()
                return
            self.server_state.total_requests += 1  # as uvicorn's, but for the timer
            if self.transport.is_closing():
                return
            self.flow.resume_reading()
            if self.pipeline:
                cycle, app = self.pipeline.pop()
                self._start_asgi_task(cycle, app)
            else:
                self._idle()

        def _unset_keepalive_if_required(self) -> None:
            if self._direct is None:
                super()._unset_keepalive_if_required()

        def _idle(self) -> None:
            """An answer went out and nothing else is in flight: the keep-alive countdown."""
            self._idle_mark = self._messages
            self._idle_since = self.loop.time()
            if self._idle_timer is None:
                self._idle_timer = self.loop.call_later(self.timeout_keep_alive, self._idle_check)

        def _idle_check(self) -> None:
            self._idle_timer = None
            if self.transport.is_closing() or self._messages != self._idle_mark:
                return  # closed, or a request began since: its answer starts a new countdown
            left = self._idle_since + self.timeout_keep_alive - self.loop.time()
            if left > 0:
                self._idle_timer = self.loop.call_later(left, self._idle_check)
            else:
                self.timeout_keep_alive_handler()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            transport = self.transport  # closed, or closing gracefully (lingering): dropped
            if transport.lingering or transport.raw.is_closing():
                return
            self._ended_in_chunk = False
            if self._direct is None:
                super().data_received(data)
            else:  # uvicorn's, without its keep-alive timer (``_idle`` counts instead)
                try:
                    self.parser.feed_data(data)
                except httptools.HttpParserError:
                    self.logger.warning("Invalid HTTP request received.")
                    self.send_400_response("Invalid HTTP request received.")
                    return
                except httptools.HttpParserUpgrade:
                    if self._should_upgrade():
                        self.handle_websocket_upgrade()
                    else:
                        self._unsupported_upgrade_warning()
            # Still in the head after this chunk, and no request ended in it: all of it was
            # head (buffered by the parser). A chunk that also held the end of an earlier
            # (pipelined) request is not counted: how much of it is the new head is unknown,
            # and the next chunk is counted in full, so the parser still holds at most one
            # chunk past the limit.
            if self._in_head and not self._ended_in_chunk and not self.transport.is_closing():
                self._head_bytes += len(data)
                if self._head_bytes > limit:
                    self.send_400_response("request head too large")

        def send_400_response(self, msg: str) -> None:
            content = [b"HTTP/1.1 400 Bad Request\r\n"]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend(
                [
                    b"content-type: application/json\r\n",
                    b"content-length: " + str(len(body)).encode() + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
            self.transport.write(b"".join(content))
            self.transport.close()

    return EnvelopeHttpToolsProtocol
