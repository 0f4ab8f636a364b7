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
from typing import Any, cast

import orjson

from ..config import Config
from ..errors import BadRequest, Problem, error_body

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
            return _httptools_protocol(limit, body)
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
        self._transport = transport
        self.lingering = False
        self._head: bytes | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif data[:9] == b"HTTP/1.1 " and data[-4:] == b"\r\n\r\n":
            self._head = data
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._transport.write(data)

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


def _httptools_protocol(limit: int, body: bytes) -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class EnvelopeHttpToolsProtocol(_LingeringClose, HttpToolsProtocol):
        # httptools buffers a head of any size; count the bytes that arrive before the head ends.
        _in_head = False
        _head_bytes = 0

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head = True
            self._head_bytes = 0

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            if self.transport.is_closing():
                return
            super().data_received(data)
            # Still in the head after this chunk: all of it was head (buffered by the parser).
            if self._in_head and not self.transport.is_closing():
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
