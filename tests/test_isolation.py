"""Isolation and access: bound tokens leak nothing across businesses; the control token.

A token bound to business 1 gets, on every operation of business 2, exactly the 404 an unknown
business gets, and changes nothing there. Tokens from ``POST /oauth2/token`` see no business
under a token map unless their client is configured. With a control token, everything under
``/_sandbox`` needs it, and the served control document says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import BUSINESS, OTHER_BUSINESS, UNKNOWN_BUSINESS, basic
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mockserver import Config, create_app
from mockserver.config import from_environment
from mockserver.serving.cli import _parser, config_from_args, serve_options

#: Every operation of a business, as a valid request for business 2 (Brightside Bakery).
BRIGHTSIDE_REQUESTS: dict[str, tuple[str, str, Any]] = {
    "business.invoices.customer-credits.post": (
        "POST",
        "/invoices/customer-credits",
        {
            "customer_id": "c0000000-0000-4000-8000-000000000011",
            "line_items": [
                {
                    "amount": 500,
                    "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
                }
            ],
            "allocations": [{"amount": 500, "invoice_id": "e0000000-0000-4000-8000-000000000011"}],
        },
    ),
    "business.invoices.customer-credits.get": ("GET", "/invoices/customer-credits", None),
    "business.invoices.customer-credits.get_one": (
        "GET",
        "/invoices/customer-credits/cc000000-0000-4000-8000-000000000011",
        None,
    ),
    "business.invoices.customer-credits.patch": (
        "PATCH",
        "/invoices/customer-credits/cc000000-0000-4000-8000-000000000011",
        {"memo": "changed through another business's token"},
    ),
    "business.invoices.customer-credits.delete": (
        "DELETE",
        "/invoices/customer-credits/cc000000-0000-4000-8000-000000000011",
        None,
    ),
    "business.bills.vendor-credits.post": (
        "POST",
        "/bills/vendor-credits",
        {
            "vendor_id": "d0000000-0000-4000-8000-000000000011",
            "received_at": "2024-06-01T00:00:00Z",
            "line_items": [
                {
                    "amount": 500,
                    "expense_account_identifier": {"type": "StableName", "stable_name": "COGS"},
                }
            ],
        },
    ),
    "business.bills.vendor-credits.get": ("GET", "/bills/vendor-credits", None),
    "business.bills.vendor-credits.get_one": (
        "GET",
        "/bills/vendor-credits/dc000000-0000-4000-8000-000000000011",
        None,
    ),
    "business.bills.vendor-credits.patch": (
        "PATCH",
        "/bills/vendor-credits/dc000000-0000-4000-8000-000000000011",
        {"memo": "changed through another business's token"},
    ),
    "business.bills.vendor-credits.delete": (
        "DELETE",
        "/bills/vendor-credits/dc000000-0000-4000-8000-000000000011",
        None,
    ),
    "business.ledger.chart.get": ("GET", "/ledger/chart", None),
    "business.ledger.accounts.get": ("GET", "/ledger/accounts", None),
    "business.ledger.accounts.get_one": (
        "GET",
        "/ledger/accounts/a0000000-0000-4000-8000-000000000021",
        None,
    ),
    "business.ledger.accounts.post": (
        "POST",
        "/ledger/accounts",
        {"name": "Bread Sales", "stable_name": "SALES", "account_type": "REVENUE"},
    ),
    "business.tags.dimensions.post": ("POST", "/tags/dimensions", {"key": "season"}),
    "business.tags.dimensions.get": ("GET", "/tags/dimensions", None),
    "business.tags.dimensions.dimension.get": (
        "GET",
        "/tags/dimensions/7a000000-0000-4000-8000-000000000011",
        None,
    ),
    "business.tags.dimensions.dimension.patch": (
        "PATCH",
        "/tags/dimensions/7a000000-0000-4000-8000-000000000011",
        {"display_name": "changed through another business's token"},
    ),
    "business.tags.dimensions.key.patch": (
        "PATCH",
        "/tags/dimensions/key/channel",
        {"display_name": "changed through another business's token"},
    ),
    "business.tags.dimensions.dimension.values.post": (
        "POST",
        "/tags/dimensions/7a000000-0000-4000-8000-000000000011/values",
        {"value": "catering"},
    ),
    "business.customers.post": ("POST", "/customers", {"external_id": "cust-101", "memo": "x"}),
    "business.customers.get": ("GET", "/customers", None),
    "business.customers.get_one": ("GET", "/customers/c0000000-0000-4000-8000-000000000011", None),
    "business.customers.patch": (
        "PATCH",
        "/customers/c0000000-0000-4000-8000-000000000011",
        {"status": "ARCHIVED"},
    ),
    "business.vendors.post": ("POST", "/vendors", {"external_id": "vend-101", "memo": "x"}),
    "business.vendors.get": ("GET", "/vendors", None),
    "business.vendors.get_one": ("GET", "/vendors/d0000000-0000-4000-8000-000000000011", None),
    "business.vendors.update": (
        "PUT",
        "/vendors/d0000000-0000-4000-8000-000000000011",
        {"status": "ARCHIVED"},
    ),
    "business.invoices.post": (
        "POST",
        "/invoices",
        {"customer_id": "c0000000-0000-4000-8000-000000000011", "line_items": [{"unit_price": 1}]},
    ),
    "business.invoices.get": ("GET", "/invoices", None),
    "business.invoices.get_one": ("GET", "/invoices/e0000000-0000-4000-8000-000000000012", None),
    "business.invoices.patch": (
        "PATCH",
        "/invoices/e0000000-0000-4000-8000-000000000012",
        {"memo": "x"},
    ),
    "business.invoices.void.post": (
        "POST",
        "/invoices/e0000000-0000-4000-8000-000000000012/void",
        None,
    ),
    "business.invoices.payments.post": (
        "POST",
        "/invoices/payments",
        {
            "amount": 100,
            "method": "CASH",
            "allocations": [{"invoice_id": "e0000000-0000-4000-8000-000000000012", "amount": 100}],
        },
    ),
    "business.invoices.payments.get": ("GET", "/invoices/payments", None),
    "business.invoices.payments.get_one": (
        "GET",
        "/invoices/payments/1a000000-0000-4000-8000-000000000011",
        None,
    ),
    "business.bills.post": (
        "POST",
        "/bills",
        {
            "vendor_id": "d0000000-0000-4000-8000-000000000011",
            "received_at": "2024-06-01T00:00:00Z",
            "line_items": [{"unit_price": 1}],
        },
    ),
    "business.bills.list": ("GET", "/bills", None),
    "business.bills.get": ("GET", "/bills/f0000000-0000-4000-8000-000000000012", None),
    "business.bills.update.post": (
        "POST",
        "/bills/f0000000-0000-4000-8000-000000000012/update",
        {"memo": "x"},
    ),
    "business.bills.void.post": (
        "POST",
        "/bills/f0000000-0000-4000-8000-000000000012/void",
        None,
    ),
    "business.bills.payments.post": (
        "POST",
        "/bills/bill-payments",
        {
            "amount": 100,
            "method": "CASH",
            "allocations": [{"bill_id": "f0000000-0000-4000-8000-000000000012", "amount": 100}],
        },
    ),
    "business.bills.payments.get": ("GET", "/bills/bill-payments", None),
    "business.bills.payments.get_one": (
        "GET",
        "/bills/bill-payments/1b000000-0000-4000-8000-000000000011",
        None,
    ),
}
# Retry-After joins them once the (unenforced) bucket runs dry, which a busy machine reaches.
RATE_HEADERS = {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"}


@pytest.fixture(scope="module")
def bound_app() -> Starlette:
    return create_app(
        Config(
            tokens={
                "acme-only": frozenset({BUSINESS}),
                "both": frozenset({BUSINESS, OTHER_BUSINESS}),
            }
        )
    )


@pytest.fixture
def bound(bound_app: Starlette) -> Iterator[TestClient]:
    bound_app.state.sandbox.store.reset()
    with TestClient(bound_app) as client:
        yield client


def send(client: TestClient, token: str, business: str, operation_id: str) -> Any:
    method, suffix, body = BRIGHTSIDE_REQUESTS[operation_id]
    return client.request(
        method,
        f"/v1/businesses/{business}{suffix}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )


def test_the_table_covers_every_operation_of_a_business(bound_app: Starlette) -> None:
    per_business = {
        op.operation_id
        for op in bound_app.state.sandbox.spec.operations
        if op.path.startswith("/v1/businesses/{businessId}")
    }

    assert per_business == set(BRIGHTSIDE_REQUESTS)


@pytest.mark.parametrize("operation_id", BRIGHTSIDE_REQUESTS)
def test_the_requests_are_valid_for_a_token_bound_to_business_2(
    bound: TestClient, operation_id: str
) -> None:
    # So that the 404 below can only come from the binding, not from a bad request.
    assert send(bound, "both", OTHER_BUSINESS, operation_id).status_code in (200, 201)


@pytest.mark.parametrize("operation_id", BRIGHTSIDE_REQUESTS)
def test_a_token_bound_to_business_1_learns_nothing_of_business_2(
    bound: TestClient, operation_id: str
) -> None:
    before = bound.get("/_sandbox/state").json()

    foreign = send(bound, "acme-only", OTHER_BUSINESS, operation_id)
    unknown = send(bound, "acme-only", UNKNOWN_BUSINESS, operation_id)

    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == json.loads(unknown.text.replace(UNKNOWN_BUSINESS, OTHER_BUSINESS))
    assert set(foreign.headers) - RATE_HEADERS == set(unknown.headers) - RATE_HEADERS
    assert foreign.json()["errors"][0]["description"] == (
        f"Business not found: no business {OTHER_BUSINESS} is visible to this token."
    )
    assert bound.get("/_sandbox/state").json() == before


# --------------------------------------------------------------------------- issued tokens


def issued_token(client: TestClient, client_id: str = "app", secret: str = "s3cret") -> str:
    response = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret)
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_under_a_token_map_an_issued_token_of_an_unconfigured_client_sees_no_business(
    bound: TestClient,
) -> None:
    # Without --client anyone can mint a token; it must not open what the map closes.
    token = issued_token(bound)

    for business in (BUSINESS, OTHER_BUSINESS):
        response = bound.get(
            f"/v1/businesses/{business}/invoices/customer-credits",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 404
        assert response.json()["errors"][0]["error_enum"] == "SpecifiedIdNotFound"
    whoami = bound.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert whoami.json()["data"]["clientName"] == "app"


def test_under_a_token_map_an_issued_token_of_a_configured_client_sees_every_business() -> None:
    app = create_app(Config(tokens={"acme-only": frozenset({BUSINESS})}, clients={"app": "s3cret"}))
    with TestClient(app) as client:
        token = issued_token(client)

        for business in (BUSINESS, OTHER_BUSINESS):
            response = client.get(
                f"/v1/businesses/{business}/invoices/customer-credits",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200


def test_the_sandbox_forgets_the_oldest_issued_tokens_beyond_its_cap(bound: TestClient) -> None:
    from mockserver.engine.auth import ISSUED_TOKENS_CAP

    authenticator = bound.app.state.sandbox.auth  # type: ignore[attr-defined]
    first = issued_token(bound)
    for i in range(ISSUED_TOKENS_CAP):
        authenticator.issue(f"client-{i}")

    assert len(authenticator.issued) == ISSUED_TOKENS_CAP
    response = bound.get("/whoami", headers={"Authorization": f"Bearer {first}"})
    assert response.status_code == 401


# --------------------------------------------------------------------------- control token


@pytest.fixture(scope="module")
def control_app() -> Starlette:
    return create_app(Config(control_token="ctl-secret"))


@pytest.fixture
def control(control_app: Starlette) -> Iterator[TestClient]:
    control_app.state.sandbox.store.reset()
    with TestClient(control_app) as client:
        yield client


def control_operations(app: Starlette) -> list[tuple[str, str]]:
    """(method, url) of every control operation, path parameters filled in."""
    return [
        (op.method, op.path.replace("{collection}", "customers"))
        for op in app.state.sandbox.control_spec.operations
    ]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong",
        "Bearer ctl-secre",
        "Bearer ctl-secret2",
        "Basic Y3RsLXNlY3JldA==",
        "ctl-secret",
    ],
)
def test_every_control_operation_needs_the_control_token(
    control: TestClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, url in [*control_operations(control.app), ("GET", "/_sandbox/openapi.json")]:  # type: ignore[arg-type]
        response = control.request(method, url, headers=headers)

        assert response.status_code == 401, (method, url, response.text)
        [entry] = response.json()["errors"]
        assert entry["error_enum"] == "Unauthenticated"
        assert entry["description"] == (
            "Unauthenticated: the control API needs Authorization: Bearer <control token>, the "
            "token the sandbox was started with (--control-token or MOCKSERVER_CONTROL_TOKEN)."
        )


def test_the_control_token_opens_the_control_api(control: TestClient) -> None:
    headers = {"Authorization": "Bearer ctl-secret"}

    assert control.get("/_sandbox/state", headers=headers).status_code == 200
    assert control.post("/_sandbox/reset", headers=headers).status_code == 200
    assert control.get("/_sandbox/openapi.json", headers=headers).status_code == 200


def test_the_public_api_does_not_need_the_control_token(control: TestClient) -> None:
    response = control.get(
        f"/v1/businesses/{BUSINESS}/invoices/customer-credits",
        headers={"Authorization": "Bearer any-token"},
    )

    assert response.status_code == 200
    assert control.get("/openapi.json").status_code == 200


def test_the_served_control_document_declares_the_control_token(control: TestClient) -> None:
    document = control.get(
        "/_sandbox/openapi.json", headers={"Authorization": "Bearer ctl-secret"}
    ).json()

    assert document["security"] == [{"SandboxControlToken": []}]
    assert document["components"]["securitySchemes"]["SandboxControlToken"]["scheme"] == "bearer"
    for item in document["paths"].values():
        for method, operation in item.items():
            if method != "parameters":  # shared by the path's operations
                assert "401" in operation["responses"], operation["operationId"]


def test_without_a_control_token_the_control_api_is_open_and_says_so(client: TestClient) -> None:
    document = client.get("/_sandbox/openapi.json").json()

    assert document["security"] == []
    assert "SandboxControlToken" in document["components"]["securitySchemes"]
    assert client.get("/_sandbox/state", headers={"Authorization": ""}).status_code == 200


def test_the_control_token_comes_from_the_cli_and_the_environment() -> None:
    args = _parser().parse_args(["serve", "--control-token", "from-cli"])

    assert config_from_args(args).control_token == "from-cli"
    env = {"MOCKSERVER_CONTROL_TOKEN": "from-env"}
    assert from_environment(env=env).control_token == "from-env"


def test_the_server_binds_loopback_unless_told_otherwise() -> None:
    assert serve_options(_parser().parse_args(["serve"]), {})["host"] == "127.0.0.1"


def test_the_readme_section_names_real_options_and_the_default_limits() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## Robustness and persistence\n")
    section = readme[start : readme.index("\n## ", start + 1)]
    config = Config()
    serve_help = _parser()._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]

    for option in ("--state-file", "--control-token", "--max-url-bytes", "--max-header-bytes"):
        assert option in section and option in serve_help, option
    assert config.max_body_bytes == 1024 * 1024 and "(1 MiB)" in section
    assert config.max_url_bytes == 8 * 1024 and "(8 KiB)" in section
    assert config.max_header_bytes == 16 * 1024 and "(16 KiB)" in section
    assert "more than 64 levels" in section
