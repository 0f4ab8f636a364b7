"""`mockserver fuzz` gates CI on a Schemathesis run against a served sandbox."""

import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import free_port, serve_process

from mockserver.config import FUZZ_CONFIG
from mockserver.serving.cli import main


def _serve(*args: str) -> Iterator[str]:
    port = free_port()
    process = serve_process(port, *args)
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


@pytest.fixture
def failing_sandbox() -> Iterator[str]:
    # Every public call answers a (documented, forced) 500: the server-error check fails.
    yield from _serve(
        "--token",
        "fuzz-token=*",
        "--client",
        "fuzz-client:fuzz-secret",
        "--fault",
        '{"error_rate": 1.0, "statuses": [500]}',
    )


def test_fuzz_passes_against_the_sandbox(locked_sandbox: str) -> None:
    assert (
        main(["fuzz", locked_sandbox, "--max-examples", "3", "--", "--phases", "examples,fuzzing"])
        == 0
    )


def test_fuzz_fails_with_a_report_when_the_target_breaks_a_check(
    failing_sandbox: str, capfd: pytest.CaptureFixture[str]
) -> None:
    code = main(["fuzz", failing_sandbox, "--max-examples", "3", "--", "--phases", "examples"])
    assert code == 1
    assert "Server error" in capfd.readouterr().out


def test_fuzz_passes_against_a_default_serve_and_says_which_check_it_skips(
    open_sandbox: str, capfd: pytest.CaptureFixture[str]
) -> None:
    code = main(["fuzz", open_sandbox, "--max-examples", "3", "--", "--phases", "examples"])
    err = capfd.readouterr().err
    assert code == 0
    assert (
        "accepts any bearer token (a default `mockserver serve`), so the invalid-authentication check (ignored_auth) cannot pass and is skipped"
        in err
    )
    assert "mockserver serve --token 'fuzz-token=*' --client fuzz-client:fuzz-secret" in err


def test_fuzz_says_when_the_target_cannot_be_reached(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["fuzz", f"http://127.0.0.1:{free_port()}"]) == 2
    assert "start the sandbox first" in capfd.readouterr().err


def test_the_project_config_needs_no_environment_variable(tmp_path: Path) -> None:
    # Any `schemathesis` command run in the repository reads schemathesis.toml.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAYER_SANDBOX_")}
    for command in (["run", "--help"], ["run", "http://127.0.0.1:1/openapi.json"]):
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                "from schemathesis.cli import schemathesis; schemathesis()",
                *command,
            ],
            cwd=FUZZ_CONFIG.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Missing environment variable" not in run.stdout + run.stderr
        if command == ["run", "--help"]:
            assert run.returncode == 0 and "Usage:" in run.stdout
    assert "LAYER_SANDBOX" not in FUZZ_CONFIG.read_text()


def test_fuzz_help_shows_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["fuzz", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: fuzz-token)" in out and "(default: 100)" in out
    assert "(default: http://127.0.0.1:8000)" in out


def test_without_schemathesis_the_hint_names_a_published_distribution(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "schemathesis" else real(name, *a),
    )
    assert main(["fuzz"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'schemathesis>=4.1,<5'" in err
    assert "layer-credits-sandbox[fuzz]" not in err


def test_other_documents_get_credentials_for_their_own_security_schemes() -> None:
    from mockserver.tools.fuzz import is_layer_document, other_document_config

    document = {
        "openapi": "3.1.0",
        "components": {
            "securitySchemes": {
                "api_key": {"type": "apiKey", "in": "header", "name": "api_key"},
                "petstore_auth": {"type": "oauth2", "flows": {}},
                "basic": {"type": "http", "scheme": "basic"},
            }
        },
    }
    assert not is_layer_document(document)
    config = tomllib.loads(other_document_config(document, "tok", "id", "secret"))
    assert config["auth"]["openapi"] == {
        "api_key": {"api_key": "tok"},
        "petstore_auth": {"bearer": "tok"},
        "basic": {"username": "id", "password": "secret"},
    }
