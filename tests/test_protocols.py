"""Over a real socket, an answer's head and body leave together, and nothing waits for a body.

The sandbox's transport holds a response head back until the body is written (one packet
instead of two); these check that every answer still arrives whole and at once.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from conftest import CUSTOMER_CREDITS

from mockserver import Config, create_app
from mockserver.serving.server import BackgroundServer

FETCH = f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with BackgroundServer(create_app(Config())) as server:
        yield server.port


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_answers_on_one_connection_arrive_whole_and_in_order(port: int) -> None:
    with connect(port) as sock:
        for path in (FETCH, "/openapi.json", "/no/such/path", FETCH):
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n".encode()
            )
            answer = read_answer(sock)
            status = 404 if path == "/no/such/path" else 200
            assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:80]


def test_a_client_waiting_for_100_continue_gets_it_at_once(port: int) -> None:
    body = b'{"memo": "after 100-continue"}'
    with connect(port) as sock:
        sock.sendall(
            (
                f"PATCH {CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000002 HTTP/1.1\r\n"
                "Host: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
            ).encode()
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        assert read_answer(sock).startswith(b"HTTP/1.1 200 ")
