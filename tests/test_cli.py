"""`mockserver serve` options and MOCKSERVER_* variables: each works, and a bad one stops
start-up naming itself and what it accepts; state lives in one process, so one worker only."""

import os
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import free_port

from mockserver.config import Config, from_environment
from mockserver.serving import cli

BUSINESS = "b0000000-0000-4000-8000-000000000001"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("MOCKSERVER_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def uvicorn_calls(clean_env: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What `serve` would hand uvicorn, without listening."""
    calls: list[dict[str, Any]] = []
    clean_env.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    return calls


def test_host_port_and_logging_variables_reach_uvicorn(
    clean_env: pytest.MonkeyPatch, uvicorn_calls: list[dict[str, Any]]
) -> None:
    clean_env.setenv("MOCKSERVER_HOST", "127.0.0.2")
    clean_env.setenv("MOCKSERVER_PORT", "8123")
    clean_env.setenv("MOCKSERVER_LOG_LEVEL", "warning")
    clean_env.setenv("MOCKSERVER_ACCESS_LOG", "yes")
    assert cli.main(["serve"]) == 0
    [options] = uvicorn_calls
    assert (options["host"], options["port"]) == ("127.0.0.2", 8123)
    assert (options["log_level"], options["access_log"]) == ("warning", True)
    # The command line wins over the environment.
    assert cli.main(["serve", "--port", "8124", "--host", "127.0.0.3"]) == 0
    assert (uvicorn_calls[1]["host"], uvicorn_calls[1]["port"]) == ("127.0.0.3", 8124)


def test_the_start_up_line_names_the_address_it_listens_on(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "MOCKSERVER_PORT": str(port), "MOCKSERVER_HOST": "127.0.0.1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        assert response.status_code == 200
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert f"serving Layer credits sandbox on http://127.0.0.1:{port} " in err


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MOCKSERVER_STRICT", "maybe", "MOCKSERVER_STRICT='maybe' is not a yes/no value; use one of 1, true, yes, on or 0, false, no, off"),
        ("MOCKSERVER_ENFORCE_RATE_LIMIT", "sometimes", "MOCKSERVER_ENFORCE_RATE_LIMIT='sometimes' is not a yes/no value"),
        ("MOCKSERVER_MAX_BODY_BYTES", "1MB", "MOCKSERVER_MAX_BODY_BYTES='1MB' is not a whole number; use digits only (no units), 1 or more"),
        ("MOCKSERVER_JOURNAL_CAP", "0", "MOCKSERVER_JOURNAL_CAP='0' is out of range; use a whole number 1 or more"),
        ("MOCKSERVER_SEED", "abc", "MOCKSERVER_SEED='abc' is not a whole number"),
        ("MOCKSERVER_PORT", "99999", "MOCKSERVER_PORT='99999' is out of range; use a whole number from 1 to 65535"),
        ("MOCKSERVER_PORT", "http", "MOCKSERVER_PORT='http' is not a whole number"),
        ("MOCKSERVER_LOG_LEVEL", "loud", "MOCKSERVER_LOG_LEVEL='loud' is not a log level; use one of debug, info, warning, error"),
        ("MOCKSERVER_ACCESS_LOG", "2", "MOCKSERVER_ACCESS_LOG='2' is not a yes/no value"),
        ("MOCKSERVER_TOKENS", "no-equals-sign", "MOCKSERVER_TOKENS: token entry 'no-equals-sign' must look like TOKEN=BUSINESS_ID"),
        ("MOCKSERVER_FAULTS", "{not json", "MOCKSERVER_FAULTS: fault rule '{not json' is not JSON"),
        ("MOCKSERVER_FIXTURES", "", "MOCKSERVER_FIXTURES is empty"),
    ],
)  # fmt: skip
def test_a_bad_variable_stops_start_up_naming_it_and_the_accepted_values(
    variable: str,
    value: str,
    message: str,
    uvicorn_calls: list[dict[str, Any]],
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clean_env.setenv(variable, value)
    assert cli.main(["serve"]) == 2
    assert uvicorn_calls == []
    assert message in capsys.readouterr().err


def test_every_config_field_reads_its_variable(tmp_path: Path) -> None:
    env = {
        "MOCKSERVER_SPEC": str(tmp_path / "spec.yaml"),
        "MOCKSERVER_CONTROL_SPEC": str(tmp_path / "control.yaml"),
        "MOCKSERVER_FIXTURES": str(tmp_path),
        "MOCKSERVER_STRICT": "off",
        "MOCKSERVER_MAX_BODY_BYTES": "4096",
        "MOCKSERVER_TOKENS": f"t1={BUSINESS} t2=*",
        "MOCKSERVER_CLIENTS": "c:s",
        "MOCKSERVER_RATE_LIMIT": "7",
        "MOCKSERVER_ENFORCE_RATE_LIMIT": "TRUE",
        "MOCKSERVER_JOURNAL_CAP": "5",
        "MOCKSERVER_SEED": "42",
        "MOCKSERVER_FAULTS": '[{"fail_next": 1}]',
        "MOCKSERVER_MAX_URL_BYTES": "100",
        "MOCKSERVER_MAX_HEADER_BYTES": "200",
        "MOCKSERVER_CONTROL_TOKEN": "ct",
        "MOCKSERVER_STATE_FILE": str(tmp_path / "state.json"),
        "MOCKSERVER_STRICT_SPEC": "yes",
        "MOCKSERVER_WEBHOOKS": "http://127.0.0.1:9/hooks",
        "MOCKSERVER_WEBHOOK_TIMEOUT": "2.5",
        "MOCKSERVER_CORS": "0",
        "MOCKSERVER_CORS_ORIGINS": "http://localhost:3000",
    }
    config = from_environment(env=env)
    assert {f"MOCKSERVER_{f.name.upper()}" for f in fields(Config)} == set(env)
    for f in fields(Config):
        assert getattr(config, f.name) != getattr(Config(), f.name), f.name
    assert config.strict is False and config.enforce_rate_limit is True
    assert config.max_body_bytes == 4096 and config.seed == 42
    assert config.tokens == {"t1": frozenset({BUSINESS}), "t2": frozenset({"*"})}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "99999"], "argument --port: '99999' is out of range; use a whole number from 1 to 65535"),
        (["--port", "0"], "argument --port: '0' is out of range"),
        (["--port", "eighty"], "argument --port: 'eighty' is not a whole number"),
        (["--max-body-bytes", "-1"], "argument --max-body-bytes: '-1' is out of range; use a whole number 1 or more"),
    ],
)  # fmt: skip
def test_out_of_range_options_are_usage_errors(
    argv: list[str],
    message: str,
    uvicorn_calls: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", *argv])
    assert exited.value.code == 2
    assert uvicorn_calls == []
    assert message in capsys.readouterr().err


def test_several_workers_are_refused_with_the_reason(
    clean_env: pytest.MonkeyPatch,
    uvicorn_calls: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["serve", "--workers", "3"]) == 2
    clean_env.setenv("MOCKSERVER_WORKERS", "2")
    assert cli.main(["serve"]) == 2
    assert uvicorn_calls == []
    err = capsys.readouterr().err
    assert "mockserver: cannot start: 3 workers asked for; the sandbox keeps its state" in err
    assert "a credit created through one would be a 404 through the others" in err
    assert cli.main(["serve", "--workers", "1"]) == 0


def test_the_app_factory_refuses_a_multi_worker_uvicorn(capfd: pytest.CaptureFixture[str]) -> None:
    # What each worker of `uvicorn mockserver.app:create_app --factory --workers 3` runs.
    with pytest.raises(SystemExit) as exited:
        uvicorn.Config("mockserver.app:create_app", factory=True, workers=3).load()
    assert exited.value.code == 3  # uvicorn's start-up failure: the parent stops too
    assert "3 workers asked for; the sandbox keeps its state" in capfd.readouterr().err
    one = uvicorn.Config("mockserver.app:create_app", factory=True, workers=1)
    one.load()
    assert one.loaded
