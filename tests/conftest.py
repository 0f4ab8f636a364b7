"""Shared fixtures: one sandbox app for the session, reset before every test that uses it."""

import atexit
import base64
import functools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mockserver import Config, Sandbox, create_app

# Start-up's on-disk cache (engine/cache.py) in a directory of the run's own, not the user's.
if "MOCKSERVER_CACHE_DIR" not in os.environ:
    os.environ["MOCKSERVER_CACHE_DIR"] = _CACHE = tempfile.mkdtemp(prefix="mockserver-cache-")
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

BUSINESS = "b0000000-0000-4000-8000-000000000001"
OTHER_BUSINESS = "b0000000-0000-4000-8000-000000000002"
CUSTOMER_CREDITS = f"/v1/businesses/{BUSINESS}/invoices/customer-credits"
VENDOR_CREDITS = f"/v1/businesses/{BUSINESS}/bills/vendor-credits"
UNKNOWN_BUSINESS = "b0000000-0000-4000-8000-0000000000ff"
CREDIT = f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000001"
VENDOR_CREDIT = f"{VENDOR_CREDITS}/dc000000-0000-4000-8000-000000000001"
#: The ``error_enum`` of each 4xx status's envelope.
ERROR_ENUMS = {
    400: "SpecifiedBadRequest",
    401: "Unauthenticated",
    404: "SpecifiedIdNotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "RateLimited",
}
ROOT = Path(__file__).resolve().parent.parent
SERVER = "http://127.0.0.1:8000"  # the documents' server


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An HTTP Basic ``Authorization`` header."""
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_process(
    port: int, *args: str, stderr: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """``python -m mockserver serve`` on loopback ``port`` with ``args``, logging warnings only,
    in a child process that is just starting: the caller waits for it and stops it."""
    command = [sys.executable, "-m", "mockserver", "serve", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--log-level", "warning", *args], stdout=subprocess.DEVNULL, stderr=stderr
    )


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
        # Every response these tests receive is also checked by a validator that shares no
        # code with the sandbox: a bug in the sandbox's own response check cannot hide there.
        client.event_hooks["response"].append(independently_validate)
        yield client


@functools.cache
def _independent_validators() -> dict[str, OpenAPI]:
    """openapi-core, loaded from the documents as shipped: the public one and the control one."""
    documents = {}
    for prefix, name in (("/v1", "layer-credits.yaml"), ("/_sandbox", "sandbox.yaml")):
        with open(ROOT / "openapi" / name, encoding="utf-8") as handle:
            documents[prefix] = OpenAPI.from_dict(yaml.safe_load(handle))
    return documents


def independently_validate(response: httpx.Response) -> None:
    """Fail unless openapi-core finds ``response`` valid for its operation in ``openapi/``.

    Requests the documents do not describe (unknown paths, wrong methods) have no declared
    response to check; an undocumented status for a described operation is a failure.
    """
    path = response.request.url.path
    prefix = "/_sandbox" if path.startswith("/_sandbox/") else "/v1"
    response.read()
    request = MockRequest(SERVER, response.request.method.lower(), path)
    checked = MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("content-type", ""),
    )
    try:
        _independent_validators()[prefix].validate_response(request, checked)
    except (PathNotFound, OperationNotFound):
        return
    except OpenAPIError as exc:
        detail = "; ".join(str(e) for e in getattr(exc, "schema_errors", ())) or repr(exc)
        pytest.fail(
            f"openapi-core: {response.request.method} {path} -> {response.status_code} breaks "
            f"openapi/: {exc}: {detail}\n{response.text[:2000]}",
            pytrace=False,
        )


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
