"""`mockserver proxy`: a local upstream only (a second sandbox, and a small app answering
off-contract on purpose), checked through a real socket."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import BUSINESS, CREDIT, CUSTOMER_CREDITS, OTHER_BUSINESS
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mockserver.config import Config
from mockserver.serving.app import create_app
from mockserver.serving.cli import main
from mockserver.serving.server import BackgroundServer
from mockserver.tools.proxy import create_proxy_app

TOKEN = "Bearer secret-token-123"
PETS_DOC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Pets", "version": "1"},
    "paths": {
        "/pets": {
            "get": {
                "operationId": "listPets",
                "responses": {
                    "200": {
                        "description": "pets",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Pet"},
                                }
                            }
                        },
                    }
                },
            },
            "post": {
                "operationId": "createPet",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}
                    },
                },
                "responses": {
                    "201": {
                        "description": "created",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                        },
                    },
                    "422": {"description": "invalid"},
                },
            },
        },
        "/pets/{petId}": {
            "get": {
                "operationId": "getPet",
                "parameters": [
                    {"name": "petId", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {
                    "200": {
                        "description": "a pet",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                        },
                    },
                    "404": {"description": "no such pet"},
                },
            }
        },
    },
    "components": {
        "schemas": {
            "NewPet": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "tag": {"type": "string"},
                    "password": {"type": "string"},
                },
            },
            "Pet": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {
                    "id": {"type": "integer", "readOnly": True},
                    "name": {"type": "string"},
                    "tag": {"type": "string"},
                    "password": {"type": "string"},
                },
            },
        }
    },
}


def _off_contract_app() -> Starlette:
    """Answers getPet off-contract on purpose, one way per id; /echo shows what arrived."""

    async def pet(request: Request) -> Response:
        if not request.path_params["pet_id"].isdigit():
            return JSONResponse({"detail": "no such pet"}, status_code=404)
        pet_id = int(request.path_params["pet_id"])
        if pet_id == 1:
            return Response(b'{"id": 1,  "name": "Rex"}', media_type="application/json")
        if pet_id == 2:
            return JSONResponse({"id": 2, "name": 5})  # wrong type
        if pet_id == 3:
            return JSONResponse({"id": 3})  # required name missing
        if pet_id == 4:
            return JSONResponse({"id": 4, "name": "Tea"}, status_code=418)  # undocumented
        if pet_id == 5:
            return PlainTextResponse("Rex")  # wrong content type
        await asyncio.sleep(3)  # hangs past the proxy's 1 s timeout, done before teardown
        return JSONResponse({})

    async def echo(request: Request) -> Response:
        return JSONResponse(
            {
                "headers": [[k, v] for k, v in request.headers.items()],
                "body": (await request.body()).decode(),
            }
        )

    return Starlette(
        routes=[
            Route("/pets/{pet_id}", pet),
            Route("/echo", echo, methods=["GET", "POST"]),
        ]
    )


@pytest.fixture(scope="module")
def pets_doc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pets") / "pets.json"
    path.write_text(json.dumps(PETS_DOC))
    return path


@pytest.fixture(scope="module")
def layer_upstream() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(Config())) as server:
        yield server


@pytest.fixture(scope="module")
def layer_proxy(layer_upstream: BackgroundServer) -> Iterator[BackgroundServer]:
    with BackgroundServer(
        create_proxy_app(Config(), layer_upstream.url, timeout=5), lifespan="on"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def odd_upstream() -> Iterator[BackgroundServer]:
    with BackgroundServer(_off_contract_app()) as server:
        yield server


@pytest.fixture
def pets_proxy(pets_doc: Path, odd_upstream: BackgroundServer) -> Iterator[BackgroundServer]:
    app = create_proxy_app(Config(spec=pets_doc), odd_upstream.url, timeout=1.0)
    with BackgroundServer(app, lifespan="on") as server:
        yield server


def _journal(server: BackgroundServer, **query: Any) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = httpx.get(f"{server.url}/_sandbox/journal", params=query).json()[
        "data"
    ]
    return data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_on_contract_upstream_gives_byte_identical_bodies_and_no_violation(
    layer_upstream: BackgroundServer, layer_proxy: BackgroundServer
) -> None:
    headers = {"Authorization": TOKEN}
    after = _journal(layer_proxy)[-1]["seq"] if _journal(layer_proxy) else 0
    paths = [
        CUSTOMER_CREDITS,
        f"{CUSTOMER_CREDITS}?limit=2",
        f"/v1/businesses/{BUSINESS}/customers",
        f"/v1/businesses/{BUSINESS}/invoices",
        f"/v1/businesses/{BUSINESS}/invoices/customer-credits/cc000000-0000-4000-8000-000000000001",
        "/v1/businesses/b0000000-0000-4000-8000-0000000000ff/customers",  # a documented 404
    ]
    with httpx.Client(headers=headers) as client:
        for path in paths:
            direct = client.get(layer_upstream.url + path)
            proxied = client.get(layer_proxy.url + path)
            assert proxied.status_code == direct.status_code
            assert proxied.content == direct.content
            assert proxied.headers["content-type"] == direct.headers["content-type"]
            count, request, response, entry = proxied.headers["x-sandbox-violations"].split("; ")
            assert (count, request, response) == ("0", "request=0", "response=0")
            assert entry.startswith("entry=")
    entries = _journal(layer_proxy, after_seq=after)
    assert len(entries) == len(paths)
    for entry in entries:
        assert entry["violations"] == []
        assert entry["proxy"]["forwarded"] is True
        assert entry["proxy"]["request_headers"]["authorization"] == "[redacted]"
    journal_text = httpx.get(f"{layer_proxy.url}/_sandbox/journal").text
    assert "secret-token-123" not in journal_text


def test_authorization_passes_untouched_hop_by_hop_dropped_and_host_rewritten(
    pets_proxy: BackgroundServer, odd_upstream: BackgroundServer
) -> None:
    response = httpx.post(
        f"{pets_proxy.url}/echo",
        headers={
            "Authorization": TOKEN,
            "Connection": "keep-alive, X-Private-Hop",
            "X-Private-Hop": "drop me",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic cHJveHk6cHc=",
            "X-Kept": "yes",
        },
        content=b"hello",
    )
    seen = dict(response.json()["headers"])
    assert seen["authorization"] == TOKEN
    assert seen["x-kept"] == "yes"
    assert response.json()["body"] == "hello"
    for name in ("x-private-hop", "keep-alive", "te", "proxy-authorization"):
        assert name not in seen
    assert seen["host"] == odd_upstream.url.removeprefix("http://")
    assert "mockserver" in seen["via"]
    # /echo is not in the document: forwarded anyway, and journaled as a request violation.
    assert response.headers["x-sandbox-violations"].startswith("1; request=1; response=0")


@pytest.mark.parametrize(
    ("pet_id", "status", "location", "pointer", "keyword"),
    [
        (2, 200, "body", "/name", "type"),
        (3, 200, "body", "/name", "required"),  # the missing property's pointer
        (4, 418, "status", "", "documented"),
        (5, 200, "content-type", "", "mediaType"),
    ],
)
def test_each_kind_of_off_contract_answer_is_journaled_once_and_passed_on(
    pets_proxy: BackgroundServer,
    odd_upstream: BackgroundServer,
    pet_id: int,
    status: int,
    location: str,
    pointer: str,
    keyword: str,
) -> None:
    direct = httpx.get(f"{odd_upstream.url}/pets/{pet_id}")
    proxied = httpx.get(f"{pets_proxy.url}/pets/{pet_id}")
    assert proxied.status_code == status == direct.status_code
    assert proxied.content == direct.content
    seq = int(proxied.headers["x-sandbox-violations"].rsplit("entry=", 1)[1])
    assert proxied.headers["x-sandbox-violations"] == f"1; request=0; response=1; entry={seq}"
    (entry,) = [e for e in _journal(pets_proxy) if e["seq"] == seq]
    (violation,) = entry["violations"]
    assert violation["in"] == "response"
    assert (violation["location"], violation["pointer"], violation["keyword"]) == (
        location,
        pointer,
        keyword,
    )
    assert entry["operation_id"] == "getPet"
    assert entry["status"] == status
    assert entry["contract_violation"] is True
    report = httpx.get(f"{pets_proxy.url}/_sandbox/drift").json()["data"]
    (group,) = report["groups"]
    assert (group["operation_id"], group["status"], group["pointer"], group["count"]) == (
        "getPet",
        status,
        pointer,
        1,
    )
    assert group["first"]["seq"] == seq


def test_on_contract_answer_from_the_odd_app_is_clean(pets_proxy: BackgroundServer) -> None:
    proxied = httpx.get(f"{pets_proxy.url}/pets/1")
    assert proxied.content == b'{"id": 1,  "name": "Rex"}'  # not re-encoded
    assert proxied.headers["x-sandbox-violations"].startswith("0; request=0; response=0")


def test_request_violations_are_forwarded_or_answered_locally(
    pets_doc: Path, odd_upstream: BackgroundServer
) -> None:
    with BackgroundServer(
        create_proxy_app(Config(spec=pets_doc), odd_upstream.url), lifespan="on"
    ) as proxy:
        forwarded = httpx.get(f"{proxy.url}/pets/abc")  # petId must be an integer
        assert forwarded.status_code == 404  # the upstream's own answer (Starlette: no route)
        # The upstream's 404 has a body the document does not declare for it: a response violation.
        assert forwarded.headers["x-sandbox-violations"].startswith("2; request=1; response=1")
        entry = _journal(proxy)[-1]
        request_violation = next(v for v in entry["violations"] if v["in"] == "request")
        assert (request_violation["location"], request_violation["pointer"]) == ("path", "/petId")
        assert entry["off_contract"] is True
    app = create_proxy_app(Config(spec=pets_doc), odd_upstream.url, reject_invalid_requests=True)
    with BackgroundServer(app, lifespan="on") as proxy:
        local = httpx.get(f"{proxy.url}/pets/abc")
        assert local.status_code == 422  # the document's error shape: RFC 9457 by default
        assert local.headers["content-type"] == "application/problem+json"
        assert local.json()["errors"][0]["pointer"] == "/petId"
        assert _journal(proxy)[-1]["proxy"] == {"forwarded": False}


def test_layer_request_rejected_locally_in_layers_envelope(
    layer_upstream: BackgroundServer,
) -> None:
    app = create_proxy_app(Config(), layer_upstream.url, reject_invalid_requests=True)
    before = len(_journal(layer_upstream))
    with BackgroundServer(app, lifespan="on") as proxy:
        response = httpx.get(
            f"{proxy.url}{CUSTOMER_CREDITS}?limit=0", headers={"Authorization": TOKEN}
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["error_enum"] == "SpecifiedBadRequest"
        missing = httpx.get(f"{proxy.url}{CUSTOMER_CREDITS}")  # no credentials
        assert missing.status_code == 400
        assert missing.json()["errors"][0]["meta"]["keyword"] == "security"
    assert len(_journal(layer_upstream)) == before  # nothing reached the upstream


def test_hanging_upstream_gives_504_within_the_timeout(pets_proxy: BackgroundServer) -> None:
    started = time.monotonic()
    response = httpx.get(f"{pets_proxy.url}/pets/6", timeout=10)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert 0.9 < elapsed < 3.0  # --upstream-timeout 1
    assert response.headers["content-type"] == "application/problem+json"
    assert "did not answer within 1 seconds" in response.json()["detail"]
    assert _journal(pets_proxy)[-1]["proxy"]["error"] == "GatewayTimeout"


def test_upstream_down_gives_502_in_the_documents_shape(pets_doc: Path) -> None:
    down = f"http://127.0.0.1:{_free_port()}"
    with BackgroundServer(create_proxy_app(Config(spec=pets_doc), down), lifespan="on") as proxy:
        response = httpx.get(f"{proxy.url}/pets/1")
        assert response.status_code == 502
        assert response.json()["title"] == "Bad Gateway"
    with BackgroundServer(create_proxy_app(Config(), down), lifespan="on") as proxy:
        response = httpx.get(f"{proxy.url}{CUSTOMER_CREDITS}", headers={"Authorization": TOKEN})
        assert response.status_code == 502
        assert response.json()["errors"][0]["type"] == "BadGateway"  # Layer's envelope
        assert response.headers["x-sandbox-violations"].startswith("0; request=0")


def test_request_over_the_limit_is_refused_and_large_answers_pass_unchecked(
    pets_doc: Path, odd_upstream: BackgroundServer
) -> None:
    app = create_proxy_app(Config(spec=pets_doc, max_body_bytes=64), odd_upstream.url)
    with BackgroundServer(app, lifespan="on") as proxy:
        refused = httpx.post(f"{proxy.url}/echo", content=b"x" * 65)
        assert refused.status_code == 413
        big = httpx.post(f"{proxy.url}/echo", content=b"y" * 60)  # echo answers > 64 bytes
        assert big.status_code == 200
        assert big.json()["body"] == "y" * 60
        assert "response=unchecked" in big.headers["x-sandbox-violations"]
        assert _journal(proxy)[-1]["proxy"]["response_checked"] is False


def test_drift_command_text_json_and_exit_status(
    pets_proxy: BackgroundServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for pet_id in (1, 2, 2, 3):
        httpx.get(f"{pets_proxy.url}/pets/{pet_id}")
    assert main(["drift", pets_proxy.url, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    # A wrong type twice and a missing property: one place in the document, three violations.
    assert report["summary"] == {
        "calls": 4,
        "calls_with_violations": 3,
        "violations": 3,
        "groups": 1,
    }
    (top,) = report["groups"]
    assert (top["pointer"], top["count"], top["keywords"]) == ("/name", 3, ["type", "required"])
    assert top["first"]["path"] == "/pets/2"
    assert main(["drift", pets_proxy.url]) == 1
    text = capsys.readouterr().out
    assert "3x  response getPet 200 body /name [type, required]" in text
    saved = tmp_path / "journal.json"
    saved.write_text(httpx.get(f"{pets_proxy.url}/_sandbox/journal").text)
    assert main(["drift", str(saved)]) == 1
    capsys.readouterr()
    clean = tmp_path / "clean.json"
    clean.write_text(
        json.dumps(
            {"data": [e for e in json.loads(saved.read_text())["data"] if not e["violations"]]}
        )
    )
    assert main(["drift", str(clean)]) == 0
    assert "no drift" in capsys.readouterr().out
    assert main(["drift", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


#: Every list of Layer's records, as `proxy --record` sees them (lists, with deleted credits).
_LAYER_LISTS = (
    "ledger/chart",
    "ledger/accounts",
    "customers",
    "vendors",
    "invoices",
    "bills",
    "invoices/payments",
    "bills/bill-payments",
    "invoices/customer-credits?include_deleted=true",
    "bills/vendor-credits?include_deleted=true",
)
#: Fixture file -> the path a record of it is fetched at (after /v1/businesses/{id}/).
_LAYER_RECORDS = {
    "ledger_accounts.yaml": "ledger/accounts",
    "customers.yaml": "customers",
    "vendors.yaml": "vendors",
    "invoices.yaml": "invoices",
    "bills.yaml": "bills",
    "invoice_payments.yaml": "invoices/payments",
    "bill_payments.yaml": "bills/bill-payments",
    "customer_credits.yaml": "invoices/customer-credits",
    "vendor_credits.yaml": "bills/vendor-credits",
}


def _as_recorded(answer: Any, inside: str = "") -> Any:
    """An answer without what the README says recording does not keep: ids of line items,
    allocations and tags, tags' dimension ids, the ``updated_at`` of invoices and bills, and
    secrets."""
    if isinstance(answer, list):
        return [_as_recorded(item, inside) for item in answer]
    if not isinstance(answer, dict):
        return answer
    derived = {"id"} if inside in ("line_items", "allocations", "transaction_tags") else set()
    if inside == "transaction_tags":  # tag dimensions are not recorded: their ids are the
        derived |= {"dimension_id", "definition_id"}  # loading sandbox's own
    if answer.get("type") in ("Invoice", "Bill"):
        derived.add("updated_at")
    return {
        key: _as_recorded(value, key)
        for key, value in answer.items()
        if key not in derived and key != "api_key"
    }


def _make_layer_history(client: httpx.Client, base: str) -> None:
    """Records created, changed and deleted over HTTP (child ids are random then)."""

    def ok(response: httpx.Response) -> Any:
        assert response.status_code in (200, 201), response.text
        return response.json()["data"]

    ok(
        client.post(
            f"{base}/ledger/accounts",
            json={
                "name": "Undeposited Funds",
                "stable_name": {"type": "StableName", "stable_name": "UNDEPOSITED_FUNDS"},
                "account_type": "ASSET",
                "account_subtype": "UNDEPOSITED_FUNDS",
                "parent_id": {"type": "AccountId", "id": "a0000000-0000-4000-8000-000000000005"},
            },
        )
    )
    customer = ok(
        client.post(
            f"{base}/customers",
            json={"external_id": "crm-77", "company_name": "Vandelay", "email": "a@x.test"},
        )
    )
    tags = [{"key": "region", "value": "west", "value_display_name": "West"}]
    invoice = ok(
        client.post(
            f"{base}/invoices",
            json={
                "customer_id": customer["id"],
                "invoice_number": "REC-1",
                "sent_at": "2024-06-01T12:00:00Z",
                "line_items": [
                    {"product": "Widget", "unit_price": 4000, "quantity": 3, "tags": tags},
                    {
                        "unit_price": 3000,
                        "account_identifier": {
                            "type": "StableName",
                            "stable_name": "SERVICES_REVENUE",
                        },
                    },
                ],
                "tips": 500,
                "tags": tags,
            },
        )
    )
    ok(
        client.post(
            f"{base}/invoices/payments",
            json={
                "method": "ACH",
                "amount": 5000,
                "allocations": [{"invoice_id": invoice["id"], "amount": 4000}],
            },
        )
    )
    ok(
        client.post(
            f"{base}/invoices/customer-credits",
            json={
                "customer_external_id": "crm-77",
                "line_items": [
                    {
                        "amount": 1500,
                        "revenue_account_identifier": {
                            "type": "StableName",
                            "stable_name": "SALES",
                        },
                        "tags": tags,
                    }
                ],
                "allocations": [{"invoice_id": invoice["id"], "amount": 1500}],
                "metadata": {"source": "pos", "api_key": "k-not-to-keep"},
                "tags": tags,
            },
        )
    )
    assert client.delete(f"{base}/invoices/customer-credits/{CREDIT.rsplit('/', 1)[1]}").is_success
    ok(client.post(f"{base}/invoices/e0000000-0000-4000-8000-000000000005/void"))


def test_recorded_layer_records_load_into_a_fresh_sandbox_and_fetch_back_equal(
    tmp_path: Path,
) -> None:
    record = tmp_path / "recorded"
    businesses = (BUSINESS, OTHER_BUSINESS)
    headers = {"Authorization": TOKEN}
    with (
        BackgroundServer(create_app(Config())) as upstream,
        httpx.Client(headers=headers) as client,
    ):
        _make_layer_history(client, f"{upstream.url}/v1/businesses/{BUSINESS}")
        sizes = []
        for _ in range(2):  # the second run merges by id
            app = create_proxy_app(Config(), upstream.url, record=str(record))
            # A client of its own, closed before the server stops (an idle kept-alive
            # connection makes the server wait for it).
            with (
                BackgroundServer(app, lifespan="on") as proxy,
                httpx.Client(headers=headers) as via,
            ):
                # Dependants first: they wait for the records they name, then are written.
                for business in businesses:
                    for path in reversed(_LAYER_LISTS):
                        answer = via.get(f"{proxy.url}/v1/businesses/{business}/{path}")
                        assert answer.headers["x-sandbox-violations"].startswith("0;")
            files = {f: yaml.safe_load((record / f).read_text()) for f in _LAYER_RECORDS}
            sizes.append({f: len(records) for f, records in files.items()})
            for records in files.values():
                assert len({r["id"] for r in records}) == len(records)
        assert sizes[0] == sizes[1]
        for filename, path in _LAYER_RECORDS.items():  # every record listed was recorded
            query = {"include_deleted": "true"} if "credits" in path else {}
            expected = sum(
                len(
                    client.get(f"{upstream.url}/v1/businesses/{b}/{path}", params=query).json()[
                        "data"
                    ]
                )
                for b in businesses
            )
            assert sizes[0][filename] == expected, filename
        text = "".join(p.read_text() for p in record.iterdir())
        assert "k-not-to-keep" not in text and "outstanding_balance" not in text
        fresh = create_app(Config(fixtures=record))
        with BackgroundServer(fresh) as copy, httpx.Client(headers=headers) as loaded:
            for business in businesses:
                for path in _LAYER_LISTS:
                    url = f"/v1/businesses/{business}/{path}"
                    want, got = client.get(upstream.url + url), loaded.get(copy.url + url)
                    assert _as_recorded(got.json()) == _as_recorded(want.json()), path
            for filename, path in _LAYER_RECORDS.items():
                for item in files[filename]:
                    url = f"/v1/businesses/{item['business_id']}/{path}/{item['id']}"
                    want, got = client.get(upstream.url + url), loaded.get(copy.url + url)
                    assert _as_recorded(got.json()) == _as_recorded(want.json()), url


def test_recorded_resources_of_any_document_load_back_without_secrets(
    pets_doc: Path, tmp_path: Path
) -> None:
    record = tmp_path / "recorded"
    with BackgroundServer(create_app(Config(spec=pets_doc))) as upstream:
        for name in ("Rex", "Tom"):
            created = httpx.post(f"{upstream.url}/pets", json={"name": name, "password": "hunter2"})
            assert created.status_code == 201
        for _ in range(2):
            app = create_proxy_app(Config(spec=pets_doc), upstream.url, record=str(record))
            with BackgroundServer(app, lifespan="on") as proxy:
                listed = httpx.get(f"{proxy.url}/pets")
                assert listed.headers["x-sandbox-violations"].startswith("0;")
        original = httpx.get(f"{upstream.url}/pets").json()
    data = yaml.safe_load((record / "resources.yaml").read_text())
    assert list(data) == ["pets"]
    assert len(data["pets"]) == 2
    assert "hunter2" not in (record / "resources.yaml").read_text()
    with BackgroundServer(create_app(Config(spec=pets_doc, fixtures=record))) as copy:
        loaded = httpx.get(f"{copy.url}/pets").json()
        assert loaded == [{k: v for k, v in pet.items() if k != "password"} for pet in original]
        assert httpx.get(f"{copy.url}/pets/{original[0]['id']}").status_code == 200


def test_the_proxy_command_in_a_subprocess_and_drift_against_it(
    layer_upstream: BackgroundServer,
) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "proxy", layer_upstream.url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/_sandbox/journal", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        # Off-contract on purpose: forwarded, and the upstream's own 400 comes back.
        answer = httpx.get(f"{base}{CUSTOMER_CREDITS}?limit=many", headers={"Authorization": TOKEN})
        direct = httpx.get(
            f"{layer_upstream.url}{CUSTOMER_CREDITS}?limit=many", headers={"Authorization": TOKEN}
        )
        assert (answer.status_code, answer.content) == (400, direct.content)
        count, request, response, entry = answer.headers["x-sandbox-violations"].split("; ")
        assert (count, request, response) == ("1", "request=1", "response=0")
        (logged,) = [
            e
            for e in httpx.get(f"{base}/_sandbox/journal").json()["data"]
            if f"entry={e['seq']}" == entry
        ]
        assert [(v["in"], v["pointer"]) for v in logged["violations"]] == [("request", "/limit")]
        assert logged["proxy"]["forwarded"] is True
        assert logged["proxy"]["request_headers"]["authorization"] == "[redacted]"
        drift = subprocess.run(
            [sys.executable, "-m", "mockserver", "drift", base],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert drift.returncode == 1, drift.stderr
        assert (
            "1x  request  business.invoices.customer-credits.get 400 query /limit [type]"
            in drift.stdout
        )
        as_json = subprocess.run(
            [sys.executable, "-m", "mockserver", "drift", base, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert as_json.returncode == 1
        assert json.loads(as_json.stdout)["groups"][0]["count"] == 1
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert TOKEN.split()[1] not in err
