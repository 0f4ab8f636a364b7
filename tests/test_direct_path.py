"""The served fast path: public requests answered without the ASGI stack, byte for byte as the
ASGI way answers them.

Two servers of the same sandbox configuration take the same raw HTTP exchanges: one as
``create_app`` makes it (its HTTP protocol answers plain public requests directly), the other
with a middleware added (every request then goes through uvicorn's ASGI cycle). Apart from the
``date`` header, what comes back must be identical, and so must the journals.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator

import orjson
import pytest
from conftest import CUSTOMER_CREDITS
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver import Config, create_app
from mockserver.serving import protocols
from mockserver.serving.server import BackgroundServer

CREDIT = f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000001"
NEW = orjson.dumps(
    {
        "customer_external_id": "cust-001",
        "memo": "direct",
        "line_items": [
            {
                "amount": 700,
                "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
            }
        ],
    }
)


class _PassThrough:
    """A middleware that changes nothing: its presence alone turns the direct path off."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _serve(*, direct: bool) -> BackgroundServer:
    app = create_app(Config(max_body_bytes=4096))
    if not direct:
        app.user_middleware.append(Middleware(_PassThrough))
    assert (app.direct_sandbox() is not None) is direct  # type: ignore[attr-defined]
    return BackgroundServer(app).start()


@pytest.fixture
def servers() -> Iterator[tuple[BackgroundServer, BackgroundServer]]:
    direct, asgi = _serve(direct=True), _serve(direct=False)
    try:
        yield direct, asgi
    finally:
        direct.stop()
        asgi.stop()


def _exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return re.sub(rb"date: [^\r]*\r\n", b"", answer)


def _request(
    method: str, path: str, body: bytes = b"", *, last: bool = False, **extra: str
) -> bytes:
    headers = {"Host": "x", "Authorization": "Bearer t", **extra}
    if body:
        headers |= {"Content-Type": "application/json", "Content-Length": str(len(body))}
    if last:
        headers["Connection"] = "close"
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body


EXCHANGES = {
    "fetch": _request("GET", CREDIT, last=True),
    "create": _request("POST", CUSTOMER_CREDITS, NEW, last=True),
    "invalid body": _request("POST", CUSTOMER_CREDITS, b'{"memo": 5}', last=True),
    "not json": _request("POST", CUSTOMER_CREDITS, b"{oops", last=True),
    "unknown id": _request("GET", f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-00000000ffff", last=True),
    "unknown path": _request("GET", "/v1/nothing/here", last=True),
    "wrong method": _request("PUT", CREDIT, NEW, last=True),
    "no credentials": _request("GET", CREDIT, last=True, Authorization=""),
    "encoded path": _request("GET", CREDIT.replace("-", "%2D"), last=True),
    "body over the limit": _request("POST", CUSTOMER_CREDITS, b'{"memo": "' + b"x" * 5000 + b'"}', last=True),
    "pipelined": _request("GET", CREDIT) + _request("POST", CUSTOMER_CREDITS, NEW)
    + _request("GET", f"{CUSTOMER_CREDITS}?limit=2", last=True),
    "HTTP/1.0": b"GET " + CREDIT.encode() + b" HTTP/1.0\r\nAuthorization: Bearer t\r\n\r\n",
    "chunked body": (
        f"POST {CUSTOMER_CREDITS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    + f"{len(NEW[:30]):x}\r\n".encode() + NEW[:30] + b"\r\n"
    + f"{len(NEW[30:]):x}\r\n".encode() + NEW[30:] + b"\r\n0\r\n\r\n",
}  # fmt: skip


@pytest.mark.parametrize("name", list(EXCHANGES))
def test_the_direct_path_answers_as_the_asgi_way_does(
    servers: tuple[BackgroundServer, BackgroundServer], name: str
) -> None:
    direct, asgi = servers
    raw = EXCHANGES[name]
    # Ids and times differ between two sandboxes only where a record is created: compare
    # after putting the created ids and times in place.
    ours, theirs = _exchange(direct.port, raw), _exchange(asgi.port, raw)
    assert ours.startswith(b"HTTP/1.")
    assert _normalised(ours) == _normalised(theirs)
    journal_ours = direct.app.state.sandbox.journal.entries()  # type: ignore[attr-defined]
    journal_theirs = asgi.app.state.sandbox.journal.entries()  # type: ignore[attr-defined]
    assert [(e.method, e.path, e.status) for e in journal_ours] == [
        (e.method, e.path, e.status) for e in journal_theirs
    ]


def _normalised(answer: bytes) -> bytes:
    answer = re.sub(rb"x-ratelimit-(remaining|reset): [^\r]*\r\n", b"", answer)
    answer = re.sub(rb'"(id|[a-z_]*_id)":"[^"]*"', rb'"\1":"-"', answer)
    answer = re.sub(rb'"\d{4}-\d\d-\d\dT[^"]*"', b'"-"', answer)  # times of new records
    return re.sub(rb'"cursor":"[^"]*"', b'"cursor":"-"', answer)


def test_a_fault_scenario_and_prefer_take_the_asgi_way(
    servers: tuple[BackgroundServer, BackgroundServer],
) -> None:
    direct, _ = servers
    sandbox = direct.app.state.sandbox  # type: ignore[attr-defined]
    sandbox.add_fault({"operation_id": "*", "fail_next": 1, "status": 503})
    assert b" 503 " in _exchange(direct.port, _request("GET", CREDIT, last=True)).split(b"\r\n")[0]
    assert b" 200 " in _exchange(direct.port, _request("GET", CREDIT, last=True)).split(b"\r\n")[0]
    forced = _exchange(direct.port, _request("GET", CREDIT, last=True, Prefer="code=404"))
    assert forced.startswith(b"HTTP/1.1 404 ")
    # CORS headers come from the layer the direct path skips: a browser's request is not taken.
    cors = _exchange(direct.port, _request("GET", CREDIT, last=True, Origin="http://app.test"))
    assert b"access-control-allow-origin: *" in cors.lower()


def test_the_direct_path_is_taken(servers: tuple[BackgroundServer, BackgroundServer]) -> None:
    direct, _ = servers
    sandbox = direct.app.state.sandbox  # type: ignore[attr-defined]
    taken = []
    answer_now = sandbox.answer_now
    sandbox.answer_now = lambda scope, body: taken.append(scope["path"]) or answer_now(scope, body)
    _exchange(direct.port, _request("GET", CREDIT) + _request("GET", CREDIT, last=True))
    assert taken == [CREDIT, CREDIT]
    _exchange(direct.port, _request("GET", "/_sandbox/health", last=True))
    assert taken == [CREDIT, CREDIT]  # the control API goes the ASGI way


@pytest.mark.parametrize("way", ["direct", "asgi"])
def test_a_client_that_does_not_read_its_answers_gets_them_all_in_order(
    servers: tuple[BackgroundServer, BackgroundServer], way: str
) -> None:
    # Each chunk the server reads then holds the ends of many requests and the start of the
    # next head: only heads, never those chunks, count towards the head limit (it used to
    # answer 400 "request head too large" after two answers).
    server = servers[0] if way == "direct" else servers[1]
    count = 3000  # about 5 MB of answers: more than the socket buffers hold
    request = _request("GET", f"{CUSTOMER_CREDITS}?limit=2")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sender = threading.Thread(target=sock.sendall, args=(request * count,))
        sender.start()  # blocks once the server stops reading: it waits for its answers
        time.sleep(0.5)
        answer = b""
        while answer.count(b"HTTP/1.1 200 OK\r\n") < count:
            chunk = sock.recv(1 << 20)
            assert chunk, "the server closed the connection"
            answer += chunk
        sender.join(10)
    assert answer.count(b"HTTP/1.1 ") == count


def test_a_uvicorn_without_the_internals_it_reads_serves_every_request_its_own_way(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As if uvicorn had renamed an attribute the direct path reads: it warns once and stays
    # off; the answers are uvicorn's own, and still right.
    monkeypatch.setattr(protocols, "_UVICORN_INTERNALS", (*protocols._UVICORN_INTERNALS, "gone"))
    server = _serve(direct=True)
    try:
        sandbox = server.app.state.sandbox  # type: ignore[attr-defined]
        taken = []
        answer_now = sandbox.answer_now
        sandbox.answer_now = lambda scope, body: taken.append(scope) or answer_now(scope, body)
        with caplog.at_level("WARNING", logger="mockserver"):
            fetched = _exchange(server.port, _request("GET", CREDIT, last=True))
            created = _exchange(server.port, _request("POST", CUSTOMER_CREDITS, NEW, last=True))
    finally:
        server.stop()
    assert fetched.startswith(b"HTTP/1.1 200 OK\r\n")
    assert created.startswith(b"HTTP/1.1 201 Created\r\n")
    assert taken == []
    warnings = [r.message for r in caplog.records if "direct path" in r.message]
    assert len(warnings) == 1, warnings


def _answer(sock: socket.socket) -> bytes:
    """One answer read from a keep-alive connection (its head, then content-length bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    return head


@pytest.mark.parametrize("way", ["direct", "asgi"])
def test_an_idle_connection_closes_after_the_keep_alive_timeout_counted_from_the_last_answer(
    servers: tuple[BackgroundServer, BackgroundServer], way: str
) -> None:
    server = servers[0] if way == "direct" else servers[1]
    server._server.config.timeout_keep_alive = 0.4  # type: ignore[union-attr]  # new connections
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_request("GET", CREDIT))
        for _ in range(3):  # 0.75 s in all: each answer starts the countdown again
            assert _answer(sock).startswith(b"HTTP/1.1 200 ")
            time.sleep(0.25)
            sock.sendall(_request("GET", CREDIT))
        assert _answer(sock).startswith(b"HTTP/1.1 200 ")
        # A request begun is never cut, however long its head takes to arrive.
        request = _request("GET", CREDIT)
        sock.sendall(request[:10])
        time.sleep(0.6)
        sock.sendall(request[10:])
        assert _answer(sock).startswith(b"HTTP/1.1 200 ")
        idle = time.monotonic()
        assert sock.recv(1) == b""  # then, idle, the server closes it
        assert 0.3 < time.monotonic() - idle < 3
