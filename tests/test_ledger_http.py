"""The chart of accounts over HTTP: the tree, the flat list, upsert by stable name, nesting rules.

Responses are checked against openapi/layer-credits.yaml by the sandbox and by openapi-core.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from conftest import BUSINESS, OTHER_BUSINESS
from starlette.testclient import TestClient

ROOT = f"/v1/businesses/{BUSINESS}"
ACCOUNTS = f"{ROOT}/ledger/accounts"
CHART = f"{ROOT}/ledger/chart"
SALES = "a0000000-0000-4000-8000-000000000001"
SERVICES = "a0000000-0000-4000-8000-000000000002"  # under SALES
CURRENT_ASSETS = "a0000000-0000-4000-8000-000000000005"
CHECKING = "a0000000-0000-4000-8000-000000000006"  # under CURRENT_ASSETS
RECEIVABLE = "a0000000-0000-4000-8000-000000000007"  # under CURRENT_ASSETS
OPERATING = "a0000000-0000-4000-8000-000000000011"
RENT = "a0000000-0000-4000-8000-000000000013"  # under OPERATING
COGS = "a0000000-0000-4000-8000-000000000012"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


def refused(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    return " | ".join(
        f"{e['meta']['pointer']}: {e['description']}" for e in response.json()["errors"]
    )


def tree(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {n["id"]["id"]: tree(n["sub_accounts"]) for n in nodes}


def test_the_chart_is_a_tree_of_the_fixture_accounts(client: TestClient) -> None:
    chart = ok(client.get(CHART))
    assert chart["type"] == "Chart_Of_Accounts"
    shape = tree(chart["accounts"])
    assert shape[SALES] == {SERVICES: {}}
    assert shape[CURRENT_ASSETS] == {CHECKING: {}, RECEIVABLE: {}}
    assert shape[OPERATING] == {RENT: {}}
    assert SERVICES not in shape and RENT not in shape  # only top-level accounts at the root
    assert shape[COGS] == {}
    sales = next(n for n in chart["accounts"] if n["id"]["id"] == SALES)
    assert sales["stable_name"] == {"type": "StableName", "stable_name": "SALES"}
    assert sales["account_type"] == {"value": "REVENUE", "display_name": "Revenue"}


def test_the_other_business_has_its_own_chart(client: TestClient) -> None:
    chart = ok(client.get(f"/v1/businesses/{OTHER_BUSINESS}/ledger/chart"))
    ids = set(tree(chart["accounts"]))
    assert SALES not in ids and "a0000000-0000-4000-8000-000000000021" in ids


def test_list_and_filters(client: TestClient) -> None:
    listed = ok(client.get(ACCOUNTS))
    assert len(listed) == 13 and all(a["type"] == "Ledger_Account" for a in listed)
    by_id = {a["id"]["id"]: a for a in listed}
    assert by_id[SERVICES]["parent_id"] == {"type": "AccountId", "id": SALES}
    assert by_id[SALES]["parent_id"] is None

    def ids(**query: Any) -> set[str]:
        return {a["id"]["id"] for a in ok(client.get(ACCOUNTS, params=query))}

    assert ids(stable_name="RENT") == {RENT}
    assert ids(parent_id=CURRENT_ASSETS) == {CHECKING, RECEIVABLE}
    assert ids(account_type="ASSET") == {CURRENT_ASSETS, CHECKING, RECEIVABLE}
    page = client.get(ACCOUNTS, params={"limit": 5}).json()
    assert len(page["data"]) == 5 and page["meta"]["pagination"]["has_more"] is True
    rest = ok(client.get(ACCOUNTS, params={"cursor": page["meta"]["pagination"]["cursor"]}))
    assert len(rest) == 8


def test_fetch_one_and_unknown_is_404(client: TestClient) -> None:
    account = ok(client.get(f"{ACCOUNTS}/{RENT}"))
    assert account["name"] == "Rent" and account["parent_id"]["id"] == OPERATING
    assert "/accountId" in refused(client.get(f"{ACCOUNTS}/{uuid.uuid4()}"), 404)
    refused(client.get(f"/v1/businesses/{OTHER_BUSINESS}/ledger/accounts/{RENT}"), 404)


def test_upsert_by_stable_name_is_201_then_200(client: TestClient) -> None:
    since = len(client.get("/_sandbox/events").json()["data"])
    body = {
        "name": "Undeposited Funds",
        "stable_name": {"type": "StableName", "stable_name": "UNDEPOSITED_FUNDS"},
        "account_type": "ASSET",
        "account_subtype": "UNDEPOSITED_FUNDS",
        "parent_id": {"type": "AccountId", "id": CURRENT_ASSETS},
    }
    created = ok(client.post(ACCOUNTS, json=body), 201)
    assert created["normality"] == "DEBIT"  # the default for an ASSET
    assert created["account_subtype"]["value"] == "UNDEPOSITED_FUNDS"
    account_id = created["id"]["id"]
    # The bare stable name names the same account; fields left out keep their value.
    again = {
        "name": "Funds in transit",
        "stable_name": "UNDEPOSITED_FUNDS",
        "account_type": "ASSET",
    }
    updated = ok(client.post(ACCOUNTS, json=again), 200)
    assert updated["id"]["id"] == account_id and updated["name"] == "Funds in transit"
    assert updated["parent_id"] == {"type": "AccountId", "id": CURRENT_ASSETS}
    assert updated["account_subtype"]["value"] == "UNDEPOSITED_FUNDS"
    shape = tree(ok(client.get(CHART))["accounts"])
    assert shape[CURRENT_ASSETS] == {CHECKING: {}, RECEIVABLE: {}, account_id: {}}
    events = client.get("/_sandbox/events").json()["data"][since:]
    assert [(e["type"], e["data"]["entity_id"]) for e in events] == [
        ("GeneralLedgerAccount.created", account_id),
        ("GeneralLedgerAccount.updated", account_id),
    ]


def test_an_existing_stable_name_updates_the_fixture_account(client: TestClient) -> None:
    body = {"name": "Product Sales", "stable_name": "SALES", "account_type": "REVENUE"}
    updated = ok(client.post(ACCOUNTS, json=body), 200)
    assert updated["id"]["id"] == SALES and updated["account_number"] == "4000"


def test_without_stable_name_every_call_creates(client: TestClient) -> None:
    body = {"name": "Marketing", "account_type": "EXPENSE"}
    first = ok(client.post(ACCOUNTS, json=body), 201)
    second = ok(client.post(ACCOUNTS, json=body), 201)
    assert first["id"] != second["id"] and first["stable_name"] is None
    assert first["account_subtype"]["value"] == "OTHER_EXPENSES"
    assert first["normality"] == "DEBIT"
    assert (
        ok(client.post(ACCOUNTS, json={"name": "Loan", "account_type": "LIABILITY"}), 201)[
            "normality"
        ]
        == "CREDIT"
    )


def test_a_new_account_is_usable_on_invoice_lines(client: TestClient) -> None:
    body = {"name": "Consulting", "stable_name": "CONSULTING", "account_type": "REVENUE"}
    ok(client.post(ACCOUNTS, json=body), 201)
    line = {
        "unit_price": 500,
        "account_identifier": {"type": "StableName", "stable_name": "CONSULTING"},
    }
    invoice = {
        "customer_id": "c0000000-0000-4000-8000-000000000001",
        "sent_at": "2024-06-01T00:00:00Z",
        "line_items": [line],
    }
    created = ok(client.post(f"{ROOT}/invoices", json=invoice), 201)
    assert created["line_items"][0]["ledger_account"]["name"] == "Consulting"


@pytest.mark.parametrize(
    ("body", "status", "pointer", "words"),
    [
        (
            {"name": "x", "account_type": "REVENUE", "account_subtype": "BANK_ACCOUNTS"},
            400,
            "/account_subtype",
            "belongs to ASSET",
        ),
        ({"name": "x", "account_type": "COGS"}, 400, "/account_type", ""),
        ({"name": "x", "account_type": "ASSET", "parent_id": SALES}, 400, "/parent_id", "REVENUE"),
        (
            {"name": "x", "account_type": "ASSET", "parent_id": str(uuid.UUID(int=7))},
            404,
            "/parent_id",
            "no ledger account",
        ),
        (
            {
                "name": "x",
                "account_type": "REVENUE",
                "parent_id": "a0000000-0000-4000-8000-000000000021",
            },
            404,
            "/parent_id",
            "",
        ),  # another business's account
        ({"account_type": "ASSET"}, 400, "/name", ""),
        ({"name": "x", "account_type": "ASSET", "normality": "UP"}, 400, "/normality", ""),
    ],
)
def test_bad_accounts_are_refused(
    client: TestClient, body: dict[str, Any], status: int, pointer: str, words: str
) -> None:
    message = refused(client.post(ACCOUNTS, json=body), status)
    assert pointer in message and words in message


def test_nesting_cannot_loop_and_a_parent_keeps_its_type(client: TestClient) -> None:
    loop = {"name": "Current Assets", "stable_name": "CURRENT_ASSETS", "account_type": "ASSET"}
    message = refused(client.post(ACCOUNTS, json={**loop, "parent_id": CHECKING}))
    assert "/parent_id" in message and "under itself" in message
    message = refused(client.post(ACCOUNTS, json={**loop, "account_type": "EQUITY"}))
    assert "/account_type" in message and CHECKING in message
    assert tree(ok(client.get(CHART))["accounts"])[CURRENT_ASSETS] == {CHECKING: {}, RECEIVABLE: {}}
