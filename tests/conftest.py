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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Which statuses the Schemathesis run reached per operation (when it ran here)."""
    import sys

    fuzz = sys.modules.get("test_fuzz")
    reached = getattr(fuzz, "REACHED", None)
    if not reached:
        return
    terminalreporter.section("statuses reached by fuzzing")
    for operation_id in sorted(reached):
        counts = reached[operation_id]
        line = ", ".join(f"{status}: {counts[status]}" for status in sorted(counts))
        terminalreporter.write_line(f"{operation_id:45} {line}")
