"""The test-facing harness: seed helpers validate like fixtures, and every test starts clean."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from mockserver import Config, FixtureError
from mockserver.plugin.testing import LayerSandbox, SandboxHarness

SALES = {"type": "StableName", "stable_name": "SALES"}


@pytest.fixture(scope="module")
def harness() -> Iterator[SandboxHarness]:
    with SandboxHarness(Config(), mode="inprocess") as harness:
        yield harness


@pytest.fixture
def sandbox(harness: SandboxHarness) -> Iterator[LayerSandbox]:
    handle = harness.begin_test()
    yield handle
    handle.close()


def credits_url(sandbox: LayerSandbox) -> str:
    return f"/v1/businesses/{sandbox.business_id}/invoices/customer-credits"


def test_seeded_records_are_usable_over_http_until_the_next_test(
    harness: SandboxHarness, sandbox: LayerSandbox
) -> None:
    customer = sandbox.add_customer(external_id="cust-900", company_name="Initrode")
    assert customer["status"] == "ACTIVE" and customer["email"] is None
    invoice = sandbox.add_invoice(
        customer_id=customer["id"], invoice_number="INV-9000", total_amount=4000
    )
    assert invoice["outstanding_balance"] == 4000
    created = sandbox.client().post(
        credits_url(sandbox),
        json={
            "customer_external_id": "cust-900",
            "line_items": [{"amount": 1000, "revenue_account_identifier": SALES}],
            "allocations": [{"amount": 1000, "invoice_id": invoice["id"]}],
        },
    )
    assert created.status_code == 201, created.text
    [stored] = [i for i in sandbox.state["invoices"] if i["id"] == invoice["id"]]
    assert stored["outstanding_balance"] == 3000
    later = harness.begin_test()
    assert invoice["id"] not in [i["id"] for i in later.state["invoices"]]


@pytest.mark.parametrize(
    ("helper", "fields", "message"),
    [
        (
            "add_customer",
            {"status": "GONE"},
            r"customers record \(id .+\): /status: must be one of: ACTIVE, ARCHIVED",
        ),
        ("add_customer", {"colour": "red"}, r"customers record \(id .+\): /colour: "),
        (
            "add_vendor",
            {"external_id": "vend-001"},
            r"/external_id: 'vend-001' is already used in this business",
        ),
        (
            "add_invoice",
            {
                "customer_id": "c0000000-0000-4000-8000-0000000000ff",
                "invoice_number": "X",
                "total_amount": 1,
            },
            r"/customer_id: no customer c0000000-0000-4000-8000-0000000000ff in business",
        ),
        (
            "add_bill",
            {"vendor_id": "d0000000-0000-4000-8000-000000000001"},
            r"bills record \(id .+\): /bill_number: 'bill_number' is required",
        ),
        (
            "add_ledger_account",
            {"id": "a0000000-0000-4000-8000-000000000001", "name": "Dup", "normality": "CREDIT"},
            r"/id: the id is used by an earlier record",
        ),
        (
            "add_tag_dimension",
            {"key": "department"},
            r"/key: 'department' is the key of live tag dimension 7a000000-",
        ),
        (
            "add_tag_dimension",
            {"key": "size", "defined_values": [{"value": "s"}, {"value": "s"}]},
            r"/defined_values/1/value: 's' is defined twice",
        ),
    ],
)
def test_seed_helpers_reject_what_a_fixture_file_would(
    sandbox: LayerSandbox, helper: str, fields: dict[str, object], message: str
) -> None:
    if helper == "add_ledger_account":
        fields = {
            **fields,
            "account_type": {"value": "REVENUE", "display_name": "Revenue"},
            "account_subtype": {"value": "SALES", "display_name": "Sales"},
        }
    with pytest.raises(FixtureError, match=message):
        getattr(sandbox, helper)(**fields)


def test_each_test_gets_the_real_clock_no_faults_and_its_own_requests(
    harness: SandboxHarness,
) -> None:
    first = harness.begin_test()
    first.sandbox.store.clock.freeze(datetime(2020, 1, 1, tzinfo=UTC))
    first.sandbox.scenarios.add({"operation_id": "whoami.get", "fail_next": 5, "status": 503})
    first.client().get("/whoami")
    second = harness.begin_test()
    assert not second.sandbox.store.clock.frozen
    assert second.client().get("/whoami").status_code == 200
    assert [(r.path, r.status) for r in second.requests] == [("/whoami", 200)]
    assert [(r.path, r.status) for r in first.requests] == [("/whoami", 503), ("/whoami", 200)]
