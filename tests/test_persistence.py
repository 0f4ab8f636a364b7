"""Nothing lost: the state file (load, atomic save, shutdown save) and graceful SIGTERM.

The process tests start ``python -m mockserver serve`` as a user would: SIGTERM lets a request
in flight finish and writes the state file; SIGKILL in the middle of a stream of saves leaves
a state file that is the old state or the new one, never a torn one.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from conftest import CUSTOMER_CREDITS, free_port, serve_process
from starlette.testclient import TestClient

from mockserver import Config, create_app
from mockserver.controls.persistence import write_atomically
from mockserver.errors import StateFileError

AUTH = {"Authorization": "Bearer t"}
_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # built once: httpx builds a costly one per client


def credit(memo: str = "kept") -> dict[str, Any]:
    return {
        "customer_id": "c0000000-0000-4000-8000-000000000001",
        "memo": memo,
        "line_items": [
            {
                "amount": 1234,
                "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
            }
        ],
    }


def credit_ids(client: TestClient | httpx.Client) -> set[str]:
    state = client.get("/_sandbox/state").json()["data"]
    return {c["id"] for c in state["customer_credits"]}


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "state" / "sandbox.json"


@pytest.fixture
def config(state_file: Path) -> Config:
    state_file.parent.mkdir()
    return Config(state_file=state_file)


# --------------------------------------------------------------------------- in process


def test_save_writes_the_state_and_a_restart_loads_it(config: Config, state_file: Path) -> None:
    app = create_app(config)
    assert "from " + str(config.fixtures) in app.state.sandbox.describe()  # no file yet
    client = TestClient(app, headers=AUTH)
    created = client.post(CUSTOMER_CREDITS, json=credit()).json()["data"]["id"]

    response = client.post("/_sandbox/save")

    assert response.status_code == 200, response.text
    saved = response.json()["data"]
    assert saved == {"saved": True, "path": str(state_file), "bytes": state_file.stat().st_size}
    assert orjson.loads(state_file.read_bytes())["format"] == "layer-sandbox-snapshot/1"
    restarted = create_app(config)
    assert f"from the state file {state_file}" in restarted.state.sandbox.describe()
    again = TestClient(restarted, headers=AUTH)
    assert again.get(f"{CUSTOMER_CREDITS}/{created}").json()["data"]["memo"] == "kept"
    assert credit_ids(again) == credit_ids(client)
    # Reset still means the fixtures, not the loaded file.
    again.post("/_sandbox/reset")
    assert created not in credit_ids(again)


def test_shutdown_writes_the_state_file(config: Config, state_file: Path) -> None:
    with TestClient(create_app(config), headers=AUTH) as client:
        created = client.post(CUSTOMER_CREDITS, json=credit()).json()["data"]["id"]
        assert not state_file.exists()

    assert created in state_file.read_text()


def test_the_state_file_is_the_snapshot_document(config: Config, state_file: Path) -> None:
    client = TestClient(create_app(config), headers=AUTH)
    client.post(CUSTOMER_CREDITS, json=credit())
    client.post("/_sandbox/save")

    snapshot = client.get("/_sandbox/snapshot").json()["data"]

    assert orjson.loads(state_file.read_bytes()) == snapshot


def test_save_without_a_state_file_is_a_400_saying_how(client: TestClient) -> None:
    response = client.post("/_sandbox/save")

    assert response.status_code == 400
    [entry] = response.json()["errors"]
    assert entry["description"] == (
        "this sandbox has no state file; start it with --state-file PATH (or "
        "MOCKSERVER_STATE_FILE) to save its state."
    )


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    config: Config, state_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(create_app(config), headers=AUTH)
    client.post("/_sandbox/save")
    old = state_file.read_bytes()
    client.post(CUSTOMER_CREDITS, json=credit())

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    response = client.post("/_sandbox/save")

    assert response.status_code == 500
    [entry] = response.json()["errors"]
    assert entry["description"] == (
        f"could not write the state file {state_file}: No space left on device; the previous "
        "file is unchanged."
    )
    assert state_file.read_bytes() == old
    assert os.listdir(state_file.parent) == [state_file.name]


def test_write_atomically_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    write_atomically(target, b"old")

    write_atomically(target, b"new")

    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["f.json"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"", "invalid JSON"),
        (
            b'{"format": "something-else", "businesses": {}}',
            "\"format\" is not 'layer-sandbox-snapshot/1'",
        ),
        (
            b'{"format": "layer-sandbox-snapshot/1", "businesses": []}',
            '"businesses" is not an object',
        ),
        (
            b'{"format": "layer-sandbox-snapshot/1", "businesses": {"b1": {"business": {}}}}',
            "business b1 lacks customers, vendors",
        ),
    ],
    ids=["not json", "empty", "other format", "businesses a list", "missing collections"],
)
def test_a_corrupt_state_file_stops_start_up_naming_the_file(
    config: Config, state_file: Path, content: bytes, reason: str
) -> None:
    state_file.write_bytes(content)

    with pytest.raises(StateFileError) as raised:
        create_app(config)

    message = str(raised.value)
    assert message.startswith(f"{state_file}: not a usable sandbox state file (")
    assert reason in message
    assert message.endswith("restore a good copy, or delete it to start from the fixtures.")


def test_a_state_file_in_a_missing_directory_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "state.json"

    with pytest.raises(StateFileError, match=r"the directory .* does not exist; create it"):
        create_app(Config(state_file=path))


def test_the_cli_refuses_to_start_on_a_corrupt_state_file(state_file: Path) -> None:
    state_file.parent.mkdir()
    state_file.write_bytes(b"\x00\x01 torn")

    run = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--state-file", str(state_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 2
    assert run.stderr.startswith(
        f"mockserver: cannot start: {state_file}: not a usable sandbox state file (invalid JSON"
    )


def test_a_seeded_sandbox_does_not_reuse_ids_after_loading_its_state(
    state_file: Path,
) -> None:
    state_file.parent.mkdir()
    config = Config(seed=7, state_file=state_file)
    first = TestClient(create_app(config), headers=AUTH)
    kept = first.post(CUSTOMER_CREDITS, json=credit("first run")).json()["data"]["id"]
    first.post("/_sandbox/save")

    second = TestClient(create_app(config), headers=AUTH)
    new = second.post(CUSTOMER_CREDITS, json=credit("second run")).json()["data"]["id"]

    assert new != kept
    assert second.get(f"{CUSTOMER_CREDITS}/{kept}").json()["data"]["memo"] == "first run"


def test_the_state_file_comes_from_the_environment(tmp_path: Path) -> None:
    from mockserver.config import from_environment

    config = from_environment(env={"MOCKSERVER_STATE_FILE": str(tmp_path / "s.json")})

    assert config.state_file == tmp_path / "s.json"


# --------------------------------------------------------------------------- a real process


class Served:
    """``python -m mockserver serve`` in a subprocess, on a free loopback port."""

    def __init__(self, state_file: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = serve_process(
            self.port, "--state-file", str(state_file), stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/openapi.json", verify=_TLS).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the sandbox did not start: {self.process.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.05)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=AUTH, timeout=30, verify=_TLS)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=30)


@pytest.fixture
def served(config: Config, state_file: Path) -> Iterator[Served]:
    server = Served(state_file)
    yield server
    server.stop()


def test_sigterm_finishes_the_request_in_flight_and_writes_the_state(
    served: Served, state_file: Path
) -> None:
    body = orjson.dumps(credit("sent across a SIGTERM"))
    head = (
        f"POST {CUSTOMER_CREDITS} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer t\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(head + body[:20])  # the request is in flight: half its body is sent
        time.sleep(0.3)
        served.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert served.process.poll() is None, "the server quit with a request in flight"
        sock.sendall(body[20:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk

    assert answer.startswith(b"HTTP/1.1 201 "), answer[:200]
    created = orjson.loads(answer.partition(b"\r\n\r\n")[2])["data"]["id"]
    # uvicorn re-raises the signal once shut down, so the exit says "terminated by SIGTERM".
    assert served.process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert created in state_file.read_text()


@pytest.mark.parametrize("round_", range(3))
def test_sigkill_during_saves_leaves_the_old_or_the_new_state(
    config: Config, state_file: Path, round_: int
) -> None:
    served = Served(state_file)
    try:
        with served.client() as client:
            for i in range(300):  # a state of several hundred KB: each write takes a while
                client.post(CUSTOMER_CREDITS, json=credit(f"credit {i} " + "x" * 400))
            assert client.post("/_sandbox/save").status_code == 200
            baseline = credit_ids(client)
        saved_sizes: set[int] = set()
        stop = threading.Event()

        def save_forever() -> None:
            with served.client() as client:
                while not stop.is_set():
                    try:
                        client.post(CUSTOMER_CREDITS, json=credit("during the saves"))
                        response = client.post("/_sandbox/save")
                    except httpx.TransportError:
                        return  # killed
                    saved_sizes.add(response.json()["data"]["bytes"])

        saver = threading.Thread(target=save_forever)
        saver.start()
        time.sleep(random.uniform(0.3, 1.0))
        served.process.send_signal(signal.SIGKILL)
        served.process.wait(timeout=30)
        stop.set()
        saver.join()
    finally:
        served.stop()

    assert saved_sizes, "no save completed before the kill"
    document = orjson.loads(state_file.read_bytes())  # complete JSON, not a torn write
    assert document["format"] == "layer-sandbox-snapshot/1"
    # The file is one whole save (the last acknowledged, or the one in progress), and a
    # restarted sandbox starts from it.
    restarted = TestClient(create_app(config))
    assert baseline <= credit_ids(restarted)
    assert state_file.stat().st_size >= min(saved_sizes)
