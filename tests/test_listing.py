"""Lists walk a kept ordering of the credits: it follows updates, survives snapshots, and a list
never changes state."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from conftest import CUSTOMER_CREDITS
from starlette.testclient import TestClient

from mockserver import Sandbox

LINE = {"amount": 100, "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"}}


def create(client: TestClient, sent_at: str, **fields: Any) -> str:
    body = {"customer_external_id": "cust-001", "sent_at": sent_at, "line_items": [LINE], **fields}
    response = client.post(CUSTOMER_CREDITS, json=body)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["data"]["id"])


def ids(client: TestClient, **query: Any) -> list[str]:
    """Every live customer credit of the business, paging two at a time."""
    seen: list[str] = []
    cursor = None
    while True:
        params = {**query, "limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get(CUSTOMER_CREDITS, params=params).json()
        seen += [c["id"] for c in body["data"]]
        cursor = body["meta"]["pagination"]["cursor"]
        if cursor is None:
            return seen


@pytest.mark.parametrize("order", ["ASC", "DESC"])
def test_a_patched_date_moves_the_credit_in_date_order(client: TestClient, order: str) -> None:
    first = create(client, "2031-01-01T00:00:00Z")
    second = create(client, "2031-01-02T00:00:00Z")
    third = create(client, "2031-01-03T00:00:00Z")

    client.patch(f"{CUSTOMER_CREDITS}/{first}", json={"sent_at": "2031-01-04T00:00:00Z"})

    listed = ids(client, sort_by="sent_at", sort_order=order)
    expected = [second, third, first]
    assert [i for i in listed if i in expected] == (expected if order == "ASC" else expected[::-1])
    assert len(listed) == len(set(listed))


def test_an_idempotent_create_with_a_new_date_moves_the_credit(client: TestClient) -> None:
    moved = create(client, "2031-02-01T00:00:00Z", external_id="moving")
    other = create(client, "2031-02-02T00:00:00Z")

    again = create(client, "2031-02-03T00:00:00Z", external_id="moving")

    assert again == moved
    listed = ids(client, sort_by="sent_at")
    assert [i for i in listed if i in (moved, other)] == [other, moved]
    assert len(listed) == len(set(listed))


def test_a_list_changes_nothing_in_the_state(client: TestClient, sandbox: Sandbox) -> None:
    create(client, "2031-03-01T00:00:00Z")
    before = sandbox.store.snapshot()

    for sort_by in ("created_at", "sent_at"):
        assert client.get(CUSTOMER_CREDITS, params={"sort_by": sort_by}).status_code == 200

    assert sandbox.store.snapshot() == before


def test_a_snapshot_without_the_orderings_still_lists_in_order(
    client: TestClient, sandbox: Sandbox
) -> None:
    created = [create(client, f"2031-04-0{day}T00:00:00Z") for day in (5, 3, 4)]
    expected = {s: ids(client, sort_by=s) for s in ("created_at", "sent_at")}
    state = orjson.loads(sandbox.store.snapshot())
    for business in state["businesses"].values():  # as written before the orderings existed
        business["index"] = {k: v for k, v in business["index"].items() if "_by_" not in k}
    sandbox.store.restore(orjson.dumps(state))

    assert {s: ids(client, sort_by=s) for s in ("created_at", "sent_at")} == expected

    earliest = create(client, "2031-04-01T00:00:00Z")  # storing a credit rebuilds them
    listed = ids(client, sort_by="sent_at")
    assert [i for i in listed if i in (earliest, *created)] == [
        earliest,
        created[1],
        created[2],
        created[0],
    ]
    assert len(listed) == len(set(listed)) == len(expected["sent_at"]) + 1


def test_a_page_is_sent_as_the_compact_json_of_what_it_holds(client: TestClient) -> None:
    # Each item's JSON is made once, for the item memo, and the page is built from those.
    for _ in range(2):
        page = client.get(f"{CUSTOMER_CREDITS}?limit=100")
        assert page.status_code == 200 and len(page.json()["data"]) >= 2
        assert page.content == orjson.dumps(page.json())
