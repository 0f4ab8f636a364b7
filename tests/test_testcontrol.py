"""Test controls: forced responses, scenario faults, snapshot/restore, clock, ids, seeding."""

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import BUSINESS, CUSTOMER_CREDITS
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mockserver import Config, create_app
from mockserver.serving.server import BackgroundServer

CREATE = {
    "customer_id": "c0000000-0000-4000-8000-000000000001",
    "line_items": [
        {
            "amount": 700,
            "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
        }
    ],
    "allocations": [{"amount": 700, "invoice_id": "e0000000-0000-4000-8000-000000000001"}],
}
POST_ID = "business.invoices.customer-credits.post"
UNKNOWN_ID = "00000000-0000-4000-8000-0000000000ff"


def state(client: TestClient) -> dict[str, Any]:
    return client.get("/_sandbox/state").json()["data"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 503])
def test_prefer_forces_a_documented_status_without_touching_state(
    client: TestClient, status: int
) -> None:
    before = state(client)
    response = client.post(CUSTOMER_CREDITS, json=CREATE, headers={"Prefer": f"code={status}"})
    assert response.status_code == status
    entry = response.json()["errors"][0]
    assert "Forced by the Prefer header" in entry["description"]
    assert entry["meta"] == {"forced": True}
    if status in (429, 503):
        assert response.headers["Retry-After"] == "1"
    assert state(client) == before


@pytest.mark.parametrize(
    ("prefer", "message"),
    [
        (
            "code=418",
            "does not document as an error; force one of: 400, 401, 404, 413, 415, 429, 500, 503",
        ),
        ("code=201", "does not document as an error"),
        ("code=abc", "must be an HTTP status number"),
        ("code", "Prefer code needs a value"),
        ("delay=-5", "must be milliseconds from 0 to 30000"),
        ("fault=explode", "fault='explode' is not known; use one of: close, reset, truncate"),
    ],
)
def test_unknown_or_undocumented_forcing_is_a_clear_400(
    client: TestClient, prefer: str, message: str
) -> None:
    response = client.post(CUSTOMER_CREDITS, json=CREATE, headers={"Prefer": prefer})
    assert response.status_code == 400
    entry = response.json()["errors"][0]
    assert message in entry["description"]
    assert entry["meta"]["pointer"] == "/prefer"


@pytest.mark.parametrize("prefer", ["return=minimal", "respond-async, wait=10", "colour=red"])
def test_unknown_preferences_are_ignored_and_journaled(
    client: TestClient, sandbox: Any, prefer: str
) -> None:
    before = sandbox.journal.last_seq
    response = client.post(CUSTOMER_CREDITS, json=CREATE, headers={"Prefer": prefer})
    assert response.status_code == 201, response.text
    assert "Preference-Applied" not in response.headers
    [entry] = sandbox.journal.entries(since=before)
    assert entry.ignored_preferences == tuple(p.strip() for p in prefer.split(","))
    assert entry.request_headers["prefer"] == prefer


def test_known_preferences_apply_beside_unknown_ones_and_say_so(client: TestClient) -> None:
    response = client.get(CUSTOMER_CREDITS, headers={"Prefer": "return=minimal, delay=10"})
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "delay=10"
    forced = client.get(CUSTOMER_CREDITS, headers={"Prefer": "return=minimal, code=503"})
    assert forced.status_code == 503
    assert forced.headers["Preference-Applied"] == "code=503"
    assert forced.headers["Retry-After"] == "1"


def test_a_forced_500_has_an_error_enum(client: TestClient) -> None:
    response = client.get(CUSTOMER_CREDITS, headers={"Prefer": "code=500"})
    assert response.status_code == 500
    [entry] = response.json()["errors"]
    assert (entry["type"], entry["error_enum"]) == ("ServerError", "InternalServerError")


def test_prefer_delay_waits_then_answers_normally(client: TestClient) -> None:
    started = time.monotonic()
    response = client.get(CUSTOMER_CREDITS, headers={"Prefer": "delay=150"})
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15


def test_a_client_that_retries_on_503_gets_through_once(client: TestClient) -> None:
    rule = {"operation_id": POST_ID, "fail_next": 2, "status": 503}
    assert client.post("/_sandbox/faults", json=rule).status_code == 201
    statuses = []
    for _ in range(5):  # the client under test: retry on 503 and 429
        response = client.post(CUSTOMER_CREDITS, json={**CREATE, "external_id": "retry-1"})
        statuses.append(response.status_code)
        if response.status_code not in (429, 503):
            break
    assert statuses == [503, 503, 201]
    credits = [c for c in state(client)["customer_credits"] if c["external_id"] == "retry-1"]
    assert len(credits) == 1
    invoice = next(i for i in state(client)["invoices"] if i["id"].endswith("01"))
    assert invoice["outstanding_balance"] == 45000 - 700
    [listed] = client.get("/_sandbox/faults").json()["data"]
    assert (listed["calls"], listed["failures"], listed["fail_next"]) == (3, 2, 0)
    assert client.delete("/_sandbox/faults").json() == {"data": {"cleared": 1}}


def _statuses_with_error_rate(seed: int) -> list[int]:
    app = create_app(Config())
    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        client.post(
            "/_sandbox/faults",
            json={"error_rate": 0.5, "statuses": [500, 503], "seed": seed},
        )
        return [client.get(CUSTOMER_CREDITS).status_code for _ in range(20)]


def test_random_errors_are_reproducible_from_the_seed() -> None:
    first = _statuses_with_error_rate(7)
    assert first == _statuses_with_error_rate(7)
    assert {200, 500, 503} <= set(first)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"operation_id": "nope"}, "'nope' is not an operation of the contract"),
        (
            {"operation_id": "whoami.get", "status": 404},
            "status 404 is not documented for whoami.get",
        ),
        ({"error_rate": 2}, "must be at most 1"),
    ],
)
def test_bad_scenario_rules_are_rejected(
    client: TestClient, rule: dict[str, Any], message: str
) -> None:
    response = client.post("/_sandbox/faults", json=rule)
    assert response.status_code == 400
    assert message in response.json()["errors"][0]["description"]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Starlette, str]]:
    app = create_app(Config())
    with BackgroundServer(app) as server:
        yield app, server.url


@pytest.mark.parametrize("fault", ["close", "reset", "truncate"])
def test_faults_break_the_connection_and_change_nothing(
    served: tuple[Starlette, str], fault: str
) -> None:
    app, url = served
    before = app.state.sandbox.store.snapshot()
    with httpx.Client(base_url=url, headers={"Authorization": "Bearer t"}) as client:
        with pytest.raises(httpx.TransportError):
            client.post(CUSTOMER_CREDITS, json=CREATE, headers={"Prefer": f"fault={fault}"})
        # The server is still there, and nothing was stored.
        assert client.get(CUSTOMER_CREDITS).status_code == 200
        # The journal keeps the cut call, with the fault in place of a status.
        faulted, fetched = client.get("/_sandbox/journal").json()["data"][-2:]
    assert app.state.sandbox.store.snapshot() == before
    assert (faulted["operation_id"], faulted["status"], faulted["fault"]) == (POST_ID, None, fault)
    assert (faulted["business_id"], faulted["request_body"]) == (BUSINESS, None)
    assert (fetched["status"], fetched["fault"]) == (200, None)


def test_snapshot_changes_restore_is_byte_for_byte(client: TestClient) -> None:
    snapshot = client.get("/_sandbox/snapshot")
    client.post(CUSTOMER_CREDITS, json=CREATE)
    client.delete(f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000001")
    assert client.get("/_sandbox/snapshot").content != snapshot.content
    assert client.post("/_sandbox/restore", json=snapshot.json()["data"]).status_code == 200
    assert client.get("/_sandbox/snapshot").content == snapshot.content


def test_the_snapshot_response_is_accepted_back_as_it_came(client: TestClient) -> None:
    snapshot = client.get("/_sandbox/snapshot")
    client.post(CUSTOMER_CREDITS, json=CREATE)
    restored = client.post(
        "/_sandbox/restore", content=snapshot.content, headers={"Content-Type": "application/json"}
    )
    assert restored.status_code == 200, restored.text
    assert client.get("/_sandbox/snapshot").content == snapshot.content
    wrapped_wrong = {"data": {"format": "layer-sandbox-snapshot/1"}}
    response = client.post("/_sandbox/restore", json=wrapped_wrong)
    assert response.status_code == 400
    assert client.get("/_sandbox/snapshot").content == snapshot.content


def test_an_unreadable_snapshot_is_a_400_and_changes_nothing(client: TestClient) -> None:
    before = client.get("/_sandbox/snapshot").content
    broken = {"format": "layer-sandbox-snapshot/1", "businesses": {BUSINESS: {"business": {}}}}
    assert client.post("/_sandbox/restore", json=broken).status_code == 400
    garbage = client.get("/_sandbox/snapshot").json()["data"]
    garbage["businesses"][BUSINESS]["customer_credits"] = {"x": {"id": "x"}}
    response = client.post("/_sandbox/restore", json=garbage)
    assert response.status_code == 400
    assert "the snapshot cannot be read" in response.json()["errors"][0]["description"]
    assert client.get("/_sandbox/snapshot").content == before


def _run_twice_with_frozen_clock_and_seed() -> list[bytes]:
    app = create_app(Config())
    bodies = []
    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        client.post("/_sandbox/clock", json={"action": "freeze", "at": "2024-06-01T12:00:00Z"})
        client.post("/_sandbox/ids", json={"seed": 42})
        for _ in range(2):
            client.post("/_sandbox/reset")
            created = client.post(CUSTOMER_CREDITS, json=CREATE).content
            listed = client.get(CUSTOMER_CREDITS).content
            bodies.append(created + listed)
    return bodies


def test_frozen_clock_and_seed_make_runs_identical() -> None:
    first = _run_twice_with_frozen_clock_and_seed()
    assert first[0] == first[1]  # reset restarts the id sequence
    assert first == _run_twice_with_frozen_clock_and_seed()  # and a new sandbox gives the same
    assert b'"created_at":"2024-06-01T12:00:00Z"' in first[0]


def test_clock_advance_moves_timestamps(client: TestClient) -> None:
    client.post("/_sandbox/clock", json={"action": "freeze", "at": "2024-06-01T12:00:00Z"})
    try:
        created = client.post(CUSTOMER_CREDITS, json=CREATE).json()["data"]
        client.post("/_sandbox/clock", json={"action": "advance", "seconds": 3600})
        url = f"{CUSTOMER_CREDITS}/{created['id']}"
        updated = client.patch(url, json={"memo": "later"}).json()["data"]
        assert (created["created_at"], updated["updated_at"]) == (
            "2024-06-01T12:00:00Z",
            "2024-06-01T13:00:00Z",
        )
        assert client.post("/_sandbox/clock", json={"action": "advance"}).status_code == 400
    finally:
        assert (
            client.post("/_sandbox/clock", json={"action": "real"}).json()["data"]["frozen"]
            is False
        )


def test_seeded_records_are_validated_and_usable(client: TestClient) -> None:
    customer = {
        "id": "c0000000-0000-4000-8000-000000000099",
        "business_id": BUSINESS,
        "external_id": "cust-099",
        "individual_name": None,
        "company_name": "Seeded Ltd",
        "email": None,
        "mobile_phone": None,
        "office_phone": None,
        "address_string": None,
        "memo": None,
        "status": "ACTIVE",
    }
    assert client.post("/_sandbox/records/customers", json=customer).status_code == 201
    body = {**CREATE, "customer_external_id": "cust-099", "allocations": []}
    del body["customer_id"]
    assert client.post(CUSTOMER_CREDITS, json=body).status_code == 201
    duplicate = client.post("/_sandbox/records/customers", json=customer)
    assert duplicate.status_code == 400
    assert (
        "/id: the id is used by an earlier record" in duplicate.json()["errors"][0]["description"]
    )
    broken = client.post("/_sandbox/records/customers", json={**customer, "id": "x"})
    assert "/id: must be a valid uuid" in broken.json()["errors"][0]["description"]


def test_records_take_the_plugins_defaults_and_report_every_violation(
    client: TestClient,
) -> None:
    seeded = client.post(
        "/_sandbox/records/customers", json={"external_id": "cust-900", "company_name": "Initrode"}
    )
    assert seeded.status_code == 201, seeded.text
    customer = seeded.json()["data"]
    assert (customer["business_id"], customer["status"], customer["email"]) == (
        BUSINESS,
        "ACTIVE",
        None,
    )
    invoice = client.post(
        "/_sandbox/records/invoices",
        json={"customer_id": customer["id"], "invoice_number": "INV-9000", "total_amount": 40000},
    )
    assert invoice.status_code == 201, invoice.text
    assert invoice.json()["data"]["outstanding_balance"] == 40000
    assert invoice.json()["data"]["status"] == "SENT"
    broken = client.post(
        "/_sandbox/records/invoices",
        json={"customer_id": 5, "invoice_number": 7, "total_amount": 100},
    )
    assert broken.status_code == 400
    assert [e["meta"]["pointer"] for e in broken.json()["errors"]] == [
        "/customer_id",
        "/invoice_number",
    ]
    unknown = client.post(
        "/_sandbox/records/invoices",
        json={"customer_id": UNKNOWN_ID, "invoice_number": "X", "total_amount": 100},
    )
    assert unknown.json()["errors"][0]["meta"]["pointer"] == "/customer_id"


def test_records_can_be_listed_fetched_changed_and_deleted(client: TestClient) -> None:
    records = "/_sandbox/records/customers"
    listed = client.get(records, params={"business_id": BUSINESS}).json()["data"]
    assert {c["business_id"] for c in listed} == {BUSINESS} and len(listed) == 4
    assert len(client.get(records).json()["data"]) == 6
    customer = client.post(records, json={"company_name": "Initrode"}).json()["data"]
    one = f"{records}/{customer['id']}"
    assert client.get(one).json()["data"] == customer
    changed = client.patch(one, json={"email": "ap@initrode.example", "external_id": "cust-901"})
    assert changed.status_code == 200, changed.text
    assert client.get(one).json()["data"]["email"] == "ap@initrode.example"
    # The new external_id names the customer in a credit; the old (none) is gone.
    body = {**CREATE, "customer_external_id": "cust-901", "allocations": []}
    del body["customer_id"]
    assert client.post(CUSTOMER_CREDITS, json=body).status_code == 201
    taken = client.patch(one, json={"external_id": "cust-001"})
    assert taken.status_code == 400
    assert taken.json()["errors"][0]["meta"]["pointer"] == "/external_id"
    bad = client.patch(one, json={"email": 5, "status": "GONE"})
    assert [e["meta"]["pointer"] for e in bad.json()["errors"]] == ["/email", "/status"]
    # Referenced by the credit just created: not deletable.
    referenced = client.delete(one)
    assert referenced.status_code == 400
    assert (
        "still referred to by customer_credits record"
        in referenced.json()["errors"][0]["description"]
    )
    lonely = client.post(records, json={"company_name": "Lonely"}).json()["data"]
    assert client.delete(f"{records}/{lonely['id']}").status_code == 200
    assert client.get(f"{records}/{lonely['id']}").status_code == 404
    assert client.patch(f"{records}/{lonely['id']}", json={}).status_code == 404
    client.post("/_sandbox/reset")
    assert client.get(one).status_code == 404


def test_journal_lists_filters_and_clears(client: TestClient) -> None:
    client.delete("/_sandbox/journal")
    client.get(CUSTOMER_CREDITS)
    client.post(CUSTOMER_CREDITS, json={"line_items": []})
    rejected = client.get("/_sandbox/journal", params={"off_contract": "true"}).json()["data"]
    assert [(e["operation_id"], e["status"]) for e in rejected] == [(POST_ID, 400)]
    assert rejected[0]["response_body"]["errors"]
    assert client.delete("/_sandbox/journal").json() == {"data": {"cleared": 2}}
    assert client.get("/_sandbox/journal").json() == {"data": []}


def test_faults_can_be_configured_at_start_up() -> None:
    rule = {"operation_id": POST_ID, "fail_next": 1, "status": 500}
    app = create_app(Config(faults=(rule,)))
    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        assert client.post(CUSTOMER_CREDITS, json=CREATE).status_code == 500
        assert client.post(CUSTOMER_CREDITS, json=CREATE).status_code == 201


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"fail_next": -1},
            "fault rule 0 ({'fail_next': -1}): body /fail_next: must be at least 0",
        ),
        ({"operation_id": "x"}, "'x' is not an operation of the contract"),
    ],
)
def test_a_bad_configured_fault_stops_start_up(rule: dict[str, Any], message: str) -> None:
    from mockserver.errors import SpecError

    with pytest.raises(SpecError) as caught:
        create_app(Config(faults=(rule,)))
    assert message in str(caught.value)


def test_the_clock_advances_by_days_as_the_plugin_does(client: TestClient) -> None:
    client.post("/_sandbox/clock", json={"action": "freeze", "at": "2024-06-01T12:00:00Z"})
    moved = client.post("/_sandbox/clock", json={"action": "advance", "days": 2, "hours": 1})
    assert moved.status_code == 200, moved.text
    assert moved.json()["data"]["now"] == "2024-06-03T13:00:00Z"
    empty = client.post("/_sandbox/clock", json={"action": "advance"})
    assert "`seconds`, `minutes`, `hours` or `days`" in empty.json()["errors"][0]["description"]
    too_far = client.post("/_sandbox/clock", json={"action": "advance", "days": 3650, "hours": 1})
    assert too_far.status_code == 400
    client.post("/_sandbox/clock", json={"action": "real"})
