"""Webhooks: events per change, Standard Webhooks signatures, delivery, retries, control API."""

from __future__ import annotations

import base64
import functools
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# In-process pytester runs drop the modules they imported first (see test_pytest_plugin.py).
import httpcore  # noqa: F401
import httpx
import orjson
import pytest
import yaml
from conftest import BUSINESS, CUSTOMER_CREDITS, ROOT, VENDOR_CREDITS, independently_validate
from openapi_schema_validator import OAS30Validator
from standardwebhooks.webhooks import Webhook
from starlette.testclient import TestClient

from mockserver import Config, create_app
from mockserver.config import from_environment, parse_webhooks
from mockserver.controls.webhooks import MAX_ATTEMPTS, RETRY_DELAYS
from mockserver.serving.cli import _parser, config_from_args, main
from mockserver.serving.server import BackgroundServer

pytest_plugins = ["pytester"]
SECRET = "whsec_" + base64.b64encode(b"a sandbox test secret, 32 bytes!").decode()
CUSTOMER = "c0000000-0000-4000-8000-000000000001"
VENDOR = "d0000000-0000-4000-8000-000000000001"
CREDIT_BODY = {
    "customer_id": CUSTOMER,
    "line_items": [
        {
            "amount": 500,
            "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
        }
    ],
}
VENDOR_CREDIT_BODY = {
    "vendor_id": VENDOR,
    "received_at": "2024-06-01T00:00:00Z",
    "line_items": [
        {
            "amount": 300,
            "expense_account_identifier": {
                "type": "StableName",
                "stable_name": "OPERATING_EXPENSES",
            },
        }
    ],
}


class Receiver:
    """A webhook subscriber on 127.0.0.1 that records what it gets and answers ``status``."""

    def __init__(self, status: int = 204, hang: bool = False) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.release = threading.Event()
        if not hang:
            self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.release.wait(10)
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.received) >= count, f"got {len(self.received)} of {count} deliveries"
        return list(self.received)

    def stays_at(self, count: int, wait: float = 0.3) -> None:
        time.sleep(wait)
        assert len(self.received) == count, [orjson.loads(b)["type"] for _, b in self.received]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def client_for(receiver: Receiver, **config: Any) -> TestClient:
    app = create_app(Config(webhooks=((receiver.url, SECRET),), **config))
    client = TestClient(app, headers={"Authorization": "Bearer t"})
    client.event_hooks["response"].append(independently_validate)
    return client


@pytest.fixture(scope="module")
def plain() -> Iterator[TestClient]:
    """A sandbox with no subscribers, for requests that are refused."""
    with TestClient(create_app(Config())) as client:
        client.event_hooks["response"].append(independently_validate)
        yield client


@functools.cache
def event_validator() -> OAS30Validator:
    """openapi-schema-validator (not the sandbox's own validation) on ``WebhookEvent``."""
    document = yaml.safe_load((ROOT / "openapi" / "layer-credits.yaml").read_text())
    return OAS30Validator(
        {"$ref": "#/components/schemas/WebhookEvent", "components": document["components"]}
    )


def verified(delivery: tuple[dict[str, str], bytes], secret: str = SECRET) -> dict[str, Any]:
    """The body, after the standardwebhooks library checked its signature and the schema."""
    headers, body = delivery
    event: dict[str, Any] = Webhook(secret).verify(body, headers)
    event_validator().validate(event)
    assert headers["webhook-id"] == event["id"]
    assert headers["content-type"] == "application/json"
    return event


def journaled(client: TestClient, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The deliveries journal once it holds ``count`` attempts."""
    deadline = time.monotonic() + timeout
    while True:
        journal: list[dict[str, Any]] = client.get("/_sandbox/webhooks/deliveries").json()["data"]
        if len(journal) >= count or time.monotonic() > deadline:
            assert len(journal) >= count, journal
            return journal
        time.sleep(0.01)


def summary(event: dict[str, Any]) -> tuple[str, str, str | None]:
    return event["type"], event["data"]["entity_id"], event["data"]["entity_external_id"]


def test_every_change_is_one_signed_schema_valid_event_in_order(receiver: Receiver) -> None:
    with client_for(receiver) as client:
        created = client.post(CUSTOMER_CREDITS, json={**CREDIT_BODY, "external_id": "wh-1"})
        assert created.status_code == 201
        credit = created.json()["data"]["id"]
        upsert = client.post(CUSTOMER_CREDITS, json={**CREDIT_BODY, "external_id": "wh-1"})
        assert upsert.status_code == 200
        assert client.patch(f"{CUSTOMER_CREDITS}/{credit}", json={"memo": "m"}).status_code == 200
        assert client.delete(f"{CUSTOMER_CREDITS}/{credit}").status_code == 200
        assert client.delete(f"{CUSTOMER_CREDITS}/{credit}").status_code == 200  # no event
        vendor = client.post(VENDOR_CREDITS, json=VENDOR_CREDIT_BODY)
        assert vendor.status_code == 201
        # Rejected and read-only calls change nothing, so announce nothing.
        assert client.post(CUSTOMER_CREDITS, json={"line_items": []}).status_code == 400
        assert client.get(f"{CUSTOMER_CREDITS}/{credit}").status_code == 200

        events = [verified(d) for d in receiver.wait_for(5)]
        receiver.stays_at(5)
        assert [summary(e) for e in events] == [
            ("CustomerCredit.created", credit, "wh-1"),
            ("CustomerCredit.updated", credit, "wh-1"),
            ("CustomerCredit.updated", credit, "wh-1"),
            ("CustomerCredit.archived", credit, "wh-1"),
            ("VendorCredit.created", vendor.json()["data"]["id"], None),
        ]
        for event in events:
            assert event["business_id"] == BUSINESS
            assert event["business_external_id"] is None  # the fixture business has none
            entity, operation = event["type"].split(".")
            assert event["id"].startswith(f"{entity}_{operation}_")
        assert len({e["id"] for e in events}) == 5
        # The control API lists the same bodies, and a delivery per event.
        assert client.get("/_sandbox/events").json()["data"] == events
        deliveries = journaled(client, 5)
        assert [(d["event_id"], d["attempt"], d["status"], d["error"]) for d in deliveries] == [
            (e["id"], 1, 204, None) for e in events
        ]
        assert all(d["url"] == receiver.url and d["next_attempt_at"] is None for d in deliveries)


def test_a_tampered_body_or_another_secret_fails_verification(receiver: Receiver) -> None:
    from standardwebhooks.webhooks import WebhookVerificationError

    with client_for(receiver) as client:
        client.post(CUSTOMER_CREDITS, json=CREDIT_BODY)
        (headers, body), *_ = receiver.wait_for(1)
    verified((headers, body))
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"CustomerCredit", b"VendorCredit"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(body, headers)


def test_fixtures_seeding_reset_and_restore_announce_nothing(receiver: Receiver) -> None:
    with client_for(receiver) as client:
        snapshot = client.get("/_sandbox/snapshot").json()["data"]
        seeded = client.post(
            "/_sandbox/records/customers",
            json={
                "id": "c0000000-0000-4000-8000-0000000000aa",
                "business_id": BUSINESS,
                "external_id": "seeded",
                "individual_name": "Seeded Ltd",
                "company_name": None,
                "email": None,
                "mobile_phone": None,
                "office_phone": None,
                "address_string": None,
                "memo": None,
                "status": "ACTIVE",
            },
        )
        assert seeded.status_code == 201, seeded.text
        assert client.post("/_sandbox/reset").status_code == 200
        assert client.post("/_sandbox/restore", json=snapshot).status_code == 200
        assert client.get("/_sandbox/events").json()["data"] == []
        receiver.stays_at(0)


def test_a_failing_subscriber_is_retried_only_as_the_sandbox_clock_advances() -> None:
    receiver = Receiver(status=500)
    try:
        with client_for(receiver) as client:
            client.post("/_sandbox/clock", json={"action": "freeze", "at": "2024-06-01T12:00:00Z"})
            assert client.post(CUSTOMER_CREDITS, json=CREDIT_BODY).status_code == 201
            receiver.wait_for(1)
            receiver.stays_at(1)  # the clock stands still: no retry, however long we wait
            client.post("/_sandbox/clock", json={"action": "advance", "seconds": 4})
            receiver.stays_at(1)
            client.post("/_sandbox/clock", json={"action": "advance", "seconds": 1})
            receiver.wait_for(2)  # 5 s after the first failure
            client.post("/_sandbox/clock", json={"action": "advance", "seconds": 299})
            receiver.stays_at(2)
            client.post("/_sandbox/clock", json={"action": "advance", "seconds": 1})
            receiver.wait_for(3)  # 5 minutes after the second
            for attempt in range(4, MAX_ATTEMPTS + 1):  # a day at a time: one attempt a step
                journaled(client, attempt - 1)  # the last failure has set the next due time
                client.post("/_sandbox/clock", json={"action": "advance", "seconds": 86400})
                receiver.wait_for(attempt)
            journaled(client, MAX_ATTEMPTS)
            client.post("/_sandbox/clock", json={"action": "advance", "seconds": 10 * 86400})
            receiver.stays_at(MAX_ATTEMPTS)  # then the sandbox gives up
            deliveries = receiver.received
            assert {h["webhook-id"] for h, _ in deliveries} == {deliveries[0][0]["webhook-id"]}
            for delivery in deliveries:
                verified(delivery)  # every retry is signed afresh
            journal = client.get("/_sandbox/webhooks/deliveries").json()["data"]
        assert [d["attempt"] for d in journal] == list(range(1, MAX_ATTEMPTS + 1))
        assert all(d["status"] == 500 and "only a 2xx" in d["error"] for d in journal)
        assert journal[0]["at"] == "2024-06-01T12:00:00Z"
        assert journal[0]["next_attempt_at"] == "2024-06-01T12:00:05Z"
        assert journal[1]["next_attempt_at"] == "2024-06-01T12:05:05Z"
        assert journal[-1]["next_attempt_at"] is None
    finally:
        receiver.close()


def test_a_hanging_subscriber_never_slows_the_api() -> None:
    receiver = Receiver(hang=True)  # answers only when released (or after 10 s)
    app = create_app(Config(webhooks=((receiver.url, SECRET),), webhook_timeout=5))
    try:
        with (
            BackgroundServer(app) as server,
            httpx.Client(base_url=server.url, headers={"Authorization": "Bearer t"}) as client,
        ):
            assert client.post(CUSTOMER_CREDITS, json=CREDIT_BODY).status_code == 201
            receiver.wait_for(1)  # the subscriber now holds the delivery open
            durations = []
            for _ in range(10):
                started = time.perf_counter()
                assert client.post(CUSTOMER_CREDITS, json=CREDIT_BODY).status_code == 201
                assert client.get(CUSTOMER_CREDITS).status_code == 200
                durations.append(time.perf_counter() - started)
            # Each pair of calls takes milliseconds; the subscriber hangs for seconds.
            assert max(durations) < 1.0, durations
            assert sum(durations) < 3.0, durations
            assert len(receiver.received) == 1  # the rest wait their turn behind the first
            receiver.release.set()
            receiver.wait_for(11)
    finally:
        receiver.close()


def test_no_answer_within_the_timeout_is_a_failed_attempt() -> None:
    receiver = Receiver(hang=True)
    try:
        with client_for(receiver, webhook_timeout=0.2) as client:
            client.post(CUSTOMER_CREDITS, json=CREDIT_BODY)
            receiver.wait_for(1)
            (entry,) = journaled(client, 1)
        assert entry["status"] is None
        assert entry["error"] == "no answer within 0.2 s"
        assert entry["duration_ms"] >= 150
        assert entry["next_attempt_at"] is not None
    finally:
        receiver.close()


def test_a_dead_subscriber_is_journaled_and_others_still_get_events(receiver: Receiver) -> None:
    dead = Receiver()
    dead_url = dead.url
    dead.close()  # nothing listens there any more
    app = create_app(Config(webhooks=((dead_url, None), (receiver.url, SECRET))))
    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        client.post(CUSTOMER_CREDITS, json=CREDIT_BODY)
        verified(receiver.wait_for(1)[0])
        deadline = time.monotonic() + 5
        failed: list[dict[str, Any]] = []
        while not failed and time.monotonic() < deadline:
            journal = client.get("/_sandbox/webhooks/deliveries").json()["data"]
            failed = [d for d in journal if d["url"] == dead_url]
            time.sleep(0.02)
    assert failed[0]["status"] is None
    assert "ConnectError" in failed[0]["error"]


# ---------------------------------------------------------------------- control API


def test_subscribing_through_the_control_api(receiver: Receiver) -> None:
    app = create_app(Config())
    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        client.event_hooks["response"].append(independently_validate)
        assert client.get("/_sandbox/webhooks").json() == {"data": []}
        added = client.post("/_sandbox/webhooks", json={"url": receiver.url})
        assert added.status_code == 201
        subscription = added.json()["data"]
        assert subscription["source"] == "api" and subscription["url"] == receiver.url
        secret = subscription["secret"]
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
        assert client.get("/_sandbox/webhooks").json()["data"] == [subscription]

        client.post(CUSTOMER_CREDITS, json=CREDIT_BODY)
        assert verified(receiver.wait_for(1)[0], secret)["type"] == "CustomerCredit.created"
        journaled(client, 1)
        by_subscription = client.get(
            "/_sandbox/webhooks/deliveries", params={"subscription_id": subscription["id"]}
        ).json()["data"]
        assert len(by_subscription) == 1

        removed = client.delete(f"/_sandbox/webhooks/{subscription['id']}")
        assert removed.status_code == 200 and removed.json()["data"] == subscription
        client.post(CUSTOMER_CREDITS, json=CREDIT_BODY)
        receiver.stays_at(1)
        again = client.delete(f"/_sandbox/webhooks/{subscription['id']}")
        assert again.status_code == 404
        assert "GET /_sandbox/webhooks lists them" in again.json()["errors"][0]["description"]
        # Events are kept whether anyone listens or not.
        listed = client.get("/_sandbox/events", params={"type": "CustomerCredit.created"})
        assert len(listed.json()["data"]) == 2


@pytest.mark.parametrize(
    ("body", "pointer", "message"),
    [
        ({"url": "ftp://example.test/x"}, "/url", "must match the pattern ^https?://"),
        ({}, "/url", "url"),
        ({"url": "http://127.0.0.1/x", "secret": "whsec_$$$"}, "/secret", "must match the pattern"),
        ({"url": "http://127.0.0.1/x", "secret": "whsec_abc"}, "/secret", "whsec_ followed by"),
    ],
)
def test_a_bad_subscription_is_a_400_saying_what_to_fix(
    plain: TestClient, body: dict[str, Any], pointer: str, message: str
) -> None:
    response = plain.post("/_sandbox/webhooks", json=body)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["meta"]["pointer"] == pointer
    assert message in error["description"]
    assert plain.get("/_sandbox/webhooks").json()["data"] == []


def test_the_deliveries_journal_is_not_a_subscription_id(plain: TestClient) -> None:
    # Not through `plain`: openapi-core reads this as DELETE /_sandbox/webhooks/{subscriptionId}.
    response = TestClient(plain.app).delete("/_sandbox/webhooks/deliveries")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


# ---------------------------------------------------------------------- configuration


def test_webhook_option_and_environment() -> None:
    args = _parser().parse_args(
        ["serve", "--webhook", "http://127.0.0.1:9/a", "--webhook", f"http://h/b,secret={SECRET}"]
    )
    assert config_from_args(args).webhooks == (
        ("http://127.0.0.1:9/a", None),
        ("http://h/b", SECRET),
    )
    env = {"MOCKSERVER_WEBHOOK": f"http://h/a,secret={SECRET} http://h/b"}
    assert from_environment(env=env).webhooks == (("http://h/a", SECRET), ("http://h/b", None))
    assert from_environment(env={"MOCKSERVER_WEBHOOKS": "http://h/c"}).webhooks == (
        ("http://h/c", None),
    )
    assert from_environment(env={"MOCKSERVER_WEBHOOK_TIMEOUT": "2.5"}).webhook_timeout == 2.5


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("example.test/hook", "must look like http(s)://HOST/PATH"),
        ("http://h/a,secret=", "has an empty secret"),
    ],
)
def test_a_bad_webhook_entry_is_refused(entry: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_webhooks([entry])


def test_serve_refuses_a_bad_webhook_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--webhook", "http://127.0.0.1:9/a,secret=whsec_***"]) == 2
    assert "is not whsec_ followed by base64" in capsys.readouterr().err


def test_config_subscriptions_are_listed_with_their_secret() -> None:
    app = create_app(Config(webhooks=(("http://127.0.0.1:9/a", SECRET), ("http://h/b", None))))
    with TestClient(app) as client:
        listed = client.get("/_sandbox/webhooks").json()["data"]
    assert [(s["url"], s["source"]) for s in listed] == [
        ("http://127.0.0.1:9/a", "config"),
        ("http://h/b", "config"),
    ]
    assert listed[0]["secret"] == SECRET
    assert listed[1]["secret"].startswith("whsec_")


# ---------------------------------------------------------------------- the document


def test_the_document_describes_every_event_and_the_retry_schedule() -> None:
    document = yaml.safe_load((ROOT / "openapi" / "layer-credits.yaml").read_text())
    entities = [
        "Customer",
        "Vendor",
        "Invoice",
        "InvoicePayment",
        "Bill",
        "BillPayment",
        "CustomerCredit",
        "VendorCredit",
    ]
    types = [f"{e}.{a}" for e in entities for a in ("created", "updated", "archived")]
    # Ledger accounts are never archived by the sandbox (it has no account delete).
    types += ["GeneralLedgerAccount.created", "GeneralLedgerAccount.updated"]
    assert document["components"]["schemas"]["WebhookEventType"]["enum"] == types
    assert list(document["x-webhooks"]["events"]) == types
    assert document["x-webhooks"]["retry_delays_seconds"] == list(RETRY_DELAYS)
    assert MAX_ATTEMPTS == 8


# ---------------------------------------------------------------------- the README's examples


def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Webhooks\n")
    return text[start : text.index("\n## ", start + 1)]


def readme_block(first_line: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", readme_section(), re.DOTALL)
    [block] = [b for b in blocks if b.startswith(first_line + "\n")]
    return block


def test_the_readme_verification_snippet_checks_real_deliveries(receiver: Receiver) -> None:
    namespace: dict[str, Any] = {}
    exec(readme_block("# verify_webhook.py"), namespace)
    verify = namespace["verify"]
    with client_for(receiver) as client:
        client.post(CUSTOMER_CREDITS, json=CREDIT_BODY)
        (headers, body), *_ = receiver.wait_for(1)
    assert verify(SECRET, headers, body) is True
    assert verify(SECRET, headers, body.replace(b"Customer", b"Vendor")) is False
    assert verify("whsec_" + base64.b64encode(b"y" * 24).decode(), headers, body) is False
    stale = {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 3600)}
    assert verify(SECRET, stale, body) is False


def test_the_readme_plugin_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_webhook_events=readme_block("# tests/test_webhook_events.py"))
    result = pytester.runpytest_inprocess("--layer-sandbox-mode=inprocess")
    result.assert_outcomes(passed=1)


def test_the_readme_retry_table_is_the_schedule() -> None:
    row = next(
        line for line in readme_section().splitlines() if line.startswith("| after the previous")
    )
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    seconds = {"s": 1, "min": 60, "h": 3600}
    delays = [int(c.split()[0]) * seconds[c.split()[1]] for c in cells[1:]]
    assert cells[0] == "at once" and tuple(delays) == RETRY_DELAYS
