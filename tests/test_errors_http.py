"""Errors, authentication, headers and the control API over HTTP (the document's "Errors",
"Authentication" and "Rate limits").

Every 4xx answers Layer's error envelope; validation failures list every violation with its
location, pointer and keyword; strict mode turns the sandbox's own off-contract answers into a
500 contract violation.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from conftest import (
    BUSINESS,
    CREDIT,
    CUSTOMER_CREDITS,
    ERROR_ENUMS,
    OTHER_BUSINESS,
    UNKNOWN_BUSINESS,
    VENDOR_CREDIT,
    VENDOR_CREDITS,
    basic,
)
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mockserver import Config, Sandbox, create_app
from mockserver.engine.dispatch import Call, Reply

ROOT = Path(__file__).resolve().parent.parent
BEARER = {"Authorization": "Bearer test-token"}


def valid_credit(**fields: Any) -> dict[str, Any]:
    return {
        "customer_id": "c0000000-0000-4000-8000-000000000001",
        "line_items": [
            {
                "amount": 1000,
                "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
            }
        ],
        **fields,
    }


def vendor_credit(**fields: Any) -> dict[str, Any]:
    """A valid vendor credit create body; a field given as None is left out."""
    body = {
        "vendor_id": "d0000000-0000-4000-8000-000000000001",
        "received_at": "2024-06-01T12:00:00Z",
        "line_items": [
            {
                "amount": 1000,
                "expense_account_identifier": {"type": "StableName", "stable_name": "COGS"},
            }
        ],
        **fields,
    }
    return {key: value for key, value in body.items() if value is not None}


def error_entries(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    """The entries of a ``status`` answer, after checking the envelope every 4xx must have."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"errors"}, body  # never `data` beside `errors`
    assert body["errors"], body
    for entry in body["errors"]:
        assert isinstance(entry["type"], str) and entry["type"]
        assert isinstance(entry["description"], str) and entry["description"]
        assert entry["error_enum"] == ERROR_ENUMS[status], entry
    return body["errors"]  # type: ignore[no-any-return]


def where(response: httpx.Response, status: int = 400) -> set[tuple[str, str, str]]:
    """(location, pointer, keyword) of every entry: what a validation failure must carry."""
    return {
        (e["meta"]["location"], e["meta"]["pointer"], e["meta"]["keyword"])
        for e in error_entries(response, status)
    }


def make_client(app: Starlette, **headers: str) -> TestClient:
    return TestClient(app, headers=headers)


@pytest.fixture
def anonymous(app: Starlette, sandbox: Sandbox) -> Iterator[TestClient]:
    """A client of the session app that sends no Authorization header."""
    with TestClient(app) as client:
        yield client


def state(client: TestClient) -> dict[str, Any]:
    response = client.get("/_sandbox/state")
    assert response.status_code == 200
    return response.json()["data"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- envelope


REQUESTS_ANSWERED_4XX: dict[str, tuple[Callable[[TestClient], httpx.Response], int]] = {
    "schema violation": (lambda c: c.post(CUSTOMER_CREDITS, json={"line_items": []}), 400),
    "malformed json": (
        lambda c: c.post(
            CUSTOMER_CREDITS, content=b"{", headers={"content-type": "application/json"}
        ),
        400,
    ),
    "business rule": (
        lambda c: c.post(
            CUSTOMER_CREDITS,
            json=valid_credit(
                allocations=[{"amount": 2000, "invoice_id": "e0000000-0000-4000-8000-000000000001"}]
            ),
        ),
        400,
    ),
    "bad query": (lambda c: c.get(CUSTOMER_CREDITS, params={"limit": 0}), 400),
    "bad path": (lambda c: c.get(f"{CUSTOMER_CREDITS}/nope"), 400),
    "no token": (lambda c: c.get(CUSTOMER_CREDITS, headers={"Authorization": ""}), 401),
    "unknown business": (
        lambda c: c.get(CUSTOMER_CREDITS.replace(BUSINESS, UNKNOWN_BUSINESS)),
        404,
    ),
    "unknown credit": (lambda c: c.get(f"{CUSTOMER_CREDITS}/{uuid.uuid4()}"), 404),
    "unknown id in body": (
        lambda c: c.post(CUSTOMER_CREDITS, json=valid_credit(customer_id=str(uuid.uuid4()))),
        404,
    ),
    "unknown path": (lambda c: c.get("/v1/nothing/here"), 404),
    "wrong method": (lambda c: c.put(CUSTOMER_CREDITS, json={}), 405),
    "wrong media type": (
        lambda c: c.post(CUSTOMER_CREDITS, content=b"{}", headers={"content-type": "text/plain"}),
        415,
    ),
}


@pytest.mark.parametrize("name", REQUESTS_ANSWERED_4XX)
def test_every_4xx_answers_the_error_envelope(client: TestClient, name: str) -> None:
    request, status = REQUESTS_ANSWERED_4XX[name]

    error_entries(request(client), status)


VALIDATION_FAILURES: dict[str, tuple[Callable[[TestClient], httpx.Response], tuple[str, ...]]] = {
    "body type": (
        lambda c: c.post(CUSTOMER_CREDITS, json=valid_credit(memo=7)),
        ("body", "/memo", "type"),
    ),
    "body unknown field": (
        lambda c: c.post(CUSTOMER_CREDITS, json=valid_credit(surprise=1)),
        ("body", "/surprise", "additionalProperties"),
    ),
    "body required": (
        lambda c: c.post(VENDOR_CREDITS, json=vendor_credit(received_at=None)),
        ("body", "/received_at", "required"),
    ),
    "query enum": (
        lambda c: c.get(CUSTOMER_CREDITS, params={"sort_order": "UP"}),
        ("query", "/sort_order", "enum"),
    ),
    "query format": (
        lambda c: c.get(CUSTOMER_CREDITS, params={"customer_id": "x"}),
        ("query", "/customer_id", "format"),
    ),
    "query boolean": (
        lambda c: c.get(CUSTOMER_CREDITS, params={"include_deleted": "yes"}),
        ("query", "/include_deleted", "type"),
    ),
    "path format": (
        lambda c: c.get(f"{CUSTOMER_CREDITS}/not-a-uuid"),
        ("path", "/customerCreditId", "format"),
    ),
}


@pytest.mark.parametrize("name", VALIDATION_FAILURES)
def test_validation_errors_say_where_and_which_keyword(client: TestClient, name: str) -> None:
    request, expected = VALIDATION_FAILURES[name]

    assert where(request(client)) == {expected}


def test_every_violation_of_a_request_is_listed(client: TestClient) -> None:
    body = {
        "customer_id": "not-a-uuid",
        "line_items": [
            {
                "amount": 0,
                "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
            }
        ],
        "memo": 7,
        "allocations": [{"amount": 1}],
    }

    response = client.post(CUSTOMER_CREDITS, params={"bogus": "1", "other": "2"}, json=body)

    assert where(response) == {
        ("query", "/bogus", "unknown"),
        ("query", "/other", "unknown"),
        ("body", "/customer_id", "format"),
        ("body", "/line_items/0/amount", "minimum"),
        ("body", "/memo", "type"),
        ("body", "/allocations/0/invoice_id", "required"),
    }


def test_every_violation_of_a_query_is_listed(client: TestClient) -> None:
    response = client.get(
        CUSTOMER_CREDITS,
        params={"limit": 0, "sort_order": "UP", "customer_id": "x", "sent_at_start": "yesterday"},
    )

    assert {pointer for _, pointer, _ in where(response)} == {
        "/limit",
        "/sort_order",
        "/customer_id",
        "/sent_at_start",
    }


def test_a_bad_account_id_is_reported_at_the_id(client: TestClient) -> None:
    # The identifier says AccountId; the problem is its id, not a missing stable_name.
    body = valid_credit(
        line_items=[
            {"amount": 1, "revenue_account_identifier": {"type": "AccountId", "id": "not-a-uuid"}}
        ]
    )

    response = client.post(CUSTOMER_CREDITS, json=body)

    assert where(response) == {("body", "/line_items/0/revenue_account_identifier/id", "format")}


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"memo": }', b"\xff\xfe", b"[" * 5000, b""],
    ids=["truncated", "bad value", "not utf-8", "too deep", "empty"],
)
def test_malformed_json_is_400(client: TestClient, raw: bytes) -> None:
    response = client.post(
        CUSTOMER_CREDITS, content=raw, headers={"content-type": "application/json"}
    )

    [(location, pointer, _)] = where(response)
    assert (location, pointer) == ("body", "")


def test_json_that_is_not_an_object_is_400(client: TestClient) -> None:
    response = client.post(CUSTOMER_CREDITS, json=[valid_credit()])

    assert where(response) == {("body", "", "type")}


# --------------------------------------------------------------------------- media type, size


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_body_that_is_not_json_is_415(
    client: TestClient, content_type: str | None, method: str
) -> None:
    url = CUSTOMER_CREDITS if method == "POST" else CREDIT
    headers = {"content-type": content_type} if content_type else {}
    before = state(client)

    response = client.request(method, url, content=orjson.dumps(valid_credit()), headers=headers)

    [entry] = error_entries(response, 415)
    assert entry["meta"]["location"] == "header"
    assert state(client) == before


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_media_type_parameters_and_case_are_accepted(
    client: TestClient, content_type: str
) -> None:
    response = client.post(
        CUSTOMER_CREDITS,
        content=orjson.dumps(valid_credit()),
        headers={"content-type": content_type},
    )

    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def small_body_app() -> Starlette:
    return create_app(Config(max_body_bytes=400))


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit_is_413(small_body_app: Starlette, streamed: bool) -> None:
    small_body_app.state.sandbox.store.reset()
    client = make_client(small_body_app, **BEARER)
    raw = orjson.dumps(valid_credit(memo="x" * 400))
    content: Any = iter([raw[:100], raw[100:]]) if streamed else raw

    response = client.post(
        CUSTOMER_CREDITS, content=content, headers={"content-type": "application/json"}
    )

    error_entries(response, 413)
    assert len(client.get(CUSTOMER_CREDITS).json()["data"]) == 3  # nothing was stored


def test_body_within_the_limit_is_served(small_body_app: Starlette) -> None:
    small_body_app.state.sandbox.store.reset()
    raw = orjson.dumps(valid_credit())
    assert len(raw) <= 400

    response = make_client(small_body_app, **BEARER).post(
        CUSTOMER_CREDITS, content=raw, headers={"content-type": "application/json"}
    )

    assert response.status_code == 201, response.text


def test_default_body_limit_is_one_mib(client: TestClient) -> None:
    over = orjson.dumps(valid_credit(memo="x" * (1024 * 1024)))

    error_entries(
        client.post(CUSTOMER_CREDITS, content=over, headers={"content-type": "application/json"}),
        413,
    )


# --------------------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Token abc", "Basic dXNlcjpwYXNz", "test-token"],
    ids=[
        "absent",
        "empty",
        "scheme only",
        "scheme and space",
        "other scheme",
        "basic",
        "no scheme",
    ],
)
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", CUSTOMER_CREDITS),
        ("POST", CUSTOMER_CREDITS),
        ("GET", CREDIT),
        ("PATCH", CREDIT),
        ("DELETE", VENDOR_CREDIT),
        ("GET", "/whoami"),
    ],
)
def test_missing_or_malformed_authorization_is_401(
    anonymous: TestClient, authorization: str | None, method: str, url: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    body = {"memo": "x"} if method == "PATCH" else valid_credit() if method == "POST" else None
    before = state(anonymous)

    response = anonymous.request(method, url, json=body, headers=headers)

    [entry] = error_entries(response, 401)
    assert entry["meta"]["location"] == "header"
    assert state(anonymous) == before


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        ("Bearer a b c", "the bearer token contains ' ', which RFC 6750 does not allow"),
        ("Bearer tok,en", "the bearer token contains ','"),
        ("Bearer ab=cd", "the bearer token has '=' before its end"),
        ("Bearer {token}", "the bearer token contains '{'"),
        (
            "Basic Y2xpZW50OnNlY3JldA==",
            "this operation takes a bearer token, not HTTP Basic credentials",
        ),
        ("Token abc", "the Authorization scheme 'token' is not accepted here"),
    ],
)
def test_a_malformed_bearer_token_is_401_saying_what_is_wrong(
    anonymous: TestClient, authorization: str, message: str
) -> None:
    response = anonymous.get(CUSTOMER_CREDITS, headers={"Authorization": authorization})
    [entry] = error_entries(response, 401)
    assert message in entry["description"]
    assert "send Authorization: Bearer <token>" in entry["description"]


@pytest.mark.parametrize("token", ["abc", "a-b.c_d~e+f/g", "YWJj==", "sandbox-0000"])
def test_rfc_6750_tokens_are_accepted(anonymous: TestClient, token: str) -> None:
    response = anonymous.get(CUSTOMER_CREDITS, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_any_non_empty_bearer_token_is_accepted_by_default(anonymous: TestClient) -> None:
    response = anonymous.get(CUSTOMER_CREDITS, headers={"Authorization": "bearer whatever-1"})

    assert response.status_code == 200


@pytest.fixture(scope="module")
def token_map_app() -> Starlette:
    return create_app(Config(tokens={"t1": frozenset({BUSINESS})}))


def test_token_map_token_works_on_its_business(token_map_app: Starlette) -> None:
    client = make_client(token_map_app, Authorization="Bearer t1")

    assert client.get(CUSTOMER_CREDITS).status_code == 200
    assert client.get(CREDIT).status_code == 200


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", "/invoices/customer-credits"),
        ("GET", "/invoices/customer-credits/cc000000-0000-4000-8000-000000000011"),
        ("DELETE", "/bills/vendor-credits/dc000000-0000-4000-8000-000000000011"),
    ],
)
def test_token_map_token_on_another_business_is_404_like_an_unknown_business(
    token_map_app: Starlette, method: str, suffix: str
) -> None:
    client = make_client(token_map_app, Authorization="Bearer t1")

    bound_elsewhere = client.request(method, f"/v1/businesses/{OTHER_BUSINESS}{suffix}")
    unknown = client.request(method, f"/v1/businesses/{UNKNOWN_BUSINESS}{suffix}")

    error_entries(bound_elsewhere, 404)
    assert bound_elsewhere.json() == json.loads(
        unknown.text.replace(UNKNOWN_BUSINESS, OTHER_BUSINESS)
    )
    # And it changed nothing there.
    vendor_credits = state(client)["vendor_credits"]
    assert all(credit["deleted_at"] is None for credit in vendor_credits)


@pytest.mark.parametrize("token", ["unknown", "t2", "T1"])
def test_token_map_rejects_unknown_tokens_with_401(token_map_app: Starlette, token: str) -> None:
    client = make_client(token_map_app, Authorization=f"Bearer {token}")

    error_entries(client.get(CUSTOMER_CREDITS), 401)
    error_entries(client.get("/whoami"), 401)


def test_oauth2_token_issues_a_bearer_token(anonymous: TestClient) -> None:
    response = anonymous.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "https://sandbox.layerfi.com/sandbox"},
        headers=basic("my-client", "my-secret"),
    )

    assert response.status_code == 200, response.text
    token = response.json()
    assert set(token) == {"access_token", "token_type", "expires_in"}
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["access_token"]
    # The token works, and whoami names the client it was issued to.
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert anonymous.get(CUSTOMER_CREDITS, headers=bearer).status_code == 200
    whoami = anonymous.get("/whoami", headers=bearer).json()["data"]
    assert whoami["clientName"] == "my-client"


@pytest.mark.parametrize(
    "headers",
    [{}, BEARER, {"Authorization": "Basic not-base64!"}, {"Authorization": "Basic "}],
    ids=["none", "bearer", "bad base64", "empty basic"],
)
def test_oauth2_token_without_basic_auth_is_401(
    anonymous: TestClient, headers: dict[str, str]
) -> None:
    response = anonymous.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers=headers
    )

    error_entries(response, 401)


def test_oauth2_token_takes_a_form_body(anonymous: TestClient) -> None:
    headers = basic("my-client", "my-secret")

    as_json = anonymous.post(
        "/oauth2/token", json={"grant_type": "client_credentials"}, headers=headers
    )
    wrong_grant = anonymous.post("/oauth2/token", data={"grant_type": "password"}, headers=headers)

    error_entries(as_json, 415)
    assert where(wrong_grant) == {("body", "/grant_type", "enum")}


def test_whoami_describes_the_caller(client: TestClient) -> None:
    response = client.get("/whoami")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["type"] == "whoami"
    assert isinstance(data["clientName"], str) and data["clientName"]
    assert str(uuid.UUID(data["clientId"])) == data["clientId"]


# --------------------------------------------------------------------------- routing and query


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("PUT", CUSTOMER_CREDITS, {"GET", "POST"}),
        ("DELETE", VENDOR_CREDITS, {"GET", "POST"}),
        ("POST", CREDIT, {"GET", "PATCH", "DELETE"}),
        ("PUT", VENDOR_CREDIT, {"GET", "PATCH", "DELETE"}),
        ("GET", "/oauth2/token", {"POST"}),
        ("POST", "/whoami", {"GET"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: TestClient, method: str, url: str, allow: set[str]
) -> None:
    before = state(client)

    response = client.request(method, url)

    error_entries(response, 405)
    assert {m.strip() for m in response.headers["allow"].split(",")} == allow
    assert state(client) == before


@pytest.mark.parametrize("url", [CUSTOMER_CREDITS, VENDOR_CREDITS, CREDIT])
def test_unknown_query_parameter_is_400(client: TestClient, url: str) -> None:
    assert where(client.get(url, params={"colour": "blue"})) == {("query", "/colour", "unknown")}


@pytest.mark.parametrize("name", ["limit", "memo", "reference_numbers"])
def test_repeated_query_parameter_is_400(client: TestClient, name: str) -> None:
    response = client.get(f"{CUSTOMER_CREDITS}?{name}=1&{name}=2")

    [(location, pointer, _)] = where(response)
    assert (location, pointer) == ("query", f"/{name}")


@pytest.mark.parametrize(
    ("url", "pointer"),
    [
        (f"{CUSTOMER_CREDITS}/not-a-uuid", "/customerCreditId"),
        (f"{VENDOR_CREDITS}/12345", "/vendorCreditId"),
        ("/v1/businesses/acme/invoices/customer-credits", "/businessId"),
        (f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000001%00", "/customerCreditId"),
    ],
)
def test_invalid_uuid_in_path_is_400(client: TestClient, url: str, pointer: str) -> None:
    assert where(client.get(url)) == {("path", pointer, "format")}


@pytest.mark.parametrize(
    ("limit", "keyword"),
    [("0", "minimum"), ("101", "maximum"), ("abc", "type"), ("1.5", "type"), ("", "type")],
)
def test_limit_out_of_range_is_400(client: TestClient, limit: str, keyword: str) -> None:
    response = client.get(f"{CUSTOMER_CREDITS}?limit={limit}")

    assert where(response) == {("query", "/limit", keyword)}


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limit_bounds_are_accepted(client: TestClient, limit: str) -> None:
    assert client.get(CUSTOMER_CREDITS, params={"limit": limit}).status_code == 200


# --------------------------------------------------------------------------- no 500s


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", f"{CUSTOMER_CREDITS}?sent_at_end=9999-12-31", None),
        ("GET", f"{CUSTOMER_CREDITS}?sent_at_end=9999-12-31T23:59:59.999999Z", None),
        ("GET", f"{VENDOR_CREDITS}?received_at_start=0001-01-01T00:00:00%2B01:00", None),
        ("POST", CUSTOMER_CREDITS, valid_credit(sent_at="0001-01-01T00:00:00+01:00")),
        ("PATCH", VENDOR_CREDIT, {"received_at": "9999-12-31T23:59:59-01:00"}),
        ("POST", CUSTOMER_CREDITS, valid_credit(sent_at="2024-02-30T00:00:00Z")),
        (
            "POST",
            CUSTOMER_CREDITS,
            valid_credit(
                line_items=[
                    {
                        "amount": 10**30,
                        "revenue_account_identifier": {
                            "type": "StableName",
                            "stable_name": "SALES",
                        },
                    }
                ]
            ),
        ),
        ("POST", CUSTOMER_CREDITS, valid_credit(metadata={"deep": [[[[[[[[[[]]]]]]]]]]})),
        ("GET", f"{CUSTOMER_CREDITS}?memo=%00%FF", None),
    ],
    ids=[
        "end of time date",
        "end of time date-time",
        "start of time",
        "create at start of time",
        "patch at end of time",
        "no such day",
        "huge amount",
        "nested metadata",
        "odd bytes",
    ],
)
def test_no_client_input_produces_a_500(
    client: TestClient, method: str, url: str, body: Any
) -> None:
    response = client.request(method, url, json=body)

    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error_entries(response, response.status_code)


# --------------------------------------------------------------------------- rate limits


def assert_rate_limit_headers(response: httpx.Response, limit: int = 100) -> None:
    headers = response.headers
    assert int(headers["X-RateLimit-Limit"]) == limit
    assert 0 <= int(headers["X-RateLimit-Remaining"]) <= limit
    assert int(headers["X-RateLimit-Reset"]) >= int(time.time())


@pytest.mark.parametrize(
    "request_",
    [
        lambda c: c.get(CUSTOMER_CREDITS),
        lambda c: c.post(CUSTOMER_CREDITS, json=valid_credit()),
        lambda c: c.get(CREDIT),
        lambda c: c.delete(VENDOR_CREDIT),
        lambda c: c.get("/whoami"),
        lambda c: c.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic("a", "b")
        ),
        lambda c: c.get("/_sandbox/state"),
        lambda c: c.post("/_sandbox/reset"),
        lambda c: c.get("/openapi.json"),
        *(request for request, _ in REQUESTS_ANSWERED_4XX.values()),
    ],
    ids=[
        "list",
        "create",
        "fetch",
        "delete",
        "whoami",
        "token",
        "state",
        "reset",
        "openapi",
        *REQUESTS_ANSWERED_4XX,
    ],
)
def test_every_response_carries_rate_limit_headers(
    client: TestClient, request_: Callable[[TestClient], httpx.Response]
) -> None:
    assert_rate_limit_headers(request_(client))


def test_rate_limit_is_not_enforced_by_default(client: TestClient) -> None:
    statuses = {client.get("/whoami").status_code for _ in range(150)}

    assert statuses == {200}


def test_enforced_rate_limit_answers_429_with_retry_after() -> None:
    client = make_client(create_app(Config(enforce_rate_limit=True, rate_limit=3)), **BEARER)

    allowed = [client.get(CUSTOMER_CREDITS) for _ in range(3)]
    limited = client.get(CUSTOMER_CREDITS)

    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in allowed] == [2, 1, 0]
    error_entries(limited, 429)
    assert_rate_limit_headers(limited, limit=3)
    retry_after = int(limited.headers["Retry-After"])
    assert retry_after >= 1
    # A client that waits as told gets through again.
    time.sleep(retry_after)
    assert client.get(CUSTOMER_CREDITS).status_code == 200


# --------------------------------------------------------------------------- spec and control


def test_openapi_json_serves_the_contract(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = yaml.safe_load((ROOT / "openapi" / "layer-credits.yaml").read_text())
    assert response.json() == orjson.loads(orjson.dumps(document))
    operation_ids = {
        op["operationId"]
        for path in response.json()["paths"].values()
        for op in path.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert {
        f"business.{prefix}.{suffix}"
        for prefix in ("invoices.customer-credits", "bills.vendor-credits")
        for suffix in ("post", "get", "get_one", "patch", "delete")
    } <= operation_ids


def test_reset_restores_the_fixtures(client: TestClient) -> None:
    pristine = state(client)
    client.post(
        CUSTOMER_CREDITS,
        json=valid_credit(
            allocations=[{"amount": 1000, "invoice_id": "e0000000-0000-4000-8000-000000000001"}]
        ),
    )
    client.patch(VENDOR_CREDIT, json={"memo": "changed", "allocations": []})
    client.delete(CREDIT)
    assert state(client) != pristine

    response = client.post("/_sandbox/reset")

    assert response.status_code == 200
    assert response.json() == {"data": {"reset": True}}
    assert state(client) == pristine


# --------------------------------------------------------------------------- strict mode


def off_contract_fetch(sandbox: Sandbox) -> Callable[[Call], Reply]:
    """The real fetch behaviour, with a memo that breaks the schema (a number)."""
    real = sandbox.behaviours["business.invoices.customer-credits.get_one"]

    def behaviour(call: Call) -> Reply:
        reply = real(call)
        return Reply(reply.status, {"data": {**reply.body["data"], "memo": 42}}, reply.headers)

    return behaviour


def test_strict_mode_turns_an_off_contract_response_into_a_500(
    client: TestClient, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        sandbox.behaviours,
        "business.invoices.customer-credits.get_one",
        off_contract_fetch(sandbox),
    )

    response = client.get(CREDIT)

    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"errors"}
    [entry] = body["errors"]
    assert entry["type"] == "SandboxContractViolation"
    assert entry["error_enum"] == "InternalServerError"
    assert entry["meta"]["pointer"] == "/data/memo"
    assert_rate_limit_headers(response)


def test_strict_mode_rejects_an_undeclared_status(
    client: TestClient, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sandbox.behaviours, "whoami.get", lambda call: Reply(202, None))

    response = client.get("/whoami")

    assert response.status_code == 500
    assert response.json()["errors"][0]["type"] == "SandboxContractViolation"


@pytest.fixture(scope="module")
def lenient_app() -> Starlette:
    return create_app(Config(strict=False))


def test_lenient_mode_sends_an_off_contract_response_as_is(
    lenient_app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox: Sandbox = lenient_app.state.sandbox
    sandbox.store.reset()
    monkeypatch.setitem(
        sandbox.behaviours,
        "business.invoices.customer-credits.get_one",
        off_contract_fetch(sandbox),
    )

    response = make_client(lenient_app, **BEARER).get(CREDIT)

    assert response.status_code == 200
    assert response.json()["data"]["memo"] == 42
    assert response.json()["data"]["id"] == "cc000000-0000-4000-8000-000000000001"
