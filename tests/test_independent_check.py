"""The independent response check in conftest (openapi-core) catches what it should."""

import httpx
import pytest
from conftest import BUSINESS, CUSTOMER_CREDITS, independently_validate
from starlette.testclient import TestClient


def answer(method: str, path: str, status: int, body: bytes, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=body,
        headers={"content-type": "application/json", **headers},
        request=httpx.Request(method, f"http://testserver{path}"),
    )


def test_a_sandbox_response_passes(client: TestClient) -> None:
    response = client.get(f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000001")
    assert response.status_code == 200
    independently_validate(response)  # also ran in the hook; explicit here


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b'{"data": {"id": "not a credit"}}'),  # required fields missing
        (418, b'{"errors": []}'),  # a status the operation does not document
        (404, b'{"message": "not Layer\'s error envelope"}'),
    ],
)
def test_an_off_contract_response_fails(status: int, body: bytes) -> None:
    path = f"{CUSTOMER_CREDITS}/cc000000-0000-4000-8000-000000000001"
    with pytest.raises(pytest.fail.Exception, match="openapi-core: GET"):
        independently_validate(answer("GET", path, status, body))


def test_a_control_response_is_checked_against_the_control_document() -> None:
    with pytest.raises(pytest.fail.Exception, match="/_sandbox/clock"):
        independently_validate(answer("GET", "/_sandbox/clock", 200, b'{"data": {"now": 1}}'))


def test_requests_the_documents_do_not_describe_are_not_checked() -> None:
    independently_validate(answer("GET", f"/v1/businesses/{BUSINESS}/nowhere", 404, b"{}"))
    independently_validate(answer("PUT", CUSTOMER_CREDITS, 405, b"{}"))
