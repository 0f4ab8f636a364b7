"""In a real browser: headless Chromium (Debian's) driven by Selenium through Debian's driver.

A page served from another origin calls the sandbox with fetch() and a bearer token (so every
call is preflighted), the inspector page is watched while a test suite runs against the
sandbox, and its Drift section while a validation proxy stands in front of an API that breaks
its document. Screenshots land in ``test-artifacts/``.

Without /usr/bin/chromium these tests fail under CI (``CI`` set: ``.ci/run`` installs it) and
are skipped elsewhere, saying how to install it.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import BUSINESS, ROOT
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mockserver import Config, create_app
from mockserver.serving.server import BackgroundServer
from mockserver.tools.proxy import create_proxy_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT = 20.0

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    reason = (
        "Chromium and its driver are not installed (/usr/bin/chromium, /usr/bin/chromedriver): "
        "apt-get install -y chromium chromium-driver"
    )
    if os.environ.get("CI"):
        raise RuntimeError(f"CI needs the browser tests: {reason}")  # fails collection loudly
    pytest.skip(reason, allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        driver.set_script_timeout(TIMEOUT)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with BackgroundServer(create_app(Config(journal_cap=5000))) as server:
        yield server.url


def _front_end() -> Starlette:
    page = "<!doctype html><title>front end</title><h1>A front end on another origin</h1>"
    return Starlette(routes=[Route("/", lambda request: HTMLResponse(page))])


@pytest.fixture(scope="module")
def front_end() -> Iterator[str]:
    with BackgroundServer(_front_end()) as server:
        yield server.url


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    try:
        return WebDriverWait(driver, TIMEOUT).until(condition)
    except TimeoutException:
        shoot(driver, "timeout")
        body = driver.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"waited {TIMEOUT} s for {what}; the page shows:\n{body}") from None


def shoot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


# The calls a front end makes; each returns what the page could read of the answer.
CALLS = """
const [base, business, done] = arguments;
const auth = {Authorization: "Bearer browser-token"};
const json = {...auth, "Content-Type": "application/json"};
const credits = `${base}/v1/businesses/${business}/invoices/customer-credits`;
const read = async (response) => ({
  status: response.status,
  body: await response.json(),
  remaining: response.headers.get("X-RateLimit-Remaining"),
});
(async () => {
  const out = {};
  out.list = await read(await fetch(credits, {headers: auth}));
  out.create = await read(await fetch(credits, {method: "POST", headers: json, body: JSON.stringify({
    customer_external_id: "cust-001",
    line_items: [{amount: 1200, revenue_account_identifier: {type: "StableName", stable_name: "SALES"}}],
  })}));
  const one = `${credits}/${out.create.body.data.id}`;
  out.patch = await read(await fetch(one, {method: "PATCH", headers: json, body: JSON.stringify({memo: "from a browser"})}));
  out.delete = await read(await fetch(one, {method: "DELETE", headers: auth}));
  out.bad = await read(await fetch(credits, {method: "POST", headers: json, body: JSON.stringify({colour: "red"})}));
  return out;
})().then(done, (error) => done({error: String(error)}));
"""


def test_a_page_on_another_origin_calls_every_kind_of_operation(
    browser: WebDriver, sandbox_url: str, front_end: str
) -> None:
    assert front_end != sandbox_url  # same host, other port: another origin
    browser.get(front_end)
    out = browser.execute_async_script(CALLS, sandbox_url, BUSINESS)
    assert "error" not in out, out
    assert out["list"]["status"] == 200 and len(out["list"]["body"]["data"]) >= 3
    assert out["list"]["remaining"] is not None  # an exposed header the page can read
    assert out["create"]["status"] == 201
    assert out["patch"]["status"] == 200
    assert out["patch"]["body"]["data"]["memo"] == "from a browser"
    assert out["delete"]["status"] == 200 and out["delete"]["body"]["data"]["deleted_at"]
    assert out["bad"]["status"] == 400
    pointers = {e["meta"]["pointer"] for e in out["bad"]["body"]["errors"]}
    assert {"/colour", "/line_items"} <= pointers
    # Every call carried a bearer token, so the browser preflighted each; none is journaled.
    journal = httpx.get(f"{sandbox_url}/_sandbox/journal").json()["data"]
    methods = [e["method"] for e in journal[-5:]]
    assert methods == ["GET", "POST", "PATCH", "DELETE", "POST"]
    assert all(e["method"] != "OPTIONS" for e in journal)


def test_with_cors_origins_set_other_origins_are_refused_by_the_browser(
    browser: WebDriver, front_end: str
) -> None:
    with (
        BackgroundServer(_front_end()) as other,
        BackgroundServer(create_app(Config(cors_origins=(front_end,)))) as sandbox,
    ):
        script = """
        const [url, done] = arguments;
        fetch(url, {headers: {Authorization: "Bearer t"}})
          .then((r) => done(`status ${r.status}`), (e) => done(`refused: ${e}`));
        """
        whoami = f"{sandbox.url}/whoami"
        browser.get(front_end)
        assert browser.execute_async_script(script, whoami) == "status 200"
        browser.get(other.url)
        assert browser.execute_async_script(script, whoami) == (
            "refused: TypeError: Failed to fetch"
        )


USER_SUITE = """
import os

import httpx

BASE = os.environ["SANDBOX_URL"]
CREDITS = BASE + "/v1/businesses/b0000000-0000-4000-8000-000000000001/invoices/customer-credits"
AUTH = {"Authorization": "Bearer suite-token"}
SALES = {"type": "StableName", "stable_name": "SALES"}


def test_create_and_fetch():
    created = httpx.post(CREDITS, headers=AUTH, json={
        "customer_external_id": "cust-001",
        "external_id": "suite-credit",
        "line_items": [{"amount": 2500, "revenue_account_identifier": SALES}],
        "allocations": [{"amount": 2500, "invoice_id": "e0000000-0000-4000-8000-000000000001"}],
    })
    assert created.status_code == 201
    assert httpx.get(CREDITS + "/" + created.json()["data"]["id"], headers=AUTH).status_code == 200


def test_a_bad_request():
    bad = httpx.post(CREDITS, headers=AUTH, json={"line_items": [{"amount": "lots"}]})
    assert bad.status_code == 400
"""


def test_the_inspector_shows_a_running_suite_and_its_controls_work(
    browser: WebDriver, sandbox_url: str, tmp_path: Path
) -> None:
    httpx.post(f"{sandbox_url}/_sandbox/reset")
    browser.get(f"{sandbox_url}/_sandbox/")
    wait_for(browser, lambda d: d.find_element(By.ID, "connection").text == "live", "live")
    suite = tmp_path / "test_user_suite.py"
    suite.write_text(USER_SUITE)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
        env={**os.environ, "SANDBOX_URL": sandbox_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    last = httpx.get(f"{sandbox_url}/_sandbox/health").json()["data"]["journal"]["last_seq"]
    wait_for(
        browser,
        lambda d: f"to {last})" in d.find_element(By.ID, "journal-window").text,
        "the suite's calls",
    )

    def rows(d: WebDriver) -> list[str]:
        return [r.text for r in d.find_elements(By.CSS_SELECTOR, "#journal-spacer .row")]

    browser.find_element(By.ID, "journal-filter").send_keys("customer-credits")
    wait_for(browser, lambda d: any("off-contract" in r for r in rows(d)), "the bad request")
    off = browser.find_elements(
        By.XPATH, "//div[contains(@class,'entry')][contains(., 'off-contract')]"
    )
    off[-1].click()
    detail = browser.find_element(By.ID, "entry-detail")
    pointers = [p.text.strip() for p in detail.find_elements(By.CSS_SELECTOR, ".pointer")]
    assert "/line_items/0/amount" in pointers
    assert "/line_items/0/revenue_account_identifier" in pointers
    assert '"amount": "lots"' in detail.text  # the request body
    assert any("201" in r and "customer-credits.post" in r for r in rows(browser))
    shoot(browser, "inspector-journal")

    browser.find_element(By.CSS_SELECTOR, "[data-tab=state]").click()
    invoices = wait_for(
        browser,
        lambda d: d.find_element(By.CSS_SELECTOR, "[data-collection=invoices]"),
        "the invoices table",
    )
    inv_1001 = invoices.find_element(By.XPATH, ".//tr[td[contains(., 'INV-1001')]]").text
    assert "42500" in inv_1001  # 45000 outstanding less the suite's 2500 allocation
    credits = browser.find_element(By.CSS_SELECTOR, "[data-collection=customer_credits]")
    assert "suite-credit" in credits.text
    shoot(browser, "inspector-state")

    browser.find_element(By.CSS_SELECTOR, "[data-tab=coverage]").click()
    post = wait_for(
        browser,
        lambda d: d.find_element(
            By.CSS_SELECTOR, "[data-operation='business.invoices.customer-credits.post']"
        ),
        "coverage rows",
    )
    report = httpx.get(f"{sandbox_url}/_sandbox/coverage").json()["data"]
    counts = report["operations"]["business.invoices.customer-credits.post"]["responses"]
    assert counts["201"] and counts["400"] and not counts["401"]
    hit = [c.text for c in post.find_elements(By.CSS_SELECTOR, ".chip.hit")]
    assert hit == [f"{status} \u00d7{n}" for status, n in counts.items() if n]
    missed = [c.text for c in post.find_elements(By.CSS_SELECTOR, ".chip:not(.hit)")]
    assert missed == [status for status, n in counts.items() if not n]
    assert "operations exercised" in browser.find_element(By.ID, "coverage-summary").text
    shoot(browser, "inspector-coverage")

    browser.find_element(By.CSS_SELECTOR, "[data-tab=controls]").click()
    message = browser.find_element(By.ID, "message")

    def click(button: str, expect: str) -> None:
        browser.find_element(By.ID, button).click()
        wait_for(browser, lambda d: expect in message.text, f"{button}: {expect}")

    click("do-snapshot", "Snapshot: done")
    click("do-reset", "Reset: done")
    state = httpx.get(f"{sandbox_url}/_sandbox/state").json()["data"]
    assert all(c["external_id"] != "suite-credit" for c in state["customer_credits"])
    click("do-restore", "Restore: done")
    state = httpx.get(f"{sandbox_url}/_sandbox/state").json()["data"]
    assert any(c["external_id"] == "suite-credit" for c in state["customer_credits"])

    browser.find_element(By.ID, "freeze-at").send_keys("2024-06-01T12:00:00Z")
    click("do-freeze", "Freeze: done (2024-06-01T12:00:00Z)")
    browser.find_element(By.ID, "advance-seconds").clear()
    browser.find_element(By.ID, "advance-seconds").send_keys("60")
    click("do-advance", "Advance: done (2024-06-01T12:01:00Z)")
    assert httpx.get(f"{sandbox_url}/_sandbox/clock").json()["data"]["frozen"] is True
    click("do-real", "Real time: done")

    operation = browser.find_element(By.ID, "fault-operation")
    wait_for(browser, lambda d: "whoami.get" in operation.text, "operations to fault")
    operation.find_element(By.CSS_SELECTOR, "option[value='whoami.get']").click()
    click("do-fault", "Add fault: done (whoami.get)")
    assert (
        httpx.get(f"{sandbox_url}/whoami", headers={"Authorization": "Bearer t"}).status_code == 503
    )
    wait_for(browser, lambda d: "whoami.get" in d.find_element(By.ID, "fault-list").text, "rule")
    shoot(browser, "inspector-controls")
    click("do-clear-faults", "Clear faults: done (1 cleared)")
    click("do-clear-journal", "Clear journal: done")
    assert httpx.get(f"{sandbox_url}/_sandbox/journal").json()["data"] == []


def test_the_inspector_stays_usable_with_thousands_of_calls(browser: WebDriver) -> None:
    with (
        BackgroundServer(create_app(Config(journal_cap=5000))) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": "Bearer t"}) as client,
    ):
        for _ in range(3000):
            client.get("/whoami")
        last = 3000
        started = time.monotonic()
        browser.get(f"{server.url}/_sandbox/")
        _check_thousands(browser, last, started)


def _check_thousands(browser: WebDriver, last: int, started: float) -> None:
    window = wait_for(
        browser,
        lambda d: (
            f"to {last})" in d.find_element(By.ID, "journal-window").text
            and d.find_element(By.ID, "journal-window")
        ),
        "every call",
    )
    loaded = time.monotonic() - started
    assert "showing 3000 of 3000" in window.text
    assert loaded < 10, f"{loaded:.1f} s to load 3000 calls"
    # Only the rows in view exist in the page, whatever the journal holds.
    assert len(browser.find_elements(By.CSS_SELECTOR, "#journal-spacer .row")) < 100
    last_row = browser.find_elements(By.CSS_SELECTOR, "#journal-spacer .row")[-1]
    assert last_row.text.startswith(str(last))  # following: the newest call is in view
    browser.execute_script("document.getElementById('journal-viewport').scrollTop = 0")
    wait_for(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, "#journal-spacer .row")[0].text.startswith(
            str(last - 2999)
        ),
        "the oldest rows after scrolling up",
    )
    shoot(browser, "inspector-3000-calls")
    (ARTIFACTS / "inspector-load.json").write_text(json.dumps({"calls": 3000, "seconds": loaded}))


_PET = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
}
#: A small document the upstream below breaks on purpose.
PETS_DOC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Pets", "version": "1"},
    "paths": {
        "/pets": {
            "post": {
                "operationId": "createPet",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "created",
                        "content": {"application/json": {"schema": _PET}},
                    }
                },
            }
        },
        "/pets/{petId}": {
            "get": {
                "operationId": "getPet",
                "parameters": [
                    {"name": "petId", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {
                    "200": {
                        "description": "a pet",
                        "content": {"application/json": {"schema": _PET}},
                    },
                    "404": {
                        "description": "no such pet",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                },
            }
        },
    },
}


def _drifting_upstream() -> Starlette:
    """Every pet it answers has a number for a name; creating one is on contract."""

    async def pet(request: Request) -> Response:
        pet_id = request.path_params["pet_id"]
        if not pet_id.isdigit():
            return JSONResponse({"detail": "no such pet"}, status_code=404)
        return JSONResponse({"id": int(pet_id), "name": 5})

    async def create(request: Request) -> Response:
        return JSONResponse({"id": 9, "name": "Rex"}, status_code=201)

    return Starlette(
        routes=[Route("/pets/{pet_id}", pet), Route("/pets", create, methods=["POST"])]
    )


@pytest.fixture
def drift_proxy(tmp_path: Path) -> Iterator[str]:
    document = tmp_path / "pets.json"
    document.write_text(json.dumps(PETS_DOC))
    with (
        BackgroundServer(_drifting_upstream()) as upstream,
        BackgroundServer(
            create_proxy_app(Config(spec=document), upstream.url, timeout=5), lifespan="on"
        ) as proxy,
    ):
        yield proxy.url


def test_the_inspector_drift_section_groups_the_proxys_violations(
    browser: WebDriver, drift_proxy: str
) -> None:
    browser.get(f"{drift_proxy}/_sandbox/")
    wait_for(browser, lambda d: d.find_element(By.ID, "connection").text == "live", "live")
    browser.find_element(By.CSS_SELECTOR, "[data-tab=drift]").click()
    summary = browser.find_element(By.ID, "drift-summary")
    table = browser.find_element(By.ID, "drift-table")
    wait_for(
        browser,
        lambda d: summary.text == "no drift: 0 journaled call(s), no violation",
        "the empty state",
    )
    assert not table.is_displayed()

    for pet_id in (1, 2, 3):  # a number for a name, three times: one group
        assert httpx.get(f"{drift_proxy}/pets/{pet_id}").status_code == 200
    httpx.get(f"{drift_proxy}/pets/<img src=x>")  # petId must be an integer; text, not markup
    httpx.post(f"{drift_proxy}/pets", json={"name": 7})
    assert httpx.post(f"{drift_proxy}/pets", json={"name": "Rex"}).status_code == 201  # clean
    report = httpx.get(f"{drift_proxy}/_sandbox/drift").json()["data"]
    assert report["summary"]["groups"] == 3
    # The section follows the journal by itself, as the others do: no click on Refresh.
    wait_for(
        browser,
        lambda d: (
            summary.text == "drift: 5 violation(s) in 3 group(s), from 5 of 6 journaled call(s)"
        ),
        "the drift groups",
    )
    assert table.is_displayed()
    assert browser.find_element(By.ID, "drift-count").text == "(5)"
    rows = [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    assert rows == [
        [
            str(g["count"]),
            g["in"],
            g["operation_id"],
            str(g["status"]),
            g["location"],
            g["pointer"],
            ", ".join(g["keywords"]),
            g["first"]["message"],
            f"#{g['first']['seq']} {g['first']['method']} {g['first']['path']}",
        ]
        for g in report["groups"]
    ]
    assert [row[:6] for row in rows] == [
        ["3", "response", "getPet", "200", "body", "/name"],
        ["1", "request", "createPet", "201", "body", "/name"],
        ["1", "request", "getPet", "404", "path", "/petId"],
    ]
    assert rows[0][8] == "#1 GET /pets/1"
    assert rows[2][8] == "#4 GET /pets/<img src=x>"  # shown as text ...
    assert not table.find_elements(By.TAG_NAME, "img")  # ... never parsed as HTML
    shoot(browser, "inspector-drift")

    # The first example opens from the keyboard: the call, selected in the journal.
    first = table.find_element(By.CSS_SELECTOR, "tbody tr button.first")
    first.send_keys(Keys.ENTER)
    detail = browser.find_element(By.ID, "entry-detail")
    wait_for(
        browser,
        lambda d: detail.is_displayed() and detail.text.startswith("#1 GET /pets/1"),
        "the first example in the journal",
    )
    assert browser.switch_to.active_element == detail
    assert "/name" in [p.text.strip() for p in detail.find_elements(By.CSS_SELECTOR, ".pointer")]
    assert "must be of type string" in detail.text  # the entry's own violations
    shoot(browser, "inspector-drift-entry")

    browser.find_element(By.CSS_SELECTOR, "[data-tab=controls]").click()
    browser.find_element(By.ID, "do-clear-journal").click()
    message = browser.find_element(By.ID, "message")
    wait_for(browser, lambda d: "Clear journal: done (6 cleared)" in message.text, "cleared")
    browser.find_element(By.CSS_SELECTOR, "[data-tab=drift]").click()
    wait_for(
        browser,
        lambda d: summary.text == "no drift: 0 journaled call(s), no violation",
        "the empty state after clearing",
    )
    assert not table.is_displayed()
    assert httpx.post(f"{drift_proxy}/pets", json={"name": "Tea"}).status_code == 201
    wait_for(
        browser,
        lambda d: summary.text == "no drift: 1 journaled call(s), no violation",
        "a clean call",
    )


def test_artifacts_dir_is_ignored_by_git() -> None:
    assert shutil.which("git")
    check = subprocess.run(
        ["git", "check-ignore", "-q", "test-artifacts/inspector-journal.png"], cwd=ROOT
    )
    assert check.returncode == 0
