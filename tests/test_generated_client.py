"""A client generated from the built-in document (openapi-python-client) types the credit create
bodies, and it works against the sandbox."""

import importlib
import inspect
import shutil
import subprocess
import sys
import typing
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from mockserver import Config, create_app
from mockserver.config import BUILTIN_SPEC
from mockserver.serving.server import BackgroundServer

BUSINESS = uuid.UUID("b0000000-0000-4000-8000-000000000001")
PACKAGE = "layer_credits_generated"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated client package, importable (about a second to generate)."""
    root = tmp_path_factory.mktemp("client")
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert generator is not None, "openapi-python-client is in the test extra"
    subprocess.run(
        [generator, "generate", "--path", str(BUILTIN_SPEC), "--meta", "none",
         "--output-path", str(root / PACKAGE)],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.mark.parametrize(
    ("module", "model"),
    [
        ("customer_credits.business_invoices_customer_credits_post", "CustomerCreditCreateParams"),
        ("vendor_credits.business_bills_vendor_credits_post", "VendorCreditCreateParams"),
    ],
)
def test_the_create_bodies_are_typed_models(generated: ModuleType, module: str, model: str) -> None:
    post = importlib.import_module(f"{PACKAGE}.api.{module}")
    hints = typing.get_type_hints(post.sync_detailed)
    assert hints["body"] is getattr(importlib.import_module(f"{PACKAGE}.models"), model)
    fields = inspect.signature(hints["body"]).parameters
    counterparty = "customer" if model.startswith("Customer") else "vendor"
    for name in ("line_items", f"{counterparty}_id", f"{counterparty}_external_id"):
        assert name in fields, name


def test_a_generated_client_creates_a_credit(generated: ModuleType) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    post = importlib.import_module(
        f"{PACKAGE}.api.customer_credits.business_invoices_customer_credits_post"
    )
    body = models.CustomerCreditCreateParams.from_dict(
        {
            "customer_external_id": "cust-001",
            "line_items": [
                {
                    "amount": 700,
                    "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
                }
            ],
        }
    )
    with BackgroundServer(create_app(Config())) as server:
        client = generated.AuthenticatedClient(base_url=server.url, token="generated-client")
        with client:
            response = post.sync_detailed(BUSINESS, client=client, body=body)
    assert response.status_code == 201, response.content
    assert response.parsed.data.customer.external_id == "cust-001"
