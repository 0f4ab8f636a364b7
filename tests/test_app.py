"""The app hands requests straight to the sandbox, until middleware is added to it."""

from __future__ import annotations

from conftest import CUSTOMER_CREDITS
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

from mockserver import Config, create_app


class Stamp(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["X-Stamped"] = "yes"
        return response


def test_middleware_added_to_the_app_sees_every_request() -> None:
    app = create_app(Config())
    app.add_middleware(Stamp)
    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        for path in (CUSTOMER_CREDITS, "/openapi.json", "/no/such/path"):
            assert client.get(path).headers["X-Stamped"] == "yes", path


def test_without_middleware_answers_are_the_sandboxs_own() -> None:
    with TestClient(create_app(Config()), headers={"Authorization": "Bearer t"}) as client:
        listed = client.get(CUSTOMER_CREDITS)
        missing = client.get("/no/such/path")
    assert listed.status_code == 200 and "X-Stamped" not in listed.headers
    assert listed.headers["content-type"] == "application/json"
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["error_enum"] == "SpecifiedIdNotFound"
