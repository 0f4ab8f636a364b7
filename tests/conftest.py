"""Shared fixtures: one sandbox app for the session, reset before every test that uses it."""

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mockserver import Config, Sandbox, create_app

BUSINESS = "b0000000-0000-4000-8000-000000000001"
OTHER_BUSINESS = "b0000000-0000-4000-8000-000000000002"
CUSTOMER_CREDITS = f"/v1/businesses/{BUSINESS}/invoices/customer-credits"
VENDOR_CREDITS = f"/v1/businesses/{BUSINESS}/bills/vendor-credits"


@pytest.fixture(scope="session")
def app() -> Starlette:
    # Strict response checking is on (the default): an off-contract response fails the test.
    return create_app(Config(strict=True))


@pytest.fixture
def sandbox(app: Starlette) -> Sandbox:
    sandbox: Sandbox = app.state.sandbox
    sandbox.store.reset()
    return sandbox


@pytest.fixture
def client(app: Starlette, sandbox: Sandbox) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": "Bearer test-token"}) as client:
        yield client
