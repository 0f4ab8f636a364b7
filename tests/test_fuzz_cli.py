"""`mockserver fuzz` gates CI on a Schemathesis run against a served sandbox."""

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from conftest import free_port

from mockserver.serving.cli import main


def _serve(*args: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mockserver",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def locked_sandbox() -> Iterator[str]:
    yield from _serve("--token", "fuzz-token=*", "--client", "fuzz-client:fuzz-secret")


@pytest.fixture
def open_sandbox() -> Iterator[str]:
    yield from _serve()


def test_fuzz_passes_against_the_sandbox(locked_sandbox: str) -> None:
    assert (
        main(["fuzz", locked_sandbox, "--max-examples", "3", "--", "--phases", "examples,fuzzing"])
        == 0
    )


def test_fuzz_fails_with_a_report_when_the_target_breaks_a_check(
    open_sandbox: str, capfd: pytest.CaptureFixture[str]
) -> None:
    # Told that only "fuzz-token" is valid, the run finds that any token is accepted.
    code = main(["fuzz", open_sandbox, "--max-examples", "3", "--", "--phases", "examples"])
    assert code != 0
    assert "API accepts invalid authentication" in capfd.readouterr().out
