"""Customers, vendors, invoices, bills and their payments over HTTP.

Every response is checked twice against openapi/layer-credits.yaml: by the sandbox's own strict
response check and by openapi-core (the ``client`` fixture's hook). The fixture records named
here are listed in the README's fixture tables; balances are after the fixture payments and
credit allocations.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest
from conftest import BUSINESS, OTHER_BUSINESS, independently_validate
from starlette.testclient import TestClient

from mockserver import Config, create_app
from mockserver.serving.server import BackgroundServer

ROOT = f"/v1/businesses/{BUSINESS}"
CUSTOMERS = f"{ROOT}/customers"
VENDORS = f"{ROOT}/vendors"
INVOICES = f"{ROOT}/invoices"
BILLS = f"{ROOT}/bills"
INVOICE_PAYMENTS = f"{ROOT}/invoices/payments"
BILL_PAYMENTS = f"{ROOT}/bills/bill-payments"
CUSTOMER_CREDITS = f"{ROOT}/invoices/customer-credits"

GLOBEX = "c0000000-0000-4000-8000-000000000001"  # cust-001
SCULLY = "c0000000-0000-4000-8000-000000000002"  # cust-002
INITECH = "c0000000-0000-4000-8000-000000000003"  # no external id
UMBRELLA = "c0000000-0000-4000-8000-000000000004"  # ARCHIVED
STARK = "c0000000-0000-4000-8000-000000000011"  # OTHER_BUSINESS
HOOLI = "d0000000-0000-4000-8000-000000000001"  # vend-001
PIED_PIPER = "d0000000-0000-4000-8000-000000000002"
INV_1001 = "e0000000-0000-4000-8000-000000000001"  # 50000, credit 5000: PARTIALLY_PAID
INV_1002 = "e0000000-0000-4000-8000-000000000002"  # 120000, paid 40000 + credit 10000
INV_1003 = "e0000000-0000-4000-8000-000000000003"  # 30000, SENT
INV_1004 = "e0000000-0000-4000-8000-000000000004"  # 20000, PAID
INV_1005 = "e0000000-0000-4000-8000-000000000005"  # 75000, SENT
INV_1006 = "e0000000-0000-4000-8000-000000000006"  # VOIDED
BB_0001 = "e0000000-0000-4000-8000-000000000011"  # OTHER_BUSINESS
BILL_1 = "f0000000-0000-4000-8000-000000000001"  # 60000, credit 8000
BILL_2 = "f0000000-0000-4000-8000-000000000002"  # 90000, paid 45000 + credit 5000
BILL_3 = "f0000000-0000-4000-8000-000000000003"  # 25000, RECEIVED
BILL_4 = "f0000000-0000-4000-8000-000000000004"  # 10000, PAID
BILL_5 = "f0000000-0000-4000-8000-000000000005"  # VOIDED
PAYMENT_1 = "1a000000-0000-4000-8000-000000000001"  # pay-ext-001, 40000 to INV-1002
PAYMENT_2 = "1a000000-0000-4000-8000-000000000002"  # 25000, 20000 to INV-1004
CREDIT_1 = "cc000000-0000-4000-8000-000000000001"  # 5000 to INV-1001
SALES = "a0000000-0000-4000-8000-000000000001"
SERVICES = "a0000000-0000-4000-8000-000000000002"


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def refused(response: httpx.Response, status: int = 400) -> list[dict[str, Any]]:
    """The errors of a refused request; every one names its pointer."""
    assert response.status_code == status, response.text
    errors = response.json()["errors"]
    assert errors and all(e["meta"]["pointer"] for e in errors)
    return errors  # type: ignore[no-any-return]


def text(errors: list[dict[str, Any]]) -> str:
    return " | ".join(e["description"] for e in errors)


def events_after(client: TestClient, mark: int) -> list[tuple[str, str]]:
    events = client.get("/_sandbox/events").json()["data"]
    return [(e["type"], e["data"]["entity_id"]) for e in events[mark:]]


def mark(client: TestClient) -> int:
    return len(client.get("/_sandbox/events").json()["data"])


def invoice_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": SCULLY,
        "sent_at": "2024-06-01T12:00:00Z",
        "line_items": [{"unit_price": 10000, "quantity": 1}],
    }
    body.update(fields)
    return body


def bill_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "vendor_id": HOOLI,
        "received_at": "2024-06-01T12:00:00Z",
        "line_items": [{"unit_price": 10000, "quantity": 1}],
    }
    body.update(fields)
    return body


def new_invoice(client: TestClient, amount: int = 10000, **fields: Any) -> dict[str, Any]:
    body = invoice_body(line_items=[{"unit_price": amount}], **fields)
    return ok(client.post(INVOICES, json=body), 201)


def credit_line(amount: int) -> dict[str, Any]:
    return {"amount": amount, "revenue_account_identifier": {"type": "AccountId", "id": SALES}}


def pay(client: TestClient, invoice_id: str, amount: int, **fields: Any) -> httpx.Response:
    body = {
        "method": "ACH",
        "amount": amount,
        "allocations": [{"invoice_id": invoice_id, "amount": amount}],
        **fields,
    }
    return client.post(INVOICE_PAYMENTS, json=body)


# --------------------------------------------------------------------------- customers


def test_customer_upsert_by_external_id_is_201_then_200(client: TestClient) -> None:
    since = mark(client)
    created = ok(client.post(CUSTOMERS, json={"external_id": "crm-77", "email": "a@x.test"}), 201)
    assert created["type"] == "CustomerData"
    assert created["status"] == "ACTIVE" and created["email"] == "a@x.test"
    again = client.post(CUSTOMERS, json={"external_id": "crm-77", "company_name": "Vandelay"})
    updated = ok(again, 200)
    assert updated["id"] == created["id"]
    # Fields given replace, fields left out keep their value.
    assert updated["company_name"] == "Vandelay" and updated["email"] == "a@x.test"
    assert ok(client.get(f"{CUSTOMERS}/{created['id']}")) == updated
    assert events_after(client, since) == [
        ("Customer.created", created["id"]),
        ("Customer.updated", created["id"]),
    ]


def test_a_customer_without_external_id_is_always_new(client: TestClient) -> None:
    first = ok(client.post(CUSTOMERS, json={"individual_name": "Kramer"}), 201)
    second = ok(client.post(CUSTOMERS, json={"individual_name": "Kramer"}), 201)
    assert first["id"] != second["id"] and first["external_id"] is None


def test_customer_list_filters(client: TestClient) -> None:
    def ids(**query: Any) -> set[str]:
        return {c["id"] for c in ok(client.get(CUSTOMERS, params=query))}

    assert ids() == {GLOBEX, SCULLY, INITECH}  # UMBRELLA is archived
    assert ids(include_archived="true") == {GLOBEX, SCULLY, INITECH, UMBRELLA}
    assert ids(external_id="cust-002") == {SCULLY}
    assert ids(external_id_contains="CUST-00") == {GLOBEX, SCULLY}
    assert ids(name="Initech") == {INITECH}
    assert ids(name="Bill Lumbergh") == {INITECH}
    assert ids(name="initech") == set()  # exact
    assert ids(name_contains="SCUL") == {SCULLY}
    assert ids(name_contains="umbrella", include_archived="true") == {UMBRELLA}
    assert STARK not in ids(include_archived="true")  # another business's customer


def test_archiving_a_customer_by_patch(client: TestClient) -> None:
    since = mark(client)
    archived = ok(client.patch(f"{CUSTOMERS}/{SCULLY}", json={"status": "ARCHIVED"}))
    assert archived["status"] == "ARCHIVED" and archived["email"] == "dana.scully@example.com"
    assert SCULLY not in {c["id"] for c in ok(client.get(CUSTOMERS))}
    assert ok(client.get(f"{CUSTOMERS}/{SCULLY}"))["status"] == "ARCHIVED"  # still fetches
    errors = refused(client.post(INVOICES, json=invoice_body()))
    assert errors[0]["meta"]["pointer"] == "/customer_id"
    assert "archived" in text(errors)
    credit = {"customer_id": SCULLY, "line_items": [credit_line(100)]}
    assert "archived" in text(refused(client.post(CUSTOMER_CREDITS, json=credit)))
    ok(client.patch(f"{CUSTOMERS}/{SCULLY}", json={"status": "ACTIVE"}))
    ok(client.post(INVOICES, json=invoice_body()), 201)
    assert events_after(client, since)[:2] == [
        ("Customer.archived", SCULLY),
        ("Customer.updated", SCULLY),
    ]


def test_customer_patch_null_clears_and_external_id_stays_unique(client: TestClient) -> None:
    cleared = ok(client.patch(f"{CUSTOMERS}/{GLOBEX}", json={"memo": None}))
    assert cleared["memo"] is None and cleared["company_name"] == "Globex Corporation"
    errors = refused(client.patch(f"{CUSTOMERS}/{GLOBEX}", json={"external_id": "cust-002"}))
    assert errors[0]["meta"]["pointer"] == "/external_id" and SCULLY in text(errors)


def test_unknown_customer_is_404_and_another_business_sees_none(client: TestClient) -> None:
    missing = str(uuid.uuid4())
    refused(client.get(f"{CUSTOMERS}/{missing}"), 404)
    refused(client.patch(f"{CUSTOMERS}/{missing}", json={"memo": "x"}), 404)
    refused(client.get(f"/v1/businesses/{OTHER_BUSINESS}/customers/{GLOBEX}"), 404)


# --------------------------------------------------------------------------- vendors


def test_vendor_upsert_put_replaces_and_archives(client: TestClient) -> None:
    created = ok(client.post(VENDORS, json={"external_id": "v-9", "email": "v@x.test"}), 201)
    assert ok(client.post(VENDORS, json={"external_id": "v-9"}), 200)["id"] == created["id"]
    url = f"{VENDORS}/{created['id']}"
    since = mark(client)
    replaced = ok(client.put(url, json={"external_id": "v-9", "company_name": "Kruger"}))
    # PUT replaces: the email left out is cleared.
    assert replaced["email"] is None and replaced["company_name"] == "Kruger"
    archived = ok(client.put(url, json={"external_id": "v-9", "status": "ARCHIVED"}))
    assert archived["status"] == "ARCHIVED"
    assert created["id"] not in {v["id"] for v in ok(client.get(VENDORS))}
    listed = ok(client.get(VENDORS, params={"include_archived": "true"}))
    assert created["id"] in {v["id"] for v in listed}
    assert ok(client.get(url))["status"] == "ARCHIVED"
    assert events_after(client, since) == [
        ("Vendor.updated", created["id"]),
        ("Vendor.archived", created["id"]),
    ]
    errors = refused(client.post(BILLS, json=bill_body(vendor_id=created["id"])))
    assert "archived" in text(errors)


def test_vendor_put_of_unknown_vendor_is_404(client: TestClient) -> None:
    refused(client.put(f"{VENDORS}/{uuid.uuid4()}", json={"company_name": "x"}), 404)


# --------------------------------------------------------------------------- invoices


def test_invoice_money_arithmetic(client: TestClient) -> None:
    body = invoice_body(
        line_items=[
            {
                "unit_price": 1299,
                "quantity": 3,
                "discount_amount": 100,
                "sales_taxes": [{"amount": 250}, {"amount": 50}],
            },
            {
                "unit_price": 5000,
                "account_identifier": {"type": "StableName", "stable_name": "SERVICES_REVENUE"},
            },
        ],
        additional_discount=500,
        additional_sales_taxes=[{"amount": 120}],
        tips=1000,
    )
    invoice = ok(client.post(INVOICES, json=body), 201)
    first, second = invoice["line_items"]
    assert (first["subtotal"], first["sales_taxes_total"], first["total_amount"]) == (
        3897,
        300,
        3897 - 100 + 300,
    )
    assert second["total_amount"] == 5000
    assert first["ledger_account"]["id"]["id"] == SALES  # the default account
    assert second["ledger_account"]["id"]["id"] == SERVICES
    assert invoice["subtotal"] == 4097 + 5000
    assert invoice["total_amount"] == 4097 + 5000 - 500 + 120 + 1000
    assert invoice["outstanding_balance"] == invoice["total_amount"]
    assert invoice["status"] == "SENT" and invoice["payment_allocations"] == []


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"line_items": [{"unit_price": 100, "discount_amount": 101}]}, "/line_items/0"),
        ({"line_items": [{"unit_price": 100}], "additional_discount": 101}, "/additional_discount"),
    ],
)
def test_a_total_below_zero_is_400(client: TestClient, fields: Any, pointer: str) -> None:
    errors = refused(client.post(INVOICES, json=invoice_body(**fields)))
    assert errors[0]["meta"]["pointer"].startswith(pointer)


def test_fixture_invoices_carry_derived_balances_and_statuses(client: TestClient) -> None:
    expected = {
        INV_1001: ("PARTIALLY_PAID", 50000, 45000),
        INV_1002: ("PARTIALLY_PAID", 120000, 70000),
        INV_1003: ("SENT", 30000, 30000),
        INV_1004: ("PAID", 20000, 0),
        INV_1005: ("SENT", 75000, 75000),
        INV_1006: ("VOIDED", 18000, 0),
    }
    listed = {i["id"]: i for i in ok(client.get(INVOICES))}
    for invoice_id, (status, total, balance) in expected.items():
        invoice = listed[invoice_id]
        assert (invoice["status"], invoice["total_amount"], invoice["outstanding_balance"]) == (
            status,
            total,
            balance,
        ), invoice_id
    assert listed[INV_1004]["paid_at"] == "2024-01-30T09:00:00Z"


def test_invoice_by_unknown_customer_external_id_creates_the_customer(client: TestClient) -> None:
    since = mark(client)
    body = invoice_body(customer_id=None, customer_external_id="crm-new-1", external_id="i-1")
    del body["customer_id"]
    invoice = ok(client.post(INVOICES, json=body), 201)
    customers = ok(client.get(CUSTOMERS, params={"external_id": "crm-new-1"}))
    assert [c["id"] for c in customers] == [invoice["customer"]["id"]]
    assert events_after(client, since) == [
        ("Customer.created", invoice["customer"]["id"]),
        ("Invoice.created", invoice["id"]),
    ]
    # A known external id names the existing customer; a repeat is the 200 upsert.
    body["line_items"] = [{"unit_price": 700}]
    again = ok(client.post(INVOICES, json=body), 200)
    assert again["id"] == invoice["id"] and again["total_amount"] == 700
    assert len(ok(client.get(CUSTOMERS, params={"external_id": "crm-new-1"}))) == 1


def test_invoice_customer_must_be_named_and_known(client: TestClient) -> None:
    body = invoice_body()
    del body["customer_id"]
    assert refused(client.post(INVOICES, json=body), 404)[0]["meta"]["pointer"] == "/customer_id"
    unknown = invoice_body(customer_id=str(uuid.uuid4()))
    refused(client.post(INVOICES, json=unknown), 404)
    both = invoice_body(customer_external_id="cust-001")  # customer_id is SCULLY
    assert "different" in text(refused(client.post(INVOICES, json=both)))


def test_invoice_list_filters(client: TestClient) -> None:
    def ids(**query: Any) -> set[str]:
        return {i["id"] for i in ok(client.get(INVOICES, params=query))}

    assert ids(customer_id=GLOBEX) == {INV_1001, INV_1002}
    assert ids(status="SENT") == {INV_1003, INV_1005}
    assert ids(status="PAID,VOIDED") == {INV_1004, INV_1006}
    assert ids(sent_at_start="2024-03-01T00:00:00Z") == {INV_1005, INV_1006}
    assert ids(sent_at_end="2024-01-31T00:00:00Z") == {INV_1001, INV_1004}
    assert ids(due_at_start="2024-03-31T00:00:00Z", due_at_end="2024-04-01T00:00:00Z") == {INV_1005}


def test_status_follows_payments_through_to_paid(client: TestClient) -> None:
    invoice = new_invoice(client, 10000)
    url = f"{INVOICES}/{invoice['id']}"
    ok(pay(client, invoice["id"], 4000, at="2024-06-10T00:00:00Z"), 201)
    after = ok(client.get(url))
    assert (after["status"], after["outstanding_balance"], after["paid_at"]) == (
        "PARTIALLY_PAID",
        6000,
        None,
    )
    payment = ok(pay(client, invoice["id"], 6000, at="2024-07-01T00:00:00Z"), 201)
    after = ok(client.get(url))
    assert (after["status"], after["outstanding_balance"]) == ("PAID", 0)
    assert after["paid_at"] == "2024-07-01T00:00:00Z"
    assert [a["payment_id"] for a in after["payment_allocations"]][-1] == payment["id"]


def test_an_overpaying_payment_is_400_naming_invoice_and_balance(client: TestClient) -> None:
    since = mark(client)
    errors = refused(pay(client, INV_1001, 45001))
    assert errors[0]["meta"]["pointer"] == "/allocations/0/amount"
    assert INV_1001 in text(errors) and "45000 cents outstanding" in text(errors)
    assert ok(client.get(f"{INVOICES}/{INV_1001}"))["outstanding_balance"] == 45000
    assert events_after(client, since) == []  # nothing changed
    ok(pay(client, INV_1001, 45000), 201)
    assert ok(client.get(f"{INVOICES}/{INV_1001}"))["status"] == "PAID"


def test_two_allocations_to_one_invoice_add_up_against_its_balance(client: TestClient) -> None:
    body = {
        "method": "CASH",
        "amount": 30000,
        "allocations": [
            {"invoice_id": INV_1003, "amount": 20000},
            {"invoice_id": INV_1003, "amount": 10001},
        ],
    }
    errors = refused(client.post(INVOICE_PAYMENTS, json=body))
    assert errors[0]["meta"]["pointer"] == "/allocations/1/amount"


def test_payment_allocations_and_unapplied_amount(client: TestClient) -> None:
    since = mark(client)
    body = {
        "external_id": "pay-split",
        "method": "CHECK",
        "amount": 50000,
        "reference_number": "CHK-1",
        "allocations": [
            {"invoice_id": INV_1003, "amount": 30000},
            {"invoice_id": INV_1005, "amount": 15000},
        ],
    }
    payment = ok(client.post(INVOICE_PAYMENTS, json=body), 201)
    assert payment["unapplied_amount"] == 5000
    assert [(a["invoice_id"], a["amount"]) for a in payment["allocations"]] == [
        (INV_1003, 30000),
        (INV_1005, 15000),
    ]
    assert all(a["payment_id"] == payment["id"] for a in payment["allocations"])
    assert ok(client.get(f"{INVOICES}/{INV_1003}"))["status"] == "PAID"
    assert ok(client.get(f"{INVOICES}/{INV_1005}"))["outstanding_balance"] == 60000
    assert events_after(client, since) == [
        ("InvoicePayment.created", payment["id"]),
        ("Invoice.updated", INV_1003),
        ("Invoice.updated", INV_1005),
    ]
    # The same external_id answers 200 with the payment as recorded, whatever the body.
    again = ok(client.post(INVOICE_PAYMENTS, json={**body, "amount": 1}), 200)
    assert again == payment
    assert ok(client.get(f"{INVOICE_PAYMENTS}/{payment['id']}")) == payment
    listed = ok(client.get(INVOICE_PAYMENTS, params={"invoice_id": INV_1005}))
    assert [p["id"] for p in listed] == [payment["id"]]


def test_allocations_over_the_payment_amount_are_400(client: TestClient) -> None:
    body = {
        "method": "ACH",
        "amount": 100,
        "allocations": [{"invoice_id": INV_1003, "amount": 101}],
    }
    errors = refused(client.post(INVOICE_PAYMENTS, json=body))
    assert errors[0]["meta"]["pointer"] == "/allocations"


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"method": "BARTER"}, "/method"),
        ({"amount": 0}, "/amount"),
    ],
)
def test_payment_method_and_amount_are_checked(
    client: TestClient, change: dict[str, Any], pointer: str
) -> None:
    body = {"method": "ACH", "amount": 100, "allocations": [], **change}
    errors = refused(client.post(INVOICE_PAYMENTS, json=body))
    assert pointer in {e["meta"]["pointer"] for e in errors}


@pytest.mark.parametrize(
    "method", ["CASH", "CHECK", "CREDIT_CARD", "ACH", "CREDIT_BALANCE", "OTHER"]
)
def test_every_payment_method_is_taken(client: TestClient, method: str) -> None:
    payment = ok(client.post(INVOICE_PAYMENTS, json={"method": method, "amount": 5}), 201)
    assert payment["method"] == method and payment["unapplied_amount"] == 5
    assert payment["at"]  # defaults to now


def test_payments_name_invoices_of_the_same_business(client: TestClient) -> None:
    errors = refused(pay(client, BB_0001, 100), 404)
    assert errors[0]["meta"]["pointer"] == "/allocations/0/invoice_id"
    refused(client.get(f"{INVOICE_PAYMENTS}/{uuid.uuid4()}"), 404)


def test_a_voided_invoice_takes_no_payment_credit_or_update(client: TestClient) -> None:
    assert "voided" in text(refused(pay(client, INV_1006, 100)))
    credit = {
        "customer_id": INITECH,
        "line_items": [credit_line(100)],
        "allocations": [{"invoice_id": INV_1006, "amount": 100}],
    }
    assert "voided" in text(refused(client.post(CUSTOMER_CREDITS, json=credit)))
    assert "voided" in text(refused(client.patch(f"{INVOICES}/{INV_1006}", json={"memo": "x"})))
    voided = ok(client.get(f"{INVOICES}/{INV_1006}"))
    assert (voided["status"], voided["outstanding_balance"]) == ("VOIDED", 0)


def test_voiding_an_open_invoice(client: TestClient) -> None:
    since = mark(client)
    voided = ok(client.post(f"{INVOICES}/{INV_1003}/void"))
    assert (voided["status"], voided["outstanding_balance"]) == ("VOIDED", 0)
    assert voided["voided_at"] is not None
    assert events_after(client, since) == [("Invoice.updated", INV_1003)]
    # Voiding again answers the voided invoice as it is.
    assert ok(client.post(f"{INVOICES}/{INV_1003}/void"))["voided_at"] == voided["voided_at"]


def test_voiding_an_invoice_with_payments_or_credits_lists_them(client: TestClient) -> None:
    errors = refused(client.post(f"{INVOICES}/{INV_1002}/void"))
    described = text(errors)
    assert PAYMENT_1 in described and "cc000000-0000-4000-8000-000000000003" in described
    assert sorted(e["meta"]["amount"] for e in errors) == [10000, 40000]
    assert ok(client.get(f"{INVOICES}/{INV_1002}"))["status"] == "PARTIALLY_PAID"
    refused(client.post(f"{INVOICES}/{uuid.uuid4()}/void"), 404)


def test_patch_recomputes_and_may_not_go_below_what_is_held(client: TestClient) -> None:
    # INV-1002 holds 40000 paid + 10000 credited.
    url = f"{INVOICES}/{INV_1002}"
    errors = refused(client.patch(url, json={"line_items": [{"unit_price": 49999}]}))
    assert "50000 cents" in text(errors) and INV_1002 in text(errors)
    patched = ok(
        client.patch(url, json={"line_items": [{"unit_price": 50000}], "additional_discount": 0})
    )
    assert patched["additional_sales_taxes_total"] == 2000
    assert patched["total_amount"] == 52000 and patched["outstanding_balance"] == 2000
    assert patched["status"] == "PARTIALLY_PAID" and patched["memo"] == "Spring restock, 3 lines"
    paid = ok(client.patch(url, json={"additional_sales_taxes": []}))
    assert (paid["total_amount"], paid["status"]) == (50000, "PAID")


def test_patch_cannot_move_a_paid_invoice_to_another_customer(client: TestClient) -> None:
    errors = refused(client.patch(f"{INVOICES}/{INV_1002}", json={"customer_id": SCULLY}))
    assert errors[0]["meta"]["pointer"] == "/customer_id"
    moved = ok(client.patch(f"{INVOICES}/{INV_1003}", json={"customer_id": GLOBEX}))
    assert moved["customer"]["id"] == GLOBEX


# --------------------------------------------------------------------------- credits


def test_a_credit_allocation_lowers_the_balance_and_deleting_it_gives_it_back(
    client: TestClient,
) -> None:
    invoice = new_invoice(client, 10000)
    url = f"{INVOICES}/{invoice['id']}"
    credit = {
        "customer_id": SCULLY,
        "line_items": [credit_line(10000)],
        "allocations": [{"invoice_id": invoice["id"], "amount": 3000}],
    }
    created = ok(client.post(CUSTOMER_CREDITS, json=credit), 201)
    after = ok(client.get(url))
    assert (after["status"], after["outstanding_balance"]) == ("PARTIALLY_PAID", 7000)
    # A payment may now take only what the credit left.
    assert "7000 cents outstanding" in text(refused(pay(client, invoice["id"], 7001)))
    ok(pay(client, invoice["id"], 7000), 201)
    assert ok(client.get(url))["status"] == "PAID"
    # Voiding is refused while the payment and the credit hold the invoice.
    assert created["id"] in text(refused(client.post(f"{url}/void")))
    # Deleting the credit gives its 3000 back.
    assert client.delete(f"{CUSTOMER_CREDITS}/{created['id']}").status_code in (200, 204)
    after = ok(client.get(url))
    assert (after["status"], after["outstanding_balance"]) == ("PARTIALLY_PAID", 3000)


def test_replacing_a_credits_allocations_moves_the_amount(client: TestClient) -> None:
    url = f"{CUSTOMER_CREDITS}/{CREDIT_1}"
    patched = client.patch(url, json={"allocations": [{"invoice_id": INV_1002, "amount": 5000}]})
    ok(patched)
    assert ok(client.get(f"{INVOICES}/{INV_1001}"))["outstanding_balance"] == 50000
    assert ok(client.get(f"{INVOICES}/{INV_1001}"))["status"] == "SENT"
    assert ok(client.get(f"{INVOICES}/{INV_1002}"))["outstanding_balance"] == 65000


def test_a_credit_may_not_overpay_an_invoice(client: TestClient) -> None:
    credit = {
        "customer_id": SCULLY,
        "line_items": [credit_line(30001)],
        "allocations": [{"invoice_id": INV_1003, "amount": 30001}],
    }
    errors = refused(client.post(CUSTOMER_CREDITS, json=credit))
    assert INV_1003 in text(errors) and "30000" in text(errors)


# --------------------------------------------------------------------------- bills


def test_bill_create_terms_status_and_upsert(client: TestClient) -> None:
    body = bill_body(external_id="b-77", bill_terms="NET_30")
    bill = ok(client.post(BILLS, json=body), 201)
    assert bill["due_at"] == "2024-07-01T12:00:00Z"
    assert (bill["status"], bill["outstanding_balance"]) == ("RECEIVED", 10000)
    again = ok(client.post(BILLS, json={**body, "due_at": "2024-06-05T00:00:00Z"}), 200)
    assert again["id"] == bill["id"] and again["due_at"] == "2024-06-05T00:00:00Z"
    updated = ok(client.post(f"{BILLS}/{bill['id']}/update", json={"memo": "checked"}))
    assert updated["memo"] == "checked" and updated["total_amount"] == 10000


def test_bill_list_filters(client: TestClient) -> None:
    def ids(**query: Any) -> set[str]:
        return {b["id"] for b in ok(client.get(BILLS, params=query))}

    assert ids(vendor_id=HOOLI) == {BILL_1, BILL_2}
    assert ids(status="RECEIVED") == {BILL_3}
    assert ids(status="VOIDED") == {BILL_5}
    assert ids(received_at_start="2024-03-01T00:00:00Z") == {BILL_3, BILL_5}


def test_bill_payment_allocations_must_add_up_exactly(client: TestClient) -> None:
    short = {"method": "ACH", "amount": 1000, "allocations": [{"bill_id": BILL_3, "amount": 900}]}
    errors = refused(client.post(BILL_PAYMENTS, json=short))
    assert errors[0]["meta"]["pointer"] == "/allocations" and "exactly" in text(errors)
    over = {"method": "ACH", "amount": 25001, "allocations": [{"bill_id": BILL_3, "amount": 25001}]}
    assert BILL_3 in text(refused(client.post(BILL_PAYMENTS, json=over)))
    since = mark(client)
    body = {
        "method": "ACH",
        "amount": 35000,
        "allocations": [{"bill_id": BILL_3, "amount": 25000}, {"bill_id": BILL_2, "amount": 10000}],
    }
    payment = ok(client.post(BILL_PAYMENTS, json=body), 201)
    assert payment["type"] == "BillPayment" and payment["amount"] == 35000
    assert ok(client.get(f"{BILLS}/{BILL_3}"))["status"] == "PAID"
    second = ok(client.get(f"{BILLS}/{BILL_2}"))
    assert (second["status"], second["outstanding_balance"]) == ("PARTIALLY_PAID", 30000)
    assert events_after(client, since) == [
        ("BillPayment.created", payment["id"]),
        ("Bill.updated", BILL_3),
        ("Bill.updated", BILL_2),
    ]
    assert ok(client.get(f"{BILL_PAYMENTS}/{payment['id']}")) == payment
    assert payment["id"] in {p["id"] for p in ok(client.get(BILL_PAYMENTS))}


def test_bill_voiding_rules(client: TestClient) -> None:
    errors = refused(client.post(f"{BILLS}/{BILL_2}/void"))
    assert "1b000000-0000-4000-8000-000000000001" in text(errors)
    voided = ok(client.post(f"{BILLS}/{BILL_3}/void"))
    assert (voided["status"], voided["outstanding_balance"]) == ("VOIDED", 0)
    assert "voided" in text(refused(client.post(f"{BILLS}/{BILL_3}/update", json={"memo": "x"})))
    pay_voided = {"method": "ACH", "amount": 1, "allocations": [{"bill_id": BILL_3, "amount": 1}]}
    assert "voided" in text(refused(client.post(BILL_PAYMENTS, json=pay_voided)))


def test_a_bill_update_below_what_is_paid_is_400(client: TestClient) -> None:
    url = f"{BILLS}/{BILL_2}/update"  # 45000 paid + 5000 credited
    errors = refused(client.post(url, json={"line_items": [{"unit_price": 49999}]}))
    assert "50000 cents" in text(errors)


# --------------------------------------------------------------------------- races

RACE_PAYMENTS = 50


def _race(post: Any, invoice_id: str) -> list[int]:
    """50 threads each pay 1000 cents at once against a 10000-cent balance."""
    barrier = threading.Barrier(RACE_PAYMENTS)
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        status = post(
            {
                "method": "ACH",
                "amount": 1000,
                "allocations": [{"invoice_id": invoice_id, "amount": 1000}],
            }
        )
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one) for _ in range(RACE_PAYMENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_concurrent_payments_never_overpay_in_process(client: TestClient) -> None:
    invoice = new_invoice(client, 10000)
    statuses = _race(
        lambda body: client.post(INVOICE_PAYMENTS, json=body).status_code, invoice["id"]
    )
    assert sorted(statuses) == [201] * 10 + [400] * 40
    after = ok(client.get(f"{INVOICES}/{invoice['id']}"))
    assert (after["outstanding_balance"], after["status"]) == (0, "PAID")
    assert len(after["payment_allocations"]) == 10


def test_concurrent_payments_never_overpay_over_a_socket() -> None:
    app = create_app(Config(strict=True))
    with BackgroundServer(app) as server:
        headers = {"Authorization": "Bearer race"}
        with httpx.Client(base_url=server.url, headers=headers) as http:
            http.event_hooks["response"].append(independently_validate)
            response = http.post(INVOICES, json=invoice_body(line_items=[{"unit_price": 10000}]))
            invoice = ok(response, 201)
            statuses = _race(
                lambda body: http.post(INVOICE_PAYMENTS, json=body).status_code, invoice["id"]
            )
            assert sorted(statuses) == [201] * 10 + [400] * 40
            after = ok(http.get(f"{INVOICES}/{invoice['id']}"))
            assert (after["outstanding_balance"], after["status"]) == (0, "PAID")
