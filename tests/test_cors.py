"""CORS: preflights for every path of both documents, headers on every answer, origins."""

import re
from collections import defaultdict
from collections.abc import Iterator

import pytest
from conftest import CUSTOMER_CREDITS
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mockserver import Config, Sandbox, create_app
from mockserver.serving.cli import main

FRONT_END = "http://localhost:3000"


def preflight(
    client: TestClient, path: str, method: str = "POST", headers: str = "", origin: str = FRONT_END
):
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=asked)


def _example_path(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "b0000000-0000-4000-8000-000000000001", template)


def test_every_path_of_both_documents_answers_its_preflight(
    client: TestClient, sandbox: Sandbox
) -> None:
    methods: dict[str, set[str]] = defaultdict(set)
    for op in (*sandbox.spec.operations, *sandbox.control_spec.operations):
        methods[op.path].add(op.method)
    assert len(methods) > 10
    for template, allowed in methods.items():
        for method in allowed:
            answer = preflight(
                client, _example_path(template), method, "authorization,content-type,prefer"
            )
            assert answer.status_code == 204, (template, answer.text)
            assert answer.headers["access-control-allow-origin"] == "*"
            assert answer.headers["access-control-allow-methods"] == ", ".join(sorted(allowed))
            assert answer.headers["access-control-allow-headers"] == (
                "authorization, content-type, prefer"
            )
            assert answer.headers["access-control-max-age"] == "600"
            assert answer.content == b""


def test_preflight_for_the_documents_and_an_unknown_path(client: TestClient) -> None:
    answer = preflight(client, "/openapi.json", "GET")
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-methods"] == "GET, HEAD"
    missing = preflight(client, "/v2/nothing")
    assert missing.status_code == 404
    assert missing.headers["access-control-allow-origin"] == "*"
    assert "No operation is served at /v2/nothing" in missing.json()["errors"][0]["description"]


def test_headers_an_operation_does_not_take_are_left_out(client: TestClient) -> None:
    answer = preflight(client, CUSTOMER_CREDITS, "POST", "Authorization,X-Tracking-Id")
    assert answer.headers["access-control-allow-headers"] == "Authorization"


def test_private_network_access_is_allowed_when_asked(client: TestClient) -> None:
    answer = client.options(
        CUSTOMER_CREDITS,
        headers={
            "Origin": "https://preview.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert answer.headers["access-control-allow-private-network"] == "true"


def test_preflights_are_not_journaled_rate_limited_or_covered() -> None:
    app = create_app(Config(rate_limit=2, enforce_rate_limit=True))
    with TestClient(app) as client:
        for _ in range(20):
            assert preflight(client, CUSTOMER_CREDITS).status_code == 204
        # The bucket was never drawn from: the real call still gets its full quota.
        first = client.get(CUSTOMER_CREDITS, headers={"Authorization": "Bearer t"})
        assert first.status_code == 200
        assert first.headers["X-RateLimit-Remaining"] == "1"
        journal = client.get("/_sandbox/journal").json()["data"]
        assert [(e["method"], e["status"]) for e in journal] == [("GET", 200)]
        summary = client.get("/_sandbox/coverage").json()["data"]["summary"]
        assert summary["operations"]["exercised"] == 1
        assert summary["requests_without_operation"] == 0


def test_answers_and_errors_carry_the_cors_headers(client: TestClient) -> None:
    origin = {"Origin": FRONT_END}
    ok = client.get(CUSTOMER_CREDITS, headers=origin)
    bad = client.post(CUSTOMER_CREDITS, headers=origin, json={"colour": "red"})
    wrong_method = client.put(CUSTOMER_CREDITS, headers=origin)
    unauthenticated = client.get(CUSTOMER_CREDITS, headers={**origin, "Authorization": ""})
    for answer, status in ((ok, 200), (bad, 400), (wrong_method, 405), (unauthenticated, 401)):
        assert answer.status_code == status
        assert answer.headers["access-control-allow-origin"] == "*"
        exposed = answer.headers["access-control-expose-headers"].split(", ")
        assert {"X-RateLimit-Remaining", "Retry-After", "Location", "Allow"} <= set(exposed)
    assert bad.json()["errors"]  # the body a page reads
    no_origin = client.get(CUSTOMER_CREDITS)
    assert "access-control-allow-origin" not in no_origin.headers


def test_options_that_is_no_preflight_is_still_a_405(client: TestClient) -> None:
    answer = client.options(CUSTOMER_CREDITS, headers={"Origin": FRONT_END})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"


@pytest.fixture(scope="module")
def restricted() -> Iterator[TestClient]:
    app: Starlette = create_app(Config(cors_origins=(FRONT_END, "http://localhost:5173")))
    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        yield client


def test_allowed_origins_are_echoed(restricted: TestClient) -> None:
    answer = preflight(restricted, CUSTOMER_CREDITS, origin="http://localhost:5173")
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert answer.headers["vary"] == "Origin"
    got = restricted.get(CUSTOMER_CREDITS, headers={"Origin": FRONT_END})
    assert got.headers["access-control-allow-origin"] == FRONT_END


def test_other_origins_are_refused(restricted: TestClient) -> None:
    answer = preflight(restricted, CUSTOMER_CREDITS, origin="https://evil.example")
    assert answer.status_code == 403
    assert "access-control-allow-origin" not in answer.headers
    [error] = answer.json()["errors"]
    assert error["description"] == (
        "Origin https://evil.example may not call this sandbox; it allows "
        "http://localhost:3000, http://localhost:5173 (--cors-origin). Start it with "
        "--cors-origin https://evil.example to allow it."
    )
    # A simple request is answered, without the header: the browser keeps it from the page.
    got = restricted.get(CUSTOMER_CREDITS, headers={"Origin": "https://evil.example"})
    assert got.status_code == 200
    assert "access-control-allow-origin" not in got.headers


def test_no_cors_answers_browsers_nothing_extra() -> None:
    with TestClient(create_app(Config(cors=False))) as client:
        answer = preflight(client, CUSTOMER_CREDITS)
        assert answer.status_code == 405  # the OPTIONS goes to the API, which has none
        got = client.get(CUSTOMER_CREDITS, headers={"Origin": FRONT_END, "Authorization": "t"})
        assert "access-control-allow-origin" not in got.headers


def test_a_malformed_origin_stops_start_up(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--cors-origin", "localhost:3000/app"]) == 2
    err = capsys.readouterr().err
    assert "CORS origin 'localhost:3000/app' must be a scheme, host and optional port" in err
    with pytest.raises(ValueError, match=re.escape("e.g. http://localhost:3000")):
        create_app(Config(cors_origins=("http://localhost:3000/path",)))


def test_origins_and_switch_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from mockserver.config import from_environment

    config = from_environment(
        env={"MOCKSERVER_CORS": "0", "MOCKSERVER_CORS_ORIGINS": "http://a.test http://b.test"}
    )
    assert config.cors is False
    assert config.cors_origins == ("http://a.test", "http://b.test")
