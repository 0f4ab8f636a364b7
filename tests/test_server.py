"""``BackgroundServer`` serves an app on a free loopback port and stops cleanly."""

import socket

import httpx
import pytest

from mockserver import Config, create_app
from mockserver.serving.server import BackgroundServer


def test_serves_on_a_free_port_until_stopped() -> None:
    with BackgroundServer(create_app(Config())) as server:
        assert server.port != 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        response = httpx.get(
            f"{server.url}/whoami", headers={"Authorization": "Bearer t"}, timeout=30
        )
        assert response.status_code == 200
        assert response.json()["data"]["type"] == "whoami"
    assert not server.running
    with pytest.raises(httpx.TransportError):  # nothing listens there any more
        httpx.get(f"{server.url}/whoami", timeout=30)


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=rf"cannot listen on 127.0.0.1:{port} .*use 0"):
            BackgroundServer(create_app(Config()), port=port).start()
