"""Health, --version, --open, the inspector's assets and the endpoints it polls."""

import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import CUSTOMER_CREDITS, free_port, serve_process
from starlette.testclient import TestClient

from mockserver import Config, create_app
from mockserver.config import BUILTIN_SPEC
from mockserver.engine.spec import load_spec

VERSION = version("layer-credits-sandbox")


def test_version_prints_the_package_version() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mockserver", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert run.stdout == f"mockserver {VERSION}\n"


def test_health_says_what_is_served(client: TestClient) -> None:
    health = client.get("/_sandbox/health").json()["data"]
    assert health["ready"] is True
    assert health["version"] == VERSION
    assert health["document"] == {
        "title": "Layer credits sandbox",
        "version": "1.0.0",
        "operations": len(load_spec(BUILTIN_SPEC).operations),
    }
    assert health["control_document"]["title"] == "Layer sandbox control API"
    assert health["businesses"] == 2
    before = health["journal"]["last_seq"]
    client.get(CUSTOMER_CREDITS)
    after = client.get("/_sandbox/health").json()["data"]["journal"]
    assert after == {"last_seq": before + 1, "cap": 1000}


def test_health_is_never_rate_limited_and_takes_the_control_token() -> None:
    app = create_app(Config(rate_limit=1, enforce_rate_limit=True, control_token="ctl"))
    with TestClient(app, headers={"Authorization": "Bearer ctl"}) as client:
        statuses = [client.get(CUSTOMER_CREDITS).status_code for _ in range(5)]
        assert 429 in statuses
        for _ in range(5):
            assert client.get("/_sandbox/health").status_code == 200
        anonymous = client.get("/_sandbox/health", headers={"Authorization": ""})
        assert anonymous.status_code == 401


def test_health_answers_before_the_first_api_call_of_a_served_process() -> None:
    curl = shutil.which("curl")
    assert curl, "curl is needed (the README's readiness probe uses it)"
    port = free_port()
    process = serve_process(port, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            probe = subprocess.run(
                [curl, "-fsS", f"http://127.0.0.1:{port}/_sandbox/health"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if probe.returncode == 0:
                break
            assert process.poll() is None, process.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, probe.stderr
            time.sleep(0.05)
        assert '"ready":true' in probe.stdout
        assert '"journal":{"last_seq":0,' in probe.stdout  # no API call was made before
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_open_starts_the_browser_on_the_inspector(tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", str(port), "--open"],
        env={"BROWSER": str(browser), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not opened.exists() or not opened.read_text():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        assert opened.read_text() == f"http://127.0.0.1:{port}/_sandbox/\n"
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_the_inspector_assets_are_served_without_external_references(client: TestClient) -> None:
    page = client.get("/_sandbox/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert '<script src="inspector/inspector.js"' in page.text
    redirect = client.get("/_sandbox", follow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (308, "/_sandbox/")
    for name, kind in (("inspector.js", "text/javascript"), ("inspector.css", "text/css")):
        asset = client.get(f"/_sandbox/inspector/{name}")
        assert asset.headers["content-type"] == f"{kind}; charset=utf-8"
        assert "http://" not in asset.text and "https://" not in asset.text, name
    assert client.head("/_sandbox/").content == b""
    assert client.get("/_sandbox/inspector/nothing.js").status_code == 404


def test_the_inspector_writes_what_the_sandbox_sends_as_text(client: TestClient) -> None:
    script = client.get("/_sandbox/inspector/inspector.js").text
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    # Each section reads a documented control endpoint; the Drift section GET /_sandbox/drift.
    assert 'api("GET", "/drift")' in script
    page = client.get("/_sandbox/").text
    assert '<button data-tab="drift">' in page and '<section id="drift"' in page


def test_the_inspector_assets_need_no_control_token() -> None:
    with TestClient(create_app(Config(control_token="ctl"))) as client:
        assert client.get("/_sandbox/").status_code == 200
        assert client.get("/_sandbox/journal").status_code == 401


def test_journal_pages_after_a_seq(client: TestClient) -> None:
    client.delete("/_sandbox/journal")
    start = client.get("/_sandbox/health").json()["data"]["journal"]["last_seq"]
    for _ in range(5):
        client.get(CUSTOMER_CREDITS)
    page = client.get("/_sandbox/journal", params={"after_seq": start, "limit": 2}).json()["data"]
    assert [e["seq"] for e in page] == [start + 1, start + 2]
    rest = client.get("/_sandbox/journal", params={"after_seq": start + 2}).json()["data"]
    assert [e["seq"] for e in rest] == [start + 3, start + 4, start + 5]
    too_many = client.get("/_sandbox/journal", params={"limit": 5000})
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["meta"]["pointer"] == "/limit"


def test_coverage_counts_every_call_as_it_is_journaled() -> None:
    with TestClient(create_app(Config(journal_cap=2)), headers={"Authorization": "Bearer t"}) as c:
        for _ in range(3):
            c.get(CUSTOMER_CREDITS)
        c.post(CUSTOMER_CREDITS, json={"colour": "red"})
        c.get("/v2/nothing")
        c.delete("/_sandbox/journal")
        report = c.get("/_sandbox/coverage").json()["data"]
    listing = report["operations"]["business.invoices.customer-credits.get"]
    assert listing["calls"] == 3  # more than the journal kept
    assert listing["responses"]["200"] == 3
    assert report["operations"]["business.invoices.customer-credits.post"]["responses"]["400"] == 1
    assert report["summary"]["requests_without_operation"] == 1
    assert {"operation_id": "business.invoices.customer-credits.get", "status": "200"} in report[
        "exercised"
    ]["responses"]


@pytest.mark.parametrize("path", ["/_sandbox/health", "/_sandbox/coverage"])
def test_new_control_endpoints_take_no_body(client: TestClient, path: str) -> None:
    answer = client.post(path)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET"
