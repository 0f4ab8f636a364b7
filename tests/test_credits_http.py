"""Customer and vendor credits over HTTP: every credit rule of the document and the README, as a
client sees it.

Tests run against the session app with strict response checking on, so every response is also
checked against openapi/layer-credits.yaml before an assertion looks at it. Rules that hold for
both kinds are parametrised over ``Kind``, which names what differs between them and the fixture
records (fixtures/*.yaml) each kind's tests lean on.
"""

from __future__ import annotations

import base64
import itertools
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from conftest import (
    BUSINESS,
    CUSTOMER_CREDITS,
    OTHER_BUSINESS,
    UNKNOWN_BUSINESS,
    VENDOR_CREDITS,
)
from starlette.testclient import TestClient

UNKNOWN_ID = "00000000-0000-4000-8000-0000000000ff"
OMIT: Any = object()  # a body field to leave out of ``Kind.body``


@dataclass(frozen=True)
class Kind:
    """What differs between customer and vendor credits, and the fixture records each uses."""

    name: str
    path: str  # the collection path in BUSINESS
    counterparty: str  # customer / vendor
    document: str  # invoice / bill
    date_field: str  # sent_at / received_at
    account_field: str  # revenue_account_identifier / expense_account_identifier
    credit_type: str
    # Fixture records of BUSINESS (balances are after the fixture credits' allocations).
    counterparty_id: str
    counterparty_external_id: str
    second_counterparty_id: str
    second_counterparty_external_id: str
    document_id: str  # an open document of counterparty_id
    document_balance: int
    second_document_id: str  # another open document of counterparty_id
    second_document_balance: int
    foreign_document_id: str  # an open document of second_counterparty_id
    account: dict[str, Any]  # a ledger account, rendered as SingleApiChartAccount
    stable_account: tuple[str, str, str | None]  # stable name, its id, its account number
    fixture_credit_id: str  # live; allocates fixture_allocation to document_id
    fixture_credit_external_id: str
    fixture_allocation: int
    counterparty_credit_ids: frozenset[str]  # live fixture credits of counterparty_id
    live_credit_ids: frozenset[str]  # every live fixture credit of BUSINESS
    # Records of OTHER_BUSINESS.
    other_counterparty_id: str
    other_document_id: str
    other_account_id: str
    other_credit_id: str
    other_credit_external_id: str

    @property
    def counterparty_id_field(self) -> str:
        return f"{self.counterparty}_id"

    @property
    def counterparty_external_id_field(self) -> str:
        return f"{self.counterparty}_external_id"

    @property
    def document_id_field(self) -> str:
        return f"{self.document}_id"

    @property
    def credit_id_field(self) -> str:
        return f"{self.counterparty}_credit_id"

    @property
    def documents(self) -> str:
        return f"{self.document}s"

    @property
    def account_id(self) -> str:
        return str(self.account["id"]["id"])

    def collection(self, business: str = BUSINESS) -> str:
        return self.path.replace(BUSINESS, business)

    def url(self, credit_id: str, business: str = BUSINESS) -> str:
        return f"{self.collection(business)}/{credit_id}"

    def line(self, amount: int = 1000, **fields: Any) -> dict[str, Any]:
        """A line item posting to ``account``."""
        return {
            "amount": amount,
            self.account_field: {"type": "AccountId", "id": self.account_id},
            **fields,
        }

    def allocation(self, amount: int, document_id: str | None = None) -> dict[str, Any]:
        return {"amount": amount, self.document_id_field: document_id or self.document_id}

    def body(self, amount: int = 1000, **fields: Any) -> dict[str, Any]:
        """A valid create body for ``counterparty_id``; ``fields`` override, OMIT removes."""
        body: dict[str, Any] = {
            self.counterparty_id_field: self.counterparty_id,
            "line_items": [self.line(amount)],
        }
        if self.date_field == "received_at":  # required for vendor credits only
            body["received_at"] = "2024-06-01T12:00:00Z"
        body.update(fields)
        return {key: value for key, value in body.items() if value is not OMIT}


CUSTOMER = Kind(
    name="customer",
    path=CUSTOMER_CREDITS,
    counterparty="customer",
    document="invoice",
    date_field="sent_at",
    account_field="revenue_account_identifier",
    credit_type="Customer_Credit",
    counterparty_id="c0000000-0000-4000-8000-000000000001",
    counterparty_external_id="cust-001",
    second_counterparty_id="c0000000-0000-4000-8000-000000000002",
    second_counterparty_external_id="cust-002",
    document_id="e0000000-0000-4000-8000-000000000001",
    document_balance=50000 - 5000,
    second_document_id="e0000000-0000-4000-8000-000000000002",
    second_document_balance=80000 - 10000,
    foreign_document_id="e0000000-0000-4000-8000-000000000003",
    account={
        "id": {"type": "AccountId", "id": "a0000000-0000-4000-8000-000000000001"},
        "name": "Sales",
        "account_number": "4000",
        "stable_name": {"type": "StableName", "stable_name": "SALES"},
        "normality": "CREDIT",
        "account_type": {"value": "REVENUE", "display_name": "Revenue"},
        "account_subtype": {"value": "SALES", "display_name": "Sales"},
    },
    stable_account=("UNCATEGORIZED_REVENUE", "a0000000-0000-4000-8000-000000000004", None),
    fixture_credit_id="cc000000-0000-4000-8000-000000000001",
    fixture_credit_external_id="cc-ext-001",
    fixture_allocation=5000,
    counterparty_credit_ids=frozenset(
        {"cc000000-0000-4000-8000-000000000001", "cc000000-0000-4000-8000-000000000003"}
    ),
    live_credit_ids=frozenset(
        {
            "cc000000-0000-4000-8000-000000000001",
            "cc000000-0000-4000-8000-000000000002",
            "cc000000-0000-4000-8000-000000000003",
        }
    ),
    other_counterparty_id="c0000000-0000-4000-8000-000000000011",
    other_document_id="e0000000-0000-4000-8000-000000000011",
    other_account_id="a0000000-0000-4000-8000-000000000021",
    other_credit_id="cc000000-0000-4000-8000-000000000011",
    other_credit_external_id="cc-ext-101",
)
VENDOR = Kind(
    name="vendor",
    path=VENDOR_CREDITS,
    counterparty="vendor",
    document="bill",
    date_field="received_at",
    account_field="expense_account_identifier",
    credit_type="Vendor_Credit",
    counterparty_id="d0000000-0000-4000-8000-000000000001",
    counterparty_external_id="vend-001",
    second_counterparty_id="d0000000-0000-4000-8000-000000000002",
    second_counterparty_external_id="vend-002",
    document_id="f0000000-0000-4000-8000-000000000001",
    document_balance=60000 - 8000,
    second_document_id="f0000000-0000-4000-8000-000000000002",
    second_document_balance=45000 - 5000,
    foreign_document_id="f0000000-0000-4000-8000-000000000003",
    account={
        "id": {"type": "AccountId", "id": "a0000000-0000-4000-8000-000000000011"},
        "name": "Operating Expenses",
        "account_number": "6000",
        "stable_name": {"type": "StableName", "stable_name": "OPERATING_EXPENSES"},
        "normality": "DEBIT",
        "account_type": {"value": "EXPENSE", "display_name": "Expenses"},
        "account_subtype": {"value": "OPERATING_EXPENSES", "display_name": "Operating Expenses"},
    },
    stable_account=("COGS", "a0000000-0000-4000-8000-000000000012", "5000"),
    fixture_credit_id="dc000000-0000-4000-8000-000000000001",
    fixture_credit_external_id="vc-ext-001",
    fixture_allocation=8000,
    counterparty_credit_ids=frozenset(
        {"dc000000-0000-4000-8000-000000000001", "dc000000-0000-4000-8000-000000000003"}
    ),
    live_credit_ids=frozenset(
        {
            "dc000000-0000-4000-8000-000000000001",
            "dc000000-0000-4000-8000-000000000002",
            "dc000000-0000-4000-8000-000000000003",
        }
    ),
    other_counterparty_id="d0000000-0000-4000-8000-000000000011",
    other_document_id="f0000000-0000-4000-8000-000000000011",
    other_account_id="a0000000-0000-4000-8000-000000000031",
    other_credit_id="dc000000-0000-4000-8000-000000000011",
    other_credit_external_id="vc-ext-101",
)


@pytest.fixture(params=[CUSTOMER, VENDOR], ids=lambda kind: kind.name)
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- helpers


def create(
    client: TestClient, kind: Kind, amount: int = 1000, *, status: int = 201, **fields: Any
) -> dict[str, Any]:
    """POST a credit built by ``kind.body(amount, **fields)``; assert ``status``; give ``data``."""
    response = client.post(kind.path, json=kind.body(amount, **fields))
    assert response.status_code == status, response.text
    return data_of(response)


def data_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"data"}, body
    return body["data"]  # type: ignore[no-any-return]


def fetch(client: TestClient, kind: Kind, credit_id: str) -> dict[str, Any]:
    response = client.get(kind.url(credit_id))
    assert response.status_code == 200, response.text
    return data_of(response)


def patch(client: TestClient, kind: Kind, credit_id: str, body: Any, status: int = 200) -> Any:
    response = client.patch(kind.url(credit_id), json=body)
    assert response.status_code == status, response.text
    return data_of(response) if status == 200 else response


def errors(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    """The error entries of a ``status`` answer, after checking Layer's error envelope."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errors"}, body
    enum = {400: "SpecifiedBadRequest", 404: "SpecifiedIdNotFound"}[status]
    assert all(entry["error_enum"] == enum for entry in body["errors"]), body
    return body["errors"]  # type: ignore[no-any-return]


def pointers(response: httpx.Response, status: int) -> list[str]:
    """The ``meta.pointer`` of every error entry of a ``status`` answer."""
    return [entry["meta"]["pointer"] for entry in errors(response, status)]


def balance(client: TestClient, kind: Kind, document_id: str) -> int:
    """The document's current outstanding balance, from the control API."""
    state = client.get("/_sandbox/state").json()["data"]
    return next(d["outstanding_balance"] for d in state[kind.documents] if d["id"] == document_id)


def moment(stamp: str) -> datetime:
    """A server timestamp, which must be UTC with ``Z``."""
    assert stamp.endswith("Z"), stamp
    return datetime.fromisoformat(stamp[:-1] + "+00:00")


def page(client: TestClient, kind: Kind, **params: Any) -> dict[str, Any]:
    response = client.get(kind.path, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def listed(client: TestClient, kind: Kind, **params: Any) -> list[str]:
    """Ids on the first page of the list, in order."""
    return [credit["id"] for credit in page(client, kind, **params)["data"]]


def walk(client: TestClient, kind: Kind, between_pages: Any = None, **params: Any) -> list[str]:
    """Ids of every page, following cursors; ``between_pages()`` runs before each next page."""
    seen: list[str] = []
    cursor = None
    while True:
        body = page(client, kind, **params, **({"cursor": cursor} if cursor else {}))
        seen += [credit["id"] for credit in body["data"]]
        pagination = body["meta"]["pagination"]
        if not pagination["has_more"]:
            assert pagination["cursor"] is None
            return seen
        cursor = pagination["cursor"]
        assert cursor
        if between_pages is not None:
            between_pages()


def metadata_of_size(size: int, char: str = "x") -> dict[str, str]:
    """A metadata object whose compact UTF-8 JSON encoding is exactly ``size`` bytes."""
    overhead = len(b'{"k":""}')
    per_char = len(char.encode())
    assert (size - overhead) % per_char == 0
    metadata = {"k": char * ((size - overhead) // per_char)}
    assert len(orjson.dumps(metadata)) == size
    return metadata


def is_uuid(value: Any) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except (TypeError, ValueError, AttributeError):
        return False


# --------------------------------------------------------------------------- create


def full_body(kind: Kind) -> dict[str, Any]:
    return kind.body(
        external_id="full-001",
        **{kind.date_field: "2024-03-01T12:00:00Z"},
        line_items=[
            kind.line(
                5000,
                memo="Two returned widgets",
                reference_number="RMA-1",
                metadata={"sku": "WID-01"},
                tags=[{"key": "department", "value": "sales"}],
            )
        ],
        allocations=[kind.allocation(1000)],
        tags=[
            {
                "key": "region",
                "value": "west",
                "dimension_display_name": "Region",
                "value_display_name": "West",
            }
        ],
        memo="Credit for returned goods",
        metadata={"source": "test", "nested": {"attempt": 1}},
        reference_number="CR-9001",
    )


def test_create_answers_201_with_the_credit_wrapped_in_data(client: TestClient, kind: Kind) -> None:
    response = client.post(kind.path, json=full_body(kind))

    assert response.status_code == 201, response.text
    credit = data_of(response)
    assert credit["type"] == kind.credit_type
    assert is_uuid(credit["id"])
    assert credit["external_id"] == "full-001"
    assert credit[kind.counterparty]["id"] == kind.counterparty_id
    assert credit[kind.counterparty]["external_id"] == kind.counterparty_external_id
    assert moment(credit[kind.date_field]) == datetime(2024, 3, 1, 12, tzinfo=UTC)
    [line] = credit["line_items"]
    assert is_uuid(line["id"])
    assert line["ledger_account"] == kind.account
    assert (line["amount"], line["memo"], line["reference_number"], line["metadata"]) == (
        5000,
        "Two returned widgets",
        "RMA-1",
        {"sku": "WID-01"},
    )
    assert [(t["key"], t["value"]) for t in line["transaction_tags"]] == [("department", "sales")]
    [allocation] = credit["allocations"]
    assert is_uuid(allocation["id"])
    assert allocation[kind.credit_id_field] == credit["id"]
    assert allocation[kind.document_id_field] == kind.document_id
    assert allocation["amount"] == 1000
    assert moment(credit["created_at"]) == moment(credit["updated_at"])
    assert credit["deleted_at"] is None
    [tag] = credit["transaction_tags"]
    assert (tag["key"], tag["value"], tag["dimension_display_name"], tag["value_display_name"]) == (
        "region",
        "west",
        "Region",
        "West",
    )
    assert credit["memo"] == "Credit for returned goods"
    assert credit["metadata"] == {"source": "test", "nested": {"attempt": 1}}
    assert credit["reference_number"] == "CR-9001"
    # The credit is stored as answered.
    assert fetch(client, kind, credit["id"]) == credit


def test_optional_fields_of_a_minimal_credit_are_null_or_empty(
    client: TestClient, kind: Kind
) -> None:
    credit = create(client, kind)

    assert credit["external_id"] is None
    assert credit["allocations"] == credit["transaction_tags"] == []
    assert credit["memo"] is credit["metadata"] is credit["reference_number"] is None
    [line] = credit["line_items"]
    assert line["memo"] is line["metadata"] is line["reference_number"] is None
    assert line["transaction_tags"] == []


def test_sent_at_defaults_to_the_creation_time(client: TestClient) -> None:
    before = datetime.now(UTC)
    credit = create(client, CUSTOMER)
    after = datetime.now(UTC)

    assert "sent_at" not in CUSTOMER.body()
    assert credit["sent_at"] == credit["created_at"]
    assert before <= moment(credit["created_at"]) <= after


def test_vendor_credit_requires_received_at(client: TestClient) -> None:
    response = client.post(VENDOR.path, json=VENDOR.body(received_at=OMIT))

    [entry] = errors(response, 400)
    assert entry["meta"] == {"location": "body", "pointer": "/received_at", "keyword": "required"}
    assert set(listed(client, VENDOR)) == VENDOR.live_credit_ids


@pytest.mark.parametrize("amount", [0, -1, 10.5, "100", None])
def test_line_item_amount_is_a_whole_number_of_cents_at_least_one(
    client: TestClient, kind: Kind, amount: Any
) -> None:
    response = client.post(kind.path, json=kind.body(amount))

    assert pointers(response, 400) == ["/line_items/0/amount"]


@pytest.mark.parametrize("field", ["id", "created_at", "updated_at", "deleted_at"])
def test_server_set_fields_cannot_be_sent(client: TestClient, kind: Kind, field: str) -> None:
    body = kind.body(**{field: "2024-01-01T00:00:00Z"})

    assert pointers(client.post(kind.path, json=body), 400) == [f"/{field}"]


def test_a_credit_needs_at_least_one_line_item(client: TestClient, kind: Kind) -> None:
    response = client.post(kind.path, json=kind.body(line_items=[]))

    assert pointers(response, 400) == ["/line_items"]


# --------------------------------------------------------------------------- counterparty


def test_counterparty_named_by_external_id(client: TestClient, kind: Kind) -> None:
    credit = create(
        client,
        kind,
        **{
            kind.counterparty_id_field: OMIT,
            kind.counterparty_external_id_field: kind.second_counterparty_external_id,
        },
    )

    assert credit[kind.counterparty]["id"] == kind.second_counterparty_id


def test_counterparty_named_by_both_consistently(client: TestClient, kind: Kind) -> None:
    credit = create(
        client, kind, **{kind.counterparty_external_id_field: kind.counterparty_external_id}
    )

    assert credit[kind.counterparty]["id"] == kind.counterparty_id


def test_counterparty_named_by_both_inconsistently_is_400(client: TestClient, kind: Kind) -> None:
    body = kind.body(**{kind.counterparty_external_id_field: kind.second_counterparty_external_id})

    [pointer] = pointers(client.post(kind.path, json=body), 400)
    assert pointer in (f"/{kind.counterparty_id_field}", f"/{kind.counterparty_external_id_field}")


def test_counterparty_is_required(client: TestClient, kind: Kind) -> None:
    response = client.post(kind.path, json=kind.body(**{kind.counterparty_id_field: OMIT}))

    [entry] = errors(response, 400)
    assert entry["meta"]["keyword"] == "required"
    assert kind.counterparty_id_field in entry["description"]


@pytest.mark.parametrize("by", ["id", "external_id", "other_business_id"])
def test_unknown_counterparty_is_404_naming_the_field(
    client: TestClient, kind: Kind, by: str
) -> None:
    field, value = {
        "id": (kind.counterparty_id_field, UNKNOWN_ID),
        "external_id": (kind.counterparty_external_id_field, "no-such-counterparty"),
        "other_business_id": (kind.counterparty_id_field, kind.other_counterparty_id),
    }[by]
    body = kind.body(**{kind.counterparty_id_field: OMIT, field: value})

    [entry] = errors(client.post(kind.path, json=body), 404)
    assert entry["meta"]["location"] == "body"
    assert entry["meta"]["pointer"] == f"/{field}"
    assert value in entry["description"]


# --------------------------------------------------------------------------- ledger accounts


def test_line_item_account_by_stable_name(client: TestClient, kind: Kind) -> None:
    stable_name, account_id, account_number = kind.stable_account
    line = kind.line(**{kind.account_field: {"type": "StableName", "stable_name": stable_name}})

    credit = create(client, kind, line_items=[line])

    account = credit["line_items"][0]["ledger_account"]
    assert account["id"] == {"type": "AccountId", "id": account_id}
    assert account["stable_name"] == {"type": "StableName", "stable_name": stable_name}
    assert account["account_number"] == account_number
    assert set(account) == {
        "id",
        "name",
        "account_number",
        "stable_name",
        "normality",
        "account_type",
        "account_subtype",
    }
    assert (
        set(account["account_type"]) == set(account["account_subtype"]) == {"value", "display_name"}
    )


def test_stable_names_resolve_within_the_business(client: TestClient, kind: Kind) -> None:
    # Both businesses have an OPERATING_EXPENSES/SALES account; each gets its own.
    stable_name = kind.account["stable_name"]["stable_name"]
    body = kind.body(
        **{kind.counterparty_id_field: kind.other_counterparty_id},
        line_items=[
            kind.line(**{kind.account_field: {"type": "StableName", "stable_name": stable_name}})
        ],
    )
    response = client.post(kind.collection(OTHER_BUSINESS), json=body)

    assert response.status_code == 201, response.text
    account = data_of(response)["line_items"][0]["ledger_account"]
    assert account["id"] == {"type": "AccountId", "id": kind.other_account_id}
    assert account["stable_name"] == {"type": "StableName", "stable_name": stable_name}


@pytest.mark.parametrize("identifier", ["unknown id", "other business id", "unknown stable name"])
def test_unknown_account_is_404(client: TestClient, kind: Kind, identifier: str) -> None:
    account, leaf = {
        "unknown id": ({"type": "AccountId", "id": UNKNOWN_ID}, "id"),
        "other business id": ({"type": "AccountId", "id": kind.other_account_id}, "id"),
        "unknown stable name": (
            {"type": "StableName", "stable_name": "NO_SUCH_ACCOUNT"},
            "stable_name",
        ),
    }[identifier]
    body = kind.body(line_items=[kind.line(), kind.line(**{kind.account_field: account})])

    assert pointers(client.post(kind.path, json=body), 404) == [
        f"/line_items/1/{kind.account_field}/{leaf}"
    ]


# --------------------------------------------------------------------------- allocations


def test_fixture_credits_hold_their_allocations(client: TestClient, kind: Kind) -> None:
    assert balance(client, kind, kind.document_id) == kind.document_balance
    assert balance(client, kind, kind.second_document_id) == kind.second_document_balance


def test_allocation_reduces_the_outstanding_balance(client: TestClient, kind: Kind) -> None:
    create(
        client,
        kind,
        3000,
        allocations=[kind.allocation(1000), kind.allocation(2000, kind.second_document_id)],
    )

    assert balance(client, kind, kind.document_id) == kind.document_balance - 1000
    assert balance(client, kind, kind.second_document_id) == kind.second_document_balance - 2000


def test_allocation_may_take_the_whole_outstanding_balance(client: TestClient, kind: Kind) -> None:
    create(
        client, kind, kind.document_balance, allocations=[kind.allocation(kind.document_balance)]
    )

    assert balance(client, kind, kind.document_id) == 0


def test_allocation_over_the_outstanding_balance_is_400(client: TestClient, kind: Kind) -> None:
    amount = kind.document_balance + 1
    body = kind.body(amount, allocations=[kind.allocation(amount)])

    [pointer] = pointers(client.post(kind.path, json=body), 400)
    assert pointer.startswith("/allocations/0")
    assert balance(client, kind, kind.document_id) == kind.document_balance
    assert set(listed(client, kind)) == kind.live_credit_ids


def test_allocations_to_one_document_add_up_against_its_balance(
    client: TestClient, kind: Kind
) -> None:
    half = kind.document_balance // 2 + 1
    body = kind.body(2 * half, allocations=[kind.allocation(half), kind.allocation(half)])

    [pointer] = pointers(client.post(kind.path, json=body), 400)
    assert pointer.startswith("/allocations/1")


def test_allocations_over_the_line_items_total_is_400(client: TestClient, kind: Kind) -> None:
    body = kind.body(
        1000, allocations=[kind.allocation(600), kind.allocation(500, kind.second_document_id)]
    )

    [pointer] = pointers(client.post(kind.path, json=body), 400)
    assert pointer.startswith("/allocations/1")
    assert balance(client, kind, kind.document_id) == kind.document_balance


def test_allocation_to_another_counterpartys_document_is_400(
    client: TestClient, kind: Kind
) -> None:
    body = kind.body(allocations=[kind.allocation(100, kind.foreign_document_id)])

    [pointer] = pointers(client.post(kind.path, json=body), 400)
    assert pointer.startswith("/allocations/0")


@pytest.mark.parametrize("where", ["unknown", "other business"])
def test_allocation_to_a_document_that_names_nothing_is_404(
    client: TestClient, kind: Kind, where: str
) -> None:
    document_id = UNKNOWN_ID if where == "unknown" else kind.other_document_id
    body = kind.body(allocations=[kind.allocation(100, document_id)])

    assert pointers(client.post(kind.path, json=body), 404) == [
        f"/allocations/0/{kind.document_id_field}"
    ]


def test_allocation_amount_must_be_at_least_one_cent(client: TestClient, kind: Kind) -> None:
    body = kind.body(allocations=[kind.allocation(0)])

    assert pointers(client.post(kind.path, json=body), 400) == ["/allocations/0/amount"]


def test_patch_replacing_allocations_gives_the_balance_back(client: TestClient, kind: Kind) -> None:
    credit = create(client, kind, 5000, allocations=[kind.allocation(4000)])

    patch(
        client, kind, credit["id"], {"allocations": [kind.allocation(500, kind.second_document_id)]}
    )
    assert balance(client, kind, kind.document_id) == kind.document_balance
    assert balance(client, kind, kind.second_document_id) == kind.second_document_balance - 500

    patch(client, kind, credit["id"], {"allocations": []})
    assert balance(client, kind, kind.second_document_id) == kind.second_document_balance


def test_patch_may_reallocate_the_balance_the_credit_already_holds(
    client: TestClient, kind: Kind
) -> None:
    # The credit holds the whole balance; replacing its allocation with the same amount must
    # count the held amount as available again, and one cent more must still be refused.
    full = kind.document_balance
    credit = create(client, kind, full + 1, allocations=[kind.allocation(full)])

    patch(client, kind, credit["id"], {"allocations": [kind.allocation(full)]})
    assert balance(client, kind, kind.document_id) == 0

    response = patch(
        client, kind, credit["id"], {"allocations": [kind.allocation(full + 1)]}, status=400
    )
    assert pointers(response, 400)[0].startswith("/allocations/0")
    assert balance(client, kind, kind.document_id) == 0


def test_patch_of_a_fixture_credit_gives_its_allocation_back(
    client: TestClient, kind: Kind
) -> None:
    patch(client, kind, kind.fixture_credit_id, {"allocations": []})

    assert (
        balance(client, kind, kind.document_id) == kind.document_balance + kind.fixture_allocation
    )


def test_delete_gives_the_balance_back(client: TestClient, kind: Kind) -> None:
    credit = create(client, kind, 2500, allocations=[kind.allocation(2500)])

    assert client.delete(kind.url(credit["id"])).status_code == 200
    assert balance(client, kind, kind.document_id) == kind.document_balance
    # Deleting again does not give it back twice.
    assert client.delete(kind.url(credit["id"])).status_code == 200
    assert balance(client, kind, kind.document_id) == kind.document_balance


def test_patch_rechecks_allocations_against_new_line_items(client: TestClient, kind: Kind) -> None:
    credit = create(client, kind, 2000, allocations=[kind.allocation(2000)])

    response = patch(client, kind, credit["id"], {"line_items": [kind.line(1999)]}, status=400)

    assert pointers(response, 400)[0] == ""  # the stored allocation is not in the request
    assert errors(response, 400)[0]["meta"]["stored_pointer"].startswith("/allocations/0")
    assert fetch(client, kind, credit["id"])["line_items"][0]["amount"] == 2000


def test_patch_rechecks_allocations_against_a_new_counterparty(
    client: TestClient, kind: Kind
) -> None:
    credit = create(client, kind, allocations=[kind.allocation(100)])

    response = patch(
        client,
        kind,
        credit["id"],
        {kind.counterparty_id_field: kind.second_counterparty_id},
        status=400,
    )

    assert errors(response, 400)[0]["meta"]["stored_pointer"].startswith("/allocations/0")
    assert fetch(client, kind, credit["id"])[kind.counterparty]["id"] == kind.counterparty_id


# --------------------------------------------------------------------------- tags


def tag(key: str, value: str, **labels: str) -> dict[str, str]:
    return {"key": key, "value": value, **labels}


def test_tags_become_transaction_tags(client: TestClient, kind: Kind) -> None:
    credit = create(
        client,
        kind,
        tags=[
            tag(
                "department",
                "retail",
                dimension_display_name="Department",
                value_display_name="Retail",
            ),
            tag("project", "alpha"),
        ],
    )

    labelled, bare = credit["transaction_tags"]
    assert set(labelled) == {
        "id",
        "key",
        "value",
        "dimension_id",
        "definition_id",
        "dimension_display_name",
        "value_display_name",
        "archived_at",
    }
    assert (labelled["key"], labelled["value"]) == ("department", "retail")
    assert (labelled["dimension_display_name"], labelled["value_display_name"]) == (
        "Department",
        "Retail",
    )
    assert bare["dimension_display_name"] is bare["value_display_name"] is None
    assert labelled["archived_at"] is bare["archived_at"] is None
    assert all(
        is_uuid(t[f]) for t in (labelled, bare) for f in ("id", "dimension_id", "definition_id")
    )
    assert labelled["dimension_id"] != bare["dimension_id"]


def test_tag_ids_are_stable_per_business_key_and_value(client: TestClient, kind: Kind) -> None:
    first = create(client, kind, tags=[tag("department", "retail"), tag("department", "online")])
    second = create(
        client,
        kind,
        tags=[tag("department", "retail")],
        line_items=[kind.line(tags=[tag("department", "online"), tag("department", "retail")])],
    )
    retail, online = first["transaction_tags"]
    [retail_again] = second["transaction_tags"]
    line_online, line_retail = second["line_items"][0]["transaction_tags"]

    # One dimension per key; one definition per key and value, on credits and line items alike.
    assert retail["dimension_id"] == online["dimension_id"] == retail_again["dimension_id"]
    assert retail["dimension_id"] == line_online["dimension_id"] == line_retail["dimension_id"]
    assert retail["definition_id"] == retail_again["definition_id"] == line_retail["definition_id"]
    assert online["definition_id"] == line_online["definition_id"]
    assert retail["definition_id"] != online["definition_id"]
    # Each attached tag is its own record.
    assert (
        len({retail["id"], online["id"], retail_again["id"], line_online["id"], line_retail["id"]})
        == 5
    )


def test_tag_ids_match_the_fixture_credits_tags(client: TestClient, kind: Kind) -> None:
    fixture_tag = fetch(client, kind, kind.fixture_credit_id)["transaction_tags"][0]

    credit = create(client, kind, tags=[tag(fixture_tag["key"], fixture_tag["value"])])

    [new_tag] = credit["transaction_tags"]
    assert new_tag["dimension_id"] == fixture_tag["dimension_id"]
    assert new_tag["definition_id"] == fixture_tag["definition_id"]


def test_tag_dimensions_belong_to_one_business(client: TestClient, kind: Kind) -> None:
    here = create(client, kind, tags=[tag("department", "retail")])["transaction_tags"][0]
    body = kind.body(
        **{kind.counterparty_id_field: kind.other_counterparty_id},
        line_items=[
            kind.line(**{kind.account_field: {"type": "AccountId", "id": kind.other_account_id}})
        ],
        tags=[tag("department", "retail")],
    )
    response = client.post(kind.collection(OTHER_BUSINESS), json=body)

    there = data_of(response)["transaction_tags"][0]
    assert there["dimension_id"] != here["dimension_id"]
    assert there["definition_id"] != here["definition_id"]


# --------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("char", ["x", "é"], ids=["ascii", "two-byte"])
def test_metadata_of_exactly_one_kib_is_accepted(client: TestClient, kind: Kind, char: str) -> None:
    metadata = metadata_of_size(1024, char)

    credit = create(client, kind, metadata=metadata, line_items=[kind.line(metadata=metadata)])

    assert credit["metadata"] == metadata
    assert credit["line_items"][0]["metadata"] == metadata


@pytest.mark.parametrize("char", ["x", "é"], ids=["ascii", "two-byte"])
@pytest.mark.parametrize("where", ["credit", "line item"])
def test_metadata_over_one_kib_is_400(
    client: TestClient, kind: Kind, char: str, where: str
) -> None:
    # 1026 bytes of "é" are only 517 characters: the limit is on bytes.
    metadata = metadata_of_size(1025 if char == "x" else 1026, char)
    if where == "credit":
        body, pointer = kind.body(metadata=metadata), "/metadata"
    else:
        body = kind.body(line_items=[kind.line(), kind.line(metadata=metadata)])
        pointer = "/line_items/1/metadata"

    assert pointers(client.post(kind.path, json=body), 400) == [pointer]
    assert set(listed(client, kind)) == kind.live_credit_ids


@pytest.mark.parametrize("metadata", [[1], "text", 5], ids=["array", "string", "number"])
def test_metadata_must_be_an_object(client: TestClient, kind: Kind, metadata: Any) -> None:
    body = kind.body(metadata=metadata, line_items=[kind.line(metadata=metadata)])

    assert pointers(client.post(kind.path, json=body), 400) == [
        "/line_items/0/metadata",
        "/metadata",
    ]


def test_patch_with_oversized_metadata_is_400(client: TestClient, kind: Kind) -> None:
    response = patch(
        client, kind, kind.fixture_credit_id, {"metadata": metadata_of_size(1025)}, status=400
    )

    assert pointers(response, 400) == ["/metadata"]


# --------------------------------------------------------------------------- idempotency


def test_create_with_a_live_external_id_updates_that_credit(client: TestClient, kind: Kind) -> None:
    first = create(
        client,
        kind,
        3000,
        external_id="idem-1",
        memo="first",
        reference_number="R-1",
        allocations=[kind.allocation(3000)],
    )

    response = client.post(
        kind.path,
        json=kind.body(
            700,
            external_id="idem-1",
            memo="second",
            **{
                kind.counterparty_id_field: OMIT,
                kind.counterparty_external_id_field: kind.counterparty_external_id,
            },
            allocations=[kind.allocation(700, kind.second_document_id)],
        ),
    )

    assert response.status_code == 200, response.text
    second = data_of(response)
    assert second["id"] == first["id"]
    assert second["memo"] == "second"
    assert second["reference_number"] is None  # the new body replaces the old one whole
    assert [line["amount"] for line in second["line_items"]] == [700]
    assert [a[kind.document_id_field] for a in second["allocations"]] == [kind.second_document_id]
    assert second["created_at"] == first["created_at"]
    assert moment(second["updated_at"]) > moment(first["updated_at"])
    assert fetch(client, kind, first["id"]) == second
    assert [c for c in listed(client, kind) if c not in kind.live_credit_ids] == [first["id"]]
    assert balance(client, kind, kind.document_id) == kind.document_balance
    assert balance(client, kind, kind.second_document_id) == kind.second_document_balance - 700


def test_create_with_a_fixture_credits_external_id_answers_200(
    client: TestClient, kind: Kind
) -> None:
    credit = create(
        client, kind, status=200, external_id=kind.fixture_credit_external_id, memo="again"
    )

    assert credit["id"] == kind.fixture_credit_id
    assert credit["memo"] == "again"
    # Its old allocation no longer holds the balance.
    assert (
        balance(client, kind, kind.document_id) == kind.document_balance + kind.fixture_allocation
    )


def test_rejected_upsert_leaves_the_credit_unchanged(client: TestClient, kind: Kind) -> None:
    before = fetch(client, kind, kind.fixture_credit_id)

    response = client.post(
        kind.path,
        json=kind.body(
            external_id=kind.fixture_credit_external_id,
            allocations=[kind.allocation(kind.document_balance + kind.fixture_allocation + 1)],
        ),
    )

    errors(response, 400)
    assert fetch(client, kind, kind.fixture_credit_id) == before
    assert balance(client, kind, kind.document_id) == kind.document_balance


def test_external_id_of_a_deleted_credit_is_free_again(client: TestClient, kind: Kind) -> None:
    old = create(client, kind, external_id="reuse-me")
    assert client.delete(kind.url(old["id"])).status_code == 200

    new = create(client, kind, status=201, external_id="reuse-me")

    assert new["id"] != old["id"]
    deleted = fetch(client, kind, old["id"])
    assert deleted["deleted_at"] is not None
    assert deleted["external_id"] == "reuse-me"
    # The live holder is the new one: another create updates it.
    assert create(client, kind, status=200, external_id="reuse-me")["id"] == new["id"]


def test_external_ids_are_unique_per_business(client: TestClient, kind: Kind) -> None:
    credit = create(client, kind, status=201, external_id=kind.other_credit_external_id)

    assert credit["id"] != kind.other_credit_id
    other = client.get(kind.url(kind.other_credit_id, OTHER_BUSINESS))
    assert data_of(other)["external_id"] == kind.other_credit_external_id


def test_external_ids_are_unique_per_kind(client: TestClient) -> None:
    customer = create(client, CUSTOMER, status=201, external_id="shared-key")
    vendor = create(client, VENDOR, status=201, external_id="shared-key")

    assert customer["id"] != vendor["id"]


def test_concurrent_creates_with_one_new_external_id_make_one_credit(
    client: TestClient, kind: Kind
) -> None:
    responses: list[httpx.Response] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def post() -> None:
        start.wait()
        response = client.post(kind.path, json=kind.body(external_id="race-1"))
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    ids = {data_of(r)["id"] for r in responses}
    assert len(ids) == 1
    assert set(listed(client, kind)) == kind.live_credit_ids | ids


# --------------------------------------------------------------------------- update (PATCH)


def test_patch_replaces_present_fields_and_keeps_absent_ones(
    client: TestClient, kind: Kind
) -> None:
    before = create(client, kind, **full_body(kind))

    after = patch(client, kind, before["id"], {"memo": "changed"})

    assert after["memo"] == "changed"
    assert after["created_at"] == before["created_at"]
    assert moment(after["updated_at"]) > moment(before["updated_at"])
    unchanged = {k: v for k, v in after.items() if k not in ("memo", "updated_at")}
    assert unchanged == {k: v for k, v in before.items() if k not in ("memo", "updated_at")}
    assert fetch(client, kind, before["id"]) == after


def test_empty_patch_changes_nothing_but_updated_at(client: TestClient, kind: Kind) -> None:
    before = fetch(client, kind, kind.fixture_credit_id)

    after = patch(client, kind, kind.fixture_credit_id, {})

    assert moment(after["updated_at"]) > moment(before["updated_at"])
    assert {**after, "updated_at": None} == {**before, "updated_at": None}


def test_patch_null_clears_nullable_fields(client: TestClient, kind: Kind) -> None:
    credit = create(
        client, kind, external_id="to-clear", memo="m", metadata={"a": 1}, reference_number="R-1"
    )

    cleared = patch(
        client,
        kind,
        credit["id"],
        {
            "memo": None,
            "metadata": None,
            "reference_number": None,
            "external_id": None,
        },
    )

    assert cleared["memo"] is None
    assert cleared["metadata"] is None
    assert cleared["reference_number"] is None
    assert cleared["external_id"] is None
    # The cleared external_id is free: a create with it makes a new credit.
    assert create(client, kind, status=201, external_id="to-clear")["id"] != credit["id"]


def test_patch_replaces_arrays_whole(client: TestClient, kind: Kind) -> None:
    credit = create(
        client,
        kind,
        3000,
        allocations=[kind.allocation(1000), kind.allocation(1000, kind.second_document_id)],
        tags=[tag("department", "retail"), tag("project", "alpha")],
    )

    updated = patch(
        client,
        kind,
        credit["id"],
        {
            "line_items": [kind.line(400, memo="a"), kind.line(600, memo="b")],
            "allocations": [kind.allocation(250)],
            "tags": [tag("region", "west")],
        },
    )

    assert [(li["amount"], li["memo"]) for li in updated["line_items"]] == [(400, "a"), (600, "b")]
    assert [(a[kind.document_id_field], a["amount"]) for a in updated["allocations"]] == [
        (kind.document_id, 250)
    ]
    assert [(t["key"], t["value"]) for t in updated["transaction_tags"]] == [("region", "west")]
    assert balance(client, kind, kind.document_id) == kind.document_balance - 250
    assert balance(client, kind, kind.second_document_id) == kind.second_document_balance


@pytest.mark.parametrize("empty", [[], None], ids=["empty list", "null"])
def test_patch_removes_all_tags(client: TestClient, kind: Kind, empty: Any) -> None:
    credit = create(client, kind, tags=[tag("department", "retail")])

    assert patch(client, kind, credit["id"], {"tags": empty})["transaction_tags"] == []


def test_patch_moves_the_date_and_the_counterparty(client: TestClient, kind: Kind) -> None:
    credit = create(client, kind)

    updated = patch(
        client,
        kind,
        credit["id"],
        {
            kind.date_field: "2025-01-02T03:04:05Z",
            kind.counterparty_external_id_field: kind.second_counterparty_external_id,
        },
    )

    assert moment(updated[kind.date_field]) == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert updated[kind.counterparty]["id"] == kind.second_counterparty_id
    assert updated["created_at"] == credit["created_at"]


def test_patch_to_an_external_id_held_by_another_live_credit_is_400(
    client: TestClient, kind: Kind
) -> None:
    credit = create(client, kind, external_id="mine")

    response = patch(
        client, kind, credit["id"], {"external_id": kind.fixture_credit_external_id}, status=400
    )

    assert pointers(response, 400) == ["/external_id"]
    assert fetch(client, kind, credit["id"])["external_id"] == "mine"


def test_patch_to_an_external_id_held_by_a_deleted_credit_is_allowed(
    client: TestClient, kind: Kind
) -> None:
    gone = create(client, kind, external_id="was-taken")
    client.delete(kind.url(gone["id"]))
    credit = create(client, kind)

    assert patch(client, kind, credit["id"], {"external_id": "was-taken"})["external_id"] == (
        "was-taken"
    )


def test_patch_keeping_its_own_external_id_is_allowed(client: TestClient, kind: Kind) -> None:
    patched = patch(
        client,
        kind,
        kind.fixture_credit_id,
        {"external_id": kind.fixture_credit_external_id, "memo": "same key"},
    )

    assert patched["external_id"] == kind.fixture_credit_external_id


def test_patch_of_a_deleted_credit_is_400(client: TestClient, kind: Kind) -> None:
    client.delete(kind.url(kind.fixture_credit_id))
    before = fetch(client, kind, kind.fixture_credit_id)

    response = patch(client, kind, kind.fixture_credit_id, {"memo": "too late"}, status=400)

    errors(response, 400)
    assert fetch(client, kind, kind.fixture_credit_id) == before


def test_patch_checks_every_rule_and_changes_nothing_when_one_breaks(
    client: TestClient, kind: Kind
) -> None:
    before = fetch(client, kind, kind.fixture_credit_id)

    response = patch(
        client,
        kind,
        kind.fixture_credit_id,
        {
            "memo": "should not stick",
            "allocations": [kind.allocation(kind.document_balance + kind.fixture_allocation + 1)],
        },
        status=400,
    )

    errors(response, 400)
    assert fetch(client, kind, kind.fixture_credit_id) == before
    assert balance(client, kind, kind.document_id) == kind.document_balance


# --------------------------------------------------------------------------- soft delete


def test_delete_is_soft_and_repeatable(client: TestClient, kind: Kind) -> None:
    credit = create(client, kind, external_id="to-delete")

    first = client.delete(kind.url(credit["id"]))

    assert first.status_code == 200, first.text
    deleted = data_of(first)
    assert deleted["id"] == credit["id"]
    assert moment(deleted["deleted_at"]) >= moment(credit["created_at"])
    assert deleted["updated_at"] == deleted["deleted_at"]  # updated_at moves on delete
    assert moment(deleted["updated_at"]) > moment(credit["updated_at"])
    assert {**deleted, "deleted_at": None, "updated_at": None} == {
        **credit,
        "deleted_at": None,
        "updated_at": None,
    }
    again = client.delete(kind.url(credit["id"]))
    assert again.status_code == 200
    assert data_of(again) == deleted
    assert fetch(client, kind, credit["id"]) == deleted


def test_deleted_credits_are_listed_only_with_include_deleted(
    client: TestClient, kind: Kind
) -> None:
    client.delete(kind.url(kind.fixture_credit_id))
    live = kind.live_credit_ids - {kind.fixture_credit_id}

    assert set(listed(client, kind)) == live
    assert set(listed(client, kind, include_deleted="false")) == live
    with_deleted = page(client, kind, include_deleted="true")["data"]
    assert kind.fixture_credit_id in {c["id"] for c in with_deleted}
    assert all((c["deleted_at"] is not None) == (c["id"] not in live) for c in with_deleted)


def test_deleted_fixture_credit_fetches_and_lists_only_with_include_deleted(
    client: TestClient,
) -> None:
    deleted_id = "cc000000-0000-4000-8000-000000000004"

    assert moment(fetch(client, CUSTOMER, deleted_id)["deleted_at"]) == datetime(
        2024, 4, 20, 10, tzinfo=UTC
    )
    assert deleted_id not in listed(client, CUSTOMER)
    assert deleted_id in listed(client, CUSTOMER, include_deleted="true")


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_credit_is_404(client: TestClient, kind: Kind, method: str) -> None:
    body = {"memo": "x"} if method == "PATCH" else None

    response = client.request(method, kind.url(UNKNOWN_ID), json=body)

    [entry] = errors(response, 404)
    assert entry["meta"]["location"] == "path"
    assert entry["meta"]["pointer"] == f"/{kind.counterparty}CreditId"


# --------------------------------------------------------------------------- lists


def test_list_answers_live_credits_in_creation_order(client: TestClient, kind: Kind) -> None:
    body = page(client, kind)

    assert set(body) == {"data", "meta"}
    assert body["meta"] == {"pagination": {"cursor": None, "has_more": False}}
    created = [moment(c["created_at"]) for c in body["data"]]
    assert created == sorted(created)
    assert {c["id"] for c in body["data"]} == kind.live_credit_ids


def test_list_filters_by_counterparty(client: TestClient, kind: Kind) -> None:
    create(client, kind, **{kind.counterparty_id_field: kind.second_counterparty_id})
    mine = create(client, kind)

    assert set(listed(client, kind, **{kind.counterparty_id_field: kind.counterparty_id})) == (
        kind.counterparty_credit_ids | {mine["id"]}
    )
    assert listed(client, kind, **{kind.counterparty_id_field: UNKNOWN_ID}) == []


@pytest.fixture
def dated(client: TestClient, kind: Kind) -> dict[str, str]:
    """Credits around 2030-06-15 (no fixture is near), by a label of their date."""
    stamps = {
        "day before, last microsecond": "2030-06-14T23:59:59.999999Z",
        "midnight": "2030-06-15T00:00:00Z",
        "noon": "2030-06-15T12:00:00Z",
        "last millisecond": "2030-06-15T23:59:59.999Z",
        "next midnight": "2030-06-16T00:00:00Z",
    }
    return {
        label: create(client, kind, **{kind.date_field: stamp})["id"]
        for label, stamp in stamps.items()
    }


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Bare dates: the start of the start day to the end of the end day.
        ("2030-06-15", "2030-06-15", ["midnight", "noon", "last millisecond"]),
        ("2030-06-15", None, ["midnight", "noon", "last millisecond", "next midnight"]),
        (None, "2030-06-14", ["day before, last microsecond"]),
        # Date-times: both ends inclusive, to the microsecond, in any offset.
        ("2030-06-15T00:00:00Z", "2030-06-15T12:00:00Z", ["midnight", "noon"]),
        (
            "2030-06-15T00:00:00.000001Z",
            "2030-06-16T00:00:00Z",
            ["noon", "last millisecond", "next midnight"],
        ),
        ("2030-06-15T14:00:00+02:00", "2030-06-15T07:00:00-05:00", ["noon"]),
        (
            "2030-06-14T23:59:59.999999Z",
            "2030-06-14T23:59:59.999999Z",
            ["day before, last microsecond"],
        ),
    ],
)
def test_list_filters_by_date_inclusively(
    client: TestClient,
    kind: Kind,
    dated: dict[str, str],
    start: str | None,
    end: str | None,
    expected: list[str],
) -> None:
    params = {
        f"{kind.date_field}_{name}": value
        for name, value in (("start", start), ("end", end))
        if value is not None
    }

    found = set(listed(client, kind, **params)) - kind.live_credit_ids

    assert found == {dated[label] for label in expected}


def test_list_filters_by_memo(client: TestClient, kind: Kind) -> None:
    exact = create(client, kind, memo="Zebra refund")["id"]
    longer = create(client, kind, memo="Zebra refund, second part")["id"]
    create(client, kind, memo="Unrelated")

    assert listed(client, kind, memo="Zebra refund") == [exact]
    assert listed(client, kind, memo="Zebra") == []
    assert listed(client, kind, memo_contains="bra ref") == [exact, longer]
    assert listed(client, kind, memo_contains="second") == [longer]


def test_list_filters_by_reference_numbers(client: TestClient, kind: Kind) -> None:
    one = create(client, kind, reference_number="RN-1")["id"]
    ten = create(client, kind, reference_number="RN-10")["id"]
    two = create(client, kind, reference_number="RN-2")["id"]

    assert listed(client, kind, reference_number="RN-1") == [one]
    assert listed(client, kind, reference_numbers="RN-1,RN-2") == [one, two]
    assert listed(client, kind, reference_numbers="RN-10") == [ten]
    assert listed(client, kind, reference_numbers="RN-9,RN-99") == []


def test_list_filters_combine(client: TestClient, kind: Kind) -> None:
    wanted = create(client, kind, memo="combo match", reference_number="CB-1")["id"]
    create(client, kind, memo="combo other", reference_number="CB-2")
    create(
        client,
        kind,
        memo="combo match",
        reference_number="CB-1",
        **{kind.counterparty_id_field: kind.second_counterparty_id},
    )

    assert listed(
        client,
        kind,
        memo_contains="combo",
        reference_number="CB-1",
        **{kind.counterparty_id_field: kind.counterparty_id},
    ) == [wanted]


def test_list_takes_only_its_own_kinds_parameters(client: TestClient, kind: Kind) -> None:
    other = VENDOR if kind is CUSTOMER else CUSTOMER

    assert pointers(client.get(kind.path, params={"sort_by": other.date_field}), 400) == [
        "/sort_by"
    ]
    assert pointers(
        client.get(kind.path, params={other.counterparty_id_field: other.counterparty_id}), 400
    ) == [f"/{other.counterparty_id_field}"]
    assert pointers(
        client.get(kind.path, params={f"{other.date_field}_start": "2024-01-01"}), 400
    ) == [f"/{other.date_field}_start"]


def add_paging_credits(client: TestClient, kind: Kind) -> None:
    """Nine more credits, three pairs of them sharing a date, so sort keys tie."""
    for day in (3, 1, 2, 3, 1, 2, 5, 4, 3):
        create(client, kind, **{kind.date_field: f"2030-01-0{day}T00:00:00Z"})


@pytest.mark.parametrize("order", ["ASC", "DESC"])
@pytest.mark.parametrize("by", ["created_at", "date"])
def test_paging_visits_every_credit_once_in_order(
    client: TestClient, kind: Kind, order: str, by: str
) -> None:
    add_paging_credits(client, kind)
    sort_by = "created_at" if by == "created_at" else kind.date_field
    everything = page(client, kind, sort_by=sort_by, sort_order=order)["data"]

    seen = walk(client, kind, limit=2, sort_by=sort_by, sort_order=order)

    assert seen == [c["id"] for c in everything]  # same order as one big page, no repeats
    assert len(seen) == len(kind.live_credit_ids) + 9
    keys = [moment(c[sort_by]) for c in everything]
    assert keys == sorted(keys, reverse=order == "DESC")


@pytest.mark.parametrize("order", ["ASC", "DESC"])
@pytest.mark.parametrize("by", ["created_at", "date"])
def test_paging_while_credits_are_created_never_repeats_or_skips(
    client: TestClient, kind: Kind, order: str, by: str
) -> None:
    add_paging_credits(client, kind)
    sort_by = "created_at" if by == "created_at" else kind.date_field
    at_start = listed(client, kind)
    days = itertools.cycle([2, 3, 1, 4, 5])  # new credits land on both sides of the cursor

    def create_one() -> None:
        create(client, kind, **{kind.date_field: f"2030-01-0{next(days)}T00:00:00Z"})

    seen = walk(client, kind, between_pages=create_one, limit=2, sort_by=sort_by, sort_order=order)

    assert len(seen) == len(set(seen)), "a credit was listed twice"
    assert set(at_start) <= set(seen), "a credit that existed when paging began was skipped"


def test_default_limit_is_100(client: TestClient, kind: Kind) -> None:
    for _ in range(101 - len(kind.live_credit_ids)):
        create(client, kind)

    first = page(client, kind)
    second = page(client, kind, cursor=first["meta"]["pagination"]["cursor"])

    assert len(first["data"]) == 100
    assert first["meta"]["pagination"]["has_more"] is True
    assert len(second["data"]) == 1
    assert second["meta"]["pagination"] == {"cursor": None, "has_more": False}


def test_limit_bounds_the_page(client: TestClient, kind: Kind) -> None:
    first = page(client, kind, limit=1)

    assert len(first["data"]) == 1
    assert first["meta"]["pagination"]["has_more"] is True
    assert len(page(client, kind, limit=100)["data"]) == len(kind.live_credit_ids)


def test_total_count_only_when_asked(client: TestClient, kind: Kind) -> None:
    by_counterparty = {kind.counterparty_id_field: kind.counterparty_id}
    counted = page(client, kind, limit=1, show_total_count="true", **by_counterparty)
    cursor = counted["meta"]["pagination"]["cursor"]
    next_page = page(
        client, kind, limit=1, show_total_count="true", cursor=cursor, **by_counterparty
    )

    assert counted["meta"]["pagination"]["total_count"] == len(kind.counterparty_credit_ids)
    assert next_page["meta"]["pagination"]["total_count"] == len(kind.counterparty_credit_ids)
    assert "total_count" not in page(client, kind)["meta"]["pagination"]
    assert "total_count" not in page(client, kind, show_total_count="false")["meta"]["pagination"]


def forged_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        "é",
        forged_cursor(1, 2),
        forged_cursor("not-a-time", "not-an-id", "created_at", "ASC"),
    ],
    ids=["word", "punctuation", "non-ascii", "wrong-shape", "forged"],
)
def test_cursor_the_sandbox_did_not_issue_is_400(
    client: TestClient, kind: Kind, cursor: str
) -> None:
    assert pointers(client.get(kind.path, params={"cursor": cursor}), 400) == ["/cursor"]


@pytest.mark.parametrize("change", ["sort_order", "sort_by"])
def test_cursor_reused_with_another_sort_is_400(
    client: TestClient, kind: Kind, change: str
) -> None:
    cursor = page(client, kind, limit=1)["meta"]["pagination"]["cursor"]
    other = {"sort_order": "DESC"} if change == "sort_order" else {"sort_by": kind.date_field}

    response = client.get(kind.path, params={"limit": 1, "cursor": cursor, **other})

    assert pointers(response, 400) == ["/cursor"]


# --------------------------------------------------------------------------- businesses


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_credit_is_invisible_through_another_business(
    client: TestClient, kind: Kind, method: str
) -> None:
    before = fetch(client, kind, kind.fixture_credit_id)
    body = {"memo": "hijacked"} if method == "PATCH" else None

    response = client.request(method, kind.url(kind.fixture_credit_id, OTHER_BUSINESS), json=body)

    errors(response, 404)
    assert fetch(client, kind, kind.fixture_credit_id) == before


def test_lists_show_only_the_businesss_own_credits(client: TestClient, kind: Kind) -> None:
    other = client.get(kind.collection(OTHER_BUSINESS), params={"include_deleted": "true"})

    assert [c["id"] for c in other.json()["data"]] == [kind.other_credit_id]
    assert kind.other_credit_id not in listed(client, kind, include_deleted="true")


def test_a_credit_cannot_be_fetched_by_another_businesss_id(client: TestClient, kind: Kind) -> None:
    errors(client.get(kind.url(kind.other_credit_id)), 404)


@pytest.mark.parametrize("method", ["POST", "GET list", "GET", "PATCH", "DELETE"])
def test_unknown_business_is_404_business_not_found(
    client: TestClient, kind: Kind, method: str
) -> None:
    collection = kind.collection(UNKNOWN_BUSINESS)
    url, body = {
        "POST": (collection, kind.body()),
        "GET list": (collection, None),
        "GET": (f"{collection}/{kind.fixture_credit_id}", None),
        "PATCH": (f"{collection}/{kind.fixture_credit_id}", {"memo": "x"}),
        "DELETE": (f"{collection}/{kind.fixture_credit_id}", None),
    }[method]

    response = client.request(method.split()[0], url, json=body)

    [entry] = errors(response, 404)
    assert entry["description"].startswith("Business not found")
    assert entry["meta"]["location"] == "path"
    assert entry["meta"]["pointer"] == "/businessId"


def test_upper_case_uuids_name_the_same_records_and_answers_are_lower_case(
    client: TestClient,
) -> None:
    upper_business = f"/v1/businesses/{BUSINESS.upper()}/invoices/customer-credits"
    fetched = client.get(f"{upper_business}/CC000000-0000-4000-8000-000000000001")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["data"]["id"] == "cc000000-0000-4000-8000-000000000001"
    listed = client.get(
        upper_business, params={"customer_id": "C0000000-0000-4000-8000-000000000001"}
    )
    assert listed.status_code == 200
    assert {c["customer"]["id"] for c in listed.json()["data"]} == {
        "c0000000-0000-4000-8000-000000000001"
    }
    created = client.post(
        upper_business,
        json={
            "customer_id": "C0000000-0000-4000-8000-000000000001",
            "line_items": [
                {
                    "amount": 100,
                    "revenue_account_identifier": {
                        "type": "AccountId",
                        "id": "A0000000-0000-4000-8000-000000000001",
                    },
                }
            ],
            "allocations": [{"amount": 100, "invoice_id": "E0000000-0000-4000-8000-000000000001"}],
        },
    )
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["customer"]["id"] == "c0000000-0000-4000-8000-000000000001"
    assert data["allocations"][0]["invoice_id"] == "e0000000-0000-4000-8000-000000000001"
    assert (
        data["line_items"][0]["ledger_account"]["id"]["id"]
        == "a0000000-0000-4000-8000-000000000001"
    )


def test_a_patch_that_breaks_a_stored_allocation_says_the_stored_one_no_longer_fits(
    client: TestClient,
) -> None:
    credit = f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000001"  # 5000 allocated
    lowered = [
        {
            "amount": 100,
            "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
        }
    ]
    response = client.patch(credit, json={"line_items": lowered})
    assert response.status_code == 400
    [entry] = response.json()["errors"]
    assert entry["meta"]["pointer"] == ""
    assert entry["meta"]["stored_pointer"] == "/allocations/0/amount"
    assert entry["description"].startswith(
        "The credit's stored allocations (not in this PATCH; /allocations/0/amount of the credit) no longer fit"
    )
    assert "Send `allocations` in the same PATCH" in entry["description"]
    # Sent in the request, the allocation is pointed at as usual.
    both = client.patch(
        credit,
        json={
            "line_items": lowered,
            "allocations": [{"amount": 200, "invoice_id": "e0000000-0000-4000-8000-000000000001"}],
        },
    )
    assert both.json()["errors"][0]["meta"]["pointer"] == "/allocations/0/amount"
