"""The pytest plugin's webhook capture: ``layer_sandbox.events()`` and ``assert_event()``."""

from collections.abc import Iterator

import pytest

from mockserver import Config
from mockserver.plugin.testing import LayerSandbox, SandboxHarness

SALES = {"type": "StableName", "stable_name": "SALES"}
pytest_plugins = ["pytester"]


@pytest.fixture(scope="module", params=["inprocess", "socket"])
def harness(request: pytest.FixtureRequest) -> Iterator[SandboxHarness]:
    with SandboxHarness(Config(), mode=request.param) as harness:
        yield harness


@pytest.fixture
def sandbox(harness: SandboxHarness) -> Iterator[LayerSandbox]:
    handle = harness.begin_test()
    yield handle
    handle.close()


def create(sandbox: LayerSandbox, external_id: str | None = None) -> str:
    response = sandbox.client().post(
        f"/v1/businesses/{sandbox.business_id}/invoices/customer-credits",
        json={
            "customer_external_id": "cust-001",
            "line_items": [{"amount": 100, "revenue_account_identifier": SALES}],
            **({"external_id": external_id} if external_id else {}),
        },
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["data"]["id"])


def test_events_are_captured_without_a_subscriber(sandbox: LayerSandbox) -> None:
    assert sandbox.events() == []
    first = create(sandbox, "ext-1")
    create(sandbox, "ext-1")  # same external_id: an update
    second = create(sandbox)
    # Read at once after the answers: nothing is lost to the hand-over after the response.
    assert [(e["type"], e["data"]["entity_id"]) for e in sandbox.events()] == [
        ("CustomerCredit.created", first),
        ("CustomerCredit.updated", first),
        ("CustomerCredit.created", second),
    ]
    assert len(sandbox.events(type="CustomerCredit.updated")) == 1
    event = sandbox.assert_event("CustomerCredit.created", entity_id=second)
    assert event["data"] == {"entity_id": second, "entity_external_id": None}
    sandbox.assert_event(
        "CustomerCredit.updated", entity_external_id="ext-1", business_id=sandbox.business_id
    )


def test_events_start_empty_in_every_test(harness: SandboxHarness) -> None:
    handle = harness.begin_test()
    create(handle)
    assert len(handle.events()) == 1
    handle.close()
    following = harness.begin_test()
    assert following.events() == []
    following.close()


def test_assert_event_failure_lists_the_events_seen(sandbox: LayerSandbox) -> None:
    with pytest.raises(AssertionError, match="this test emitted no events"):
        sandbox.assert_event("CustomerCredit.created")
    credit = create(sandbox, "ext-9")
    with pytest.raises(AssertionError) as failure:
        sandbox.assert_event("CustomerCredit.archived", entity_id=credit)
    message = str(failure.value)
    assert message.startswith(
        f"expected an event CustomerCredit.archived entity_id={credit!r}, but none of the 1 "
        "emitted matches:\n"
    )
    assert (
        f"1. CustomerCredit.created entity_id={credit!r} entity_external_id='ext-9' "
        f"business_id={sandbox.business_id!r}"
    ) in message


def test_assert_event_refuses_unknown_types_and_fields(sandbox: LayerSandbox) -> None:
    with pytest.raises(ValueError, match=r"Did you mean 'CustomerCredit\.created'"):
        sandbox.assert_event("CustomerCredit.create")
    with pytest.raises(ValueError, match="cannot match on amount; use any of business_external_id"):
        sandbox.assert_event("CustomerCredit.created", amount=1)
    with pytest.raises(ValueError, match="not an event type"):
        sandbox.events(type="Credit.created")


def test_the_fixture_captures_events_in_a_users_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        SALES = {"type": "StableName", "stable_name": "SALES"}

        def test_delete_announces_archived(layer_sandbox):
            client = layer_sandbox.client()
            url = f"/v1/businesses/{layer_sandbox.business_id}/invoices/customer-credits"
            created = client.post(url, json={
                "customer_external_id": "cust-001",
                "line_items": [{"amount": 100, "revenue_account_identifier": SALES}],
            }).json()["data"]
            client.delete(f"{url}/{created['id']}")
            layer_sandbox.assert_event("CustomerCredit.archived", entity_id=created["id"])

        def test_wrong_expectation_fails(layer_sandbox):
            layer_sandbox.assert_event("VendorCredit.created")
        """
    )
    result = pytester.runpytest_inprocess("--layer-sandbox-mode=inprocess")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: expected an event VendorCredit.created, but this test emitted no events."
        ]
    )
