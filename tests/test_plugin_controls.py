"""The pytest plugin exposes the test controls: clock, faults, ids, snapshot and restore."""

from typing import Any

import httpx
import pytest
from conftest import CUSTOMER_CREDITS

from mockserver.plugin.testing import LayerSandbox

POST_ID = "business.invoices.customer-credits.post"
CREATE: dict[str, Any] = {
    "customer_id": "c0000000-0000-4000-8000-000000000001",
    "line_items": [
        {
            "amount": 300,
            "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
        }
    ],
}


def test_freeze_and_advance_time(layer_sandbox: LayerSandbox) -> None:
    layer_sandbox.freeze_time("2024-06-01T12:00:00Z")
    client = layer_sandbox.client()
    created = client.post(CUSTOMER_CREDITS, json=CREATE).json()["data"]
    layer_sandbox.advance_time(days=1)
    deleted = client.delete(f"{CUSTOMER_CREDITS}/{created['id']}").json()["data"]
    assert (created["created_at"], deleted["deleted_at"]) == (
        "2024-06-01T12:00:00Z",
        "2024-06-02T12:00:00Z",
    )
    with pytest.raises(ValueError, match="not an RFC 3339 date-time"):
        layer_sandbox.freeze_time("June")


def test_fail_next_then_succeed_without_side_effects(layer_sandbox: LayerSandbox) -> None:
    layer_sandbox.fail_next(POST_ID, times=2, status=503)
    client = layer_sandbox.client()
    statuses = [client.post(CUSTOMER_CREDITS, json=CREATE).status_code for _ in range(3)]
    assert statuses == [503, 503, 201]
    layer_sandbox.assert_called(POST_ID, times=1, status=201)
    with pytest.raises(ValueError, match="is not an operation of the contract"):
        layer_sandbox.fail_next("no.such.operation")


def test_a_dropped_connection_is_journaled_and_shown_in_the_diff(
    layer_sandbox: LayerSandbox,
) -> None:
    layer_sandbox.add_fault(operation_id=POST_ID, fail_next=1, fault="reset")
    client = layer_sandbox.client()
    # Over a socket the connection is reset; in-process the call raises ConnectionResetError.
    with pytest.raises((httpx.TransportError, ConnectionResetError)):
        client.post(CUSTOMER_CREDITS, json=CREATE)
    assert client.post(CUSTOMER_CREDITS, json=CREATE).status_code == 201  # the client's retry
    cut, retried = layer_sandbox.calls(POST_ID)
    assert (cut.status, cut.fault, retried.status, retried.fault) == (None, "reset", 201, None)
    layer_sandbox.assert_called(POST_ID, times=1, status=201)
    with pytest.raises(AssertionError) as failure:
        layer_sandbox.assert_called(POST_ID, times=3)
    assert f"POST {CUSTOMER_CREDITS} -> fault=reset ({POST_ID})" in str(failure.value)
    assert f"Calls to {POST_ID} by status: 201 x1, fault=reset x1." in str(failure.value)


def test_seeded_ids_and_snapshot_restore(layer_sandbox: LayerSandbox) -> None:
    client = layer_sandbox.client()
    snapshot = layer_sandbox.snapshot()
    layer_sandbox.seed_ids(5)
    first = client.post(CUSTOMER_CREDITS, json=CREATE).json()["data"]["id"]
    layer_sandbox.restore(snapshot)
    layer_sandbox.seed_ids(5)
    assert client.post(CUSTOMER_CREDITS, json=CREATE).json()["data"]["id"] == first
    layer_sandbox.restore(snapshot)
    assert layer_sandbox.snapshot() == snapshot


def test_controls_are_undone_for_the_next_test(layer_sandbox: LayerSandbox) -> None:
    # Runs after the tests above: no frozen clock, no fault rules are left over.
    assert not layer_sandbox.sandbox.store.clock.frozen
    assert layer_sandbox.sandbox.scenarios.rules() == []
    assert layer_sandbox.client().post(CUSTOMER_CREDITS, json=CREATE).status_code == 201
