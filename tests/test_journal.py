"""The request journal records what each call asked and got, within its cap."""

from conftest import CUSTOMER_CREDITS
from starlette.testclient import TestClient

from mockserver import Config, create_app


def test_journal_records_operation_status_and_bodies() -> None:
    app = create_app(Config())
    journal = app.state.sandbox.journal
    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        client.get(f"{CUSTOMER_CREDITS}?limit=1")
        client.post(CUSTOMER_CREDITS, json={"line_items": []})
        client.post("/_sandbox/reset")  # control calls are not part of the journal
    first, second = journal.entries()
    assert (first.operation_id, first.status, first.off_contract) == (
        "business.invoices.customer-credits.get",
        200,
        False,
    )
    assert first.business_id == "b0000000-0000-4000-8000-000000000001"
    assert first.query == "limit=1"
    assert second.status == 400 and second.off_contract
    assert second.request_body == {"line_items": []}  # JSON, although off-contract
    assert second.errors[0]["error_enum"] == "SpecifiedBadRequest"
    assert journal.entries(status=400) == [second]


def test_journal_drops_the_oldest_beyond_its_cap() -> None:
    app = create_app(Config(journal_cap=3))
    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        for limit in range(1, 6):
            client.get(f"{CUSTOMER_CREDITS}?limit={limit}")
    assert [e.query for e in app.state.sandbox.journal.entries()] == [
        "limit=3",
        "limit=4",
        "limit=5",
    ]


def test_journal_keeps_request_headers_with_credentials_redacted() -> None:
    app = create_app(Config())
    with TestClient(app) as client:
        client.post(
            CUSTOMER_CREDITS,
            content=b'{"memo": 5',  # not JSON: kept as text
            headers={
                "Authorization": "Bearer secret-token",
                "Content-Type": "application/json",
                "Prefer": "return=minimal",
                "X-Request-Id": "abc-123",
            },
        )
        client.get(CUSTOMER_CREDITS, headers={"Authorization": "Basic c2VjcmV0"})
    broken, basic = app.state.sandbox.journal.entries()
    assert broken.request_headers["authorization"] == "Bearer [redacted]"
    assert broken.request_headers["prefer"] == "return=minimal"
    assert broken.request_headers["x-request-id"] == "abc-123"
    assert broken.request_body == '{"memo": 5'
    assert "secret-token" not in repr(broken.as_dict())
    assert basic.request_headers["authorization"] == "Basic [redacted]"
    entry = client.get("/_sandbox/journal").json()["data"][0]
    assert entry["request_headers"]["x-request-id"] == "abc-123"
    assert entry["ignored_preferences"] == ["return=minimal"]


def test_an_answer_journaled_in_one_step_reads_as_one_journaled_field_by_field() -> None:
    from mockserver.controls.journal import Journal, encode_json

    journal = Journal()
    seen = []
    journal.subscribe(seen.append)
    common = {
        "method": "POST",
        "path": "/pets",
        "query": "a=1",
        "operation_id": "addPet",
        "business_id": None,
        "status": 201,
        "request_body": {"name": "rex", "big": 2**70},
        "off_contract": False,
        "contract_violation": True,
        "ignored_preferences": ("odd=1",),
    }
    headers = ((b"authorization", b"Bearer secret"), (b"x-id", b"7"))
    full = journal.record(**common, response_body={"id": 1}, request_headers=headers)
    request_json = encode_json(common.pop("request_body"))
    journal.record_answer(
        **common, request_json=request_json, response_json=b'{"id":1}', request_headers=headers
    )
    first, second = journal.entries()
    assert (first.seq, second.seq) == (1, 2)
    assert {**first.as_dict(), "seq": 2} == second.as_dict()
    assert second.request_body == {"name": "rex", "big": 2**70}
    assert second.request_headers == {"authorization": "Bearer [redacted]", "x-id": "7"}
    assert seen[0] == full and seen[1].as_dict() == second.as_dict()


def test_journal_keeps_an_accepted_json_body_as_sent_and_reads_it_decoded() -> None:
    app = create_app(Config())
    body = (
        b'{\n  "customer_external_id": "cust-001",\n  "memo": "caf\\u00e9",\n'
        b'  "line_items": [{"amount": 7, "revenue_account_identifier":'
        b' {"type": "StableName", "stable_name": "SALES"}}]\n}'
    )
    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        created = client.post(
            CUSTOMER_CREDITS, content=body, headers={"Content-Type": "application/json"}
        )
    assert created.status_code == 201
    (entry,) = app.state.sandbox.journal.entries()
    assert entry.request_body == {
        "customer_external_id": "cust-001",
        "memo": "café",
        "line_items": [
            {
                "amount": 7,
                "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
            }
        ],
    }
    assert entry.as_dict()["request_body"]["memo"] == "café"
