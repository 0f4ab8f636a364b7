"""``ASGITransport`` lets a synchronous httpx client call the app in-process."""

import asyncio

import httpx
from conftest import CUSTOMER_CREDITS

from mockserver import Config, create_app
from mockserver.serving.transport import ASGITransport

APP = create_app(Config())


def client() -> httpx.Client:
    return httpx.Client(
        transport=ASGITransport(APP),
        base_url="http://sandbox.test",
        headers={"Authorization": "Bearer t"},
    )


def test_requests_reach_the_app_with_query_and_body() -> None:
    with client() as http:
        listed = http.get(CUSTOMER_CREDITS, params={"limit": 1, "sort_order": "DESC"})
        assert listed.status_code == 200
        assert len(listed.json()["data"]) == 1
        rejected = http.post(CUSTOMER_CREDITS, json={"colour": "red"})
    assert rejected.status_code == 400
    assert rejected.headers["content-type"] == "application/json"
    journal = APP.state.sandbox.journal.entries()
    assert journal[-2].query == "limit=1&sort_order=DESC"
    assert journal[-1].request_body == {"colour": "red"}


def test_works_inside_a_running_event_loop() -> None:
    # A sync client called from async code (e.g. an async test) cannot reuse the running loop.
    async def call() -> int:
        with client() as http:
            return http.get("/whoami").status_code

    assert asyncio.run(call()) == 200
