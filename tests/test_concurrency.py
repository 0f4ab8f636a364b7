"""Concurrency over a real socket: many threads, each with its own connection, at one sandbox.

Idempotent create is atomic, allocations never take a balance below zero, PATCH racing DELETE
leaves a consistent credit, and cursor paging is unaffected by concurrent creates. Each case is
repeated, since a race that shows once in a while is still a race.
"""

from __future__ import annotations

import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest
from conftest import CUSTOMER_CREDITS, VENDOR_CREDITS

from mockserver import Config, create_app
from mockserver.serving.server import BackgroundServer

ROUNDS = range(3)
THREADS = 50
T = TypeVar("T")
GLOBEX = "c0000000-0000-4000-8000-000000000001"
SCULLY = "c0000000-0000-4000-8000-000000000002"
INVOICE_1003 = "e0000000-0000-4000-8000-000000000003"  # Scully, 30000 outstanding
INVOICE_1001 = "e0000000-0000-4000-8000-000000000001"  # Globex, 45000 outstanding
HOOLI = "d0000000-0000-4000-8000-000000000001"
BILL_7802 = "f0000000-0000-4000-8000-000000000002"  # Hooli, 40000 outstanding


#: One TLS context for every client: building one per client costs ~0.1 s of CPU (the CA
#: bundle), which would serialise the threads this module wants to overlap. No TLS is used.
_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def client_of(url: str) -> httpx.Client:
    return httpx.Client(
        base_url=url, headers={"Authorization": "Bearer t"}, timeout=30, verify=_TLS
    )


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with BackgroundServer(create_app(Config())) as server:
        yield server.url


@pytest.fixture
def url(base_url: str) -> str:
    with client_of(base_url) as client:
        assert client.post("/_sandbox/reset").status_code == 200
    return base_url


def in_parallel(url: str, count: int, work: Callable[[httpx.Client, int], T]) -> list[T]:
    """Run ``work(client, i)`` on ``count`` threads, each with its own open connection,
    released together by a barrier so that the requests really overlap."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        with client_of(url) as client:
            assert client.get("/whoami").status_code == 200  # connect before the race
            barrier.wait()
            return work(client, i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def customer_credit(amount: int, **fields: Any) -> dict[str, Any]:
    return {
        "customer_id": GLOBEX,
        "line_items": [
            {
                "amount": amount,
                "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
            }
        ],
        **fields,
    }


def state(url: str) -> dict[str, Any]:
    with client_of(url) as client:
        return client.get("/_sandbox/state").json()["data"]  # type: ignore[no-any-return]


Balances = dict[str, tuple[int, int]]


def balances(url: str) -> Balances:
    """Each invoice and bill: (outstanding balance, amount live credits hold on it)."""
    data = state(url)
    held: dict[str, int] = {}
    for credits, field in (("customer_credits", "invoice_id"), ("vendor_credits", "bill_id")):
        for credit in data[credits]:
            if credit["deleted_at"] is None:
                for allocation in credit["allocations"]:
                    held[allocation[field]] = held.get(allocation[field], 0) + allocation["amount"]
    return {
        document["id"]: (document["outstanding_balance"], held.get(document["id"], 0))
        for document in (*data["invoices"], *data["bills"])
    }


@pytest.fixture
def fixture_balances(url: str) -> Balances:
    return balances(url)


def assert_balances_follow_live_allocations(url: str, before: Balances) -> None:
    """What live credits hold now, and nothing else, moved every balance; none is below zero."""
    for document_id, (outstanding, held) in balances(url).items():
        outstanding_before, held_before = before[document_id]
        assert outstanding == outstanding_before - (held - held_before), document_id
        assert outstanding >= 0, document_id


@pytest.mark.parametrize("round_", ROUNDS)
def test_concurrent_creates_with_one_new_external_id_make_exactly_one_credit(
    url: str, round_: int
) -> None:
    external_id = f"race-{uuid.uuid4()}"
    body = customer_credit(1000, external_id=external_id)

    responses = in_parallel(
        url, THREADS, lambda client, i: client.post(CUSTOMER_CREDITS, json=body)
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (THREADS - 1) + [201], statuses
    assert len({r.json()["data"]["id"] for r in responses}) == 1
    stored = [c for c in state(url)["customer_credits"] if c["external_id"] == external_id]
    assert len(stored) == 1


@pytest.mark.parametrize("round_", ROUNDS)
def test_concurrent_allocations_never_take_a_balance_below_zero(
    url: str, fixture_balances: Balances, round_: int
) -> None:
    # 30000 outstanding on INV-1003: 50 credits of 1000 each, all allocated to it at once.
    def allocate(client: httpx.Client, i: int) -> httpx.Response:
        body = {
            "customer_id": SCULLY,
            "line_items": [
                {
                    "amount": 1000,
                    "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
                }
            ],
            "allocations": [{"amount": 1000, "invoice_id": INVOICE_1003}],
        }
        return client.post(CUSTOMER_CREDITS, json=body)

    responses = in_parallel(url, THREADS, allocate)

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 30, statuses
    assert statuses.count(400) == THREADS - 30, statuses
    for response in responses:
        if response.status_code == 400:
            [error] = response.json()["errors"]
            assert error["meta"]["keyword"] == "outstandingBalance"
    [invoice] = [i for i in state(url)["invoices"] if i["id"] == INVOICE_1003]
    assert invoice["outstanding_balance"] == 0
    assert_balances_follow_live_allocations(url, fixture_balances)


@pytest.mark.parametrize("round_", ROUNDS)
def test_concurrent_patches_raising_allocations_never_overdraw(
    url: str, fixture_balances: Balances, round_: int
) -> None:
    # Ten vendor credits of 10000 each; every thread raises one credit's allocation on the same
    # bill (40000 outstanding) to a different amount, so the requests compete for the balance.
    with client_of(url) as client:
        ids = [
            client.post(
                VENDOR_CREDITS,
                json={
                    "vendor_id": HOOLI,
                    "received_at": "2024-06-01T00:00:00Z",
                    "line_items": [
                        {
                            "amount": 10000,
                            "expense_account_identifier": {
                                "type": "StableName",
                                "stable_name": "COGS",
                            },
                        }
                    ],
                },
            ).json()["data"]["id"]
            for _ in range(10)
        ]

    def raise_allocation(client: httpx.Client, i: int) -> httpx.Response:
        amount = 1000 * (i % 10 + 1)
        body = {"allocations": [{"amount": amount, "bill_id": BILL_7802}]}
        return client.patch(f"{VENDOR_CREDITS}/{ids[i % 10]}", json=body)

    responses = in_parallel(url, THREADS, raise_allocation)

    assert {r.status_code for r in responses} <= {200, 400}
    assert any(r.status_code == 400 for r in responses)  # 10 x up to 10000 > 40000
    assert_balances_follow_live_allocations(url, fixture_balances)


@pytest.mark.parametrize("round_", ROUNDS)
def test_concurrent_patch_and_delete_leave_a_consistent_credit(
    url: str, fixture_balances: Balances, round_: int
) -> None:
    with client_of(url) as client:
        created = client.post(
            CUSTOMER_CREDITS,
            json=customer_credit(
                5000,
                external_id=f"contested-{round_}",
                allocations=[{"amount": 1000, "invoice_id": INVOICE_1001}],
            ),
        ).json()["data"]
    credit_url = f"{CUSTOMER_CREDITS}/{created['id']}"

    def patch_or_delete(client: httpx.Client, i: int) -> httpx.Response:
        if i == THREADS // 2:
            return client.delete(credit_url)
        body = {
            "memo": f"patch {i}",
            "allocations": [{"amount": i + 1, "invoice_id": INVOICE_1001}],
        }
        return client.patch(credit_url, json=body)

    responses = in_parallel(url, THREADS, patch_or_delete)

    deleted = responses[THREADS // 2]
    assert deleted.status_code == 200
    deleted_at = deleted.json()["data"]["deleted_at"]
    assert deleted_at is not None
    patches = [r for i, r in enumerate(responses) if i != THREADS // 2]
    for response in patches:
        if response.status_code == 400:  # came after the delete
            assert response.json()["errors"][0]["meta"]["keyword"] == "deleted"
        else:
            assert response.status_code == 200, response.text
            assert response.json()["data"]["deleted_at"] is None
    with client_of(url) as client:
        final = client.get(credit_url).json()["data"]
    assert final["deleted_at"] == deleted_at
    # The stored credit is one whole patch (memo and allocation of the same request), or the
    # credit as created if the delete won every race.
    [allocation] = final["allocations"]
    if final["memo"] is None:
        assert allocation["amount"] == 1000
    else:
        assert allocation["amount"] == int(final["memo"].split()[1]) + 1
    # The deleted credit holds no balance; the external id is free again.
    assert_balances_follow_live_allocations(url, fixture_balances)
    [invoice] = [i for i in state(url)["invoices"] if i["id"] == INVOICE_1001]
    assert invoice["outstanding_balance"] == 45000


@pytest.mark.parametrize("round_", ROUNDS)
@pytest.mark.parametrize("order", ["ASC", "DESC"])
def test_cursor_paging_is_exact_while_others_create(url: str, round_: int, order: str) -> None:
    with client_of(url) as client:
        for i in range(40):
            client.post(CUSTOMER_CREDITS, json=customer_credit(100 + i))
        before = {
            c["id"] for c in client.get(CUSTOMER_CREDITS, params={"limit": 100}).json()["data"]
        }
    created: list[str] = []
    go = threading.Barrier(5)

    def creator() -> None:
        # A bounded burst: in ascending order the reader would otherwise chase a growing tail.
        with client_of(url) as client:
            go.wait()
            for _ in range(25):
                response = client.post(CUSTOMER_CREDITS, json=customer_credit(7))
                created.append(response.json()["data"]["id"])

    writers = [threading.Thread(target=creator) for _ in range(4)]
    for writer in writers:
        writer.start()
    seen: list[str] = []
    try:
        with client_of(url) as client:
            params: dict[str, Any] = {"limit": 3, "sort_order": order}
            go.wait()
            while True:
                page = client.get(CUSTOMER_CREDITS, params=params).json()
                seen.extend(c["id"] for c in page["data"])
                if not page["meta"]["pagination"]["has_more"]:
                    break
                params["cursor"] = page["meta"]["pagination"]["cursor"]
    finally:
        for writer in writers:
            writer.join()

    assert created  # the writers did run while paging
    assert len(seen) == len(set(seen)), "a credit was repeated"
    assert before <= set(seen), "a credit that existed when paging began was skipped"
    assert set(seen) <= before | set(created)
