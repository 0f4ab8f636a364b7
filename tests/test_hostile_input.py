"""Hostile input never yields a 500: every case of the issue's matrix, on every operation it fits.

Broken JSON, bodies that are not objects, wrong media types, oversized bodies, URLs and headers,
JSON nested thousands deep, huge and non-finite numbers, NUL and invalid UTF-8, invalid UUIDs,
repeated and unknown parameters each get their documented 4xx in Layer's error envelope, with a
description that says what to fix. Requests the HTTP parser itself refuses are answered in the
same envelope by the real server. A Hypothesis test then throws random bytes and random JSON
at every operation.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from conftest import (
    BUSINESS,
    CREDIT,
    CUSTOMER_CREDITS,
    ERROR_ENUMS,
    VENDOR_CREDIT,
    VENDOR_CREDITS,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mockserver import Config, Sandbox, create_app
from mockserver.engine.limits import MAX_JSON_DEPTH
from mockserver.engine.spec import Operation
from mockserver.serving.server import BackgroundServer

JSON = {"content-type": "application/json"}
#: The four operations that take a JSON body: (method, url).
JSON_BODY_OPERATIONS = [
    ("POST", CUSTOMER_CREDITS),
    ("PATCH", CREDIT),
    ("POST", VENDOR_CREDITS),
    ("PATCH", VENDOR_CREDIT),
]
JSON_BODY_IDS = ["customer create", "customer patch", "vendor create", "vendor patch"]
#: A value for every path parameter the documents use (a known record), by name.
PATH_VALUES = {
    "businessId": BUSINESS,
    "customerCreditId": "cc000000-0000-4000-8000-000000000001",
    "vendorCreditId": "dc000000-0000-4000-8000-000000000001",
    "collection": "customers",
    "customerId": "c0000000-0000-4000-8000-000000000001",
    "vendorId": "d0000000-0000-4000-8000-000000000001",
    "invoiceId": "e0000000-0000-4000-8000-000000000003",
    "billId": "f0000000-0000-4000-8000-000000000003",
    "paymentId": "1a000000-0000-4000-8000-000000000001",
    "subscriptionId": "5e000000-0000-4000-8000-000000000001",
    "resource": "notes",
    "id": "c0000000-0000-4000-8000-000000000003",
    "accountId": "a0000000-0000-4000-8000-000000000001",
    "dimensionId": "7a000000-0000-4000-8000-000000000001",
    "dimensionKey": "department",
}


def envelope(response: Any, status: int) -> list[dict[str, Any]]:
    """The entries of a ``status`` answer, after checking Layer's envelope."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"errors"}, body
    assert body["errors"], body
    for entry in body["errors"]:
        assert isinstance(entry["description"], str) and entry["description"].endswith(".")
        assert entry["error_enum"] == ERROR_ENUMS[status], entry
    return body["errors"]  # type: ignore[no-any-return]


def only_entry(response: Any, status: int = 400) -> dict[str, Any]:
    entries = envelope(response, status)
    assert len(entries) == 1, entries
    return entries[0]


def url_of(op: Operation) -> str:
    url = op.path
    for name, value in PATH_VALUES.items():
        url = url.replace(f"{{{name}}}", value)
    assert "{" not in url, f"add a value for the path parameter of {op.path} to PATH_VALUES"
    return url


def auth_for(op: Operation) -> dict[str, str]:
    """Credentials the operation accepts (the session client sends a bearer token otherwise)."""
    if "basic" in op.security_kinds.values():
        return {"Authorization": "Basic " + base64.b64encode(b"client:secret").decode()}
    return {}


def all_operations(sandbox: Sandbox) -> list[Operation]:
    return [*sandbox.spec.operations, *sandbox.control_spec.operations]


def operation_ids(
    app: Starlette, where: Callable[[Operation], bool] = lambda op: True
) -> list[str]:
    return [op.operation_id for op in all_operations(app.state.sandbox) if where(op)]


def uuid_path_params(op: Operation) -> list[str]:
    return [
        p.name for p in op.parameters if p.location == "path" and p.schema.get("format") == "uuid"
    ]


APP = create_app(Config())
OPERATIONS = {op.operation_id: op for op in all_operations(APP.state.sandbox)}


@pytest.fixture
def hostile(sandbox: Sandbox, client: TestClient) -> Iterator[TestClient]:
    """The session client; state, scenario faults and the clock are put back after the test."""
    yield client
    reset_everything(sandbox)


# --------------------------------------------------------------------------- JSON bodies


@pytest.mark.parametrize(("method", "url"), JSON_BODY_OPERATIONS, ids=JSON_BODY_IDS)
@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"memo": ', "not valid JSON"),
        (b'{"memo": "x",}', "not valid JSON"),
        (b"{'memo': 'x'}", "not valid JSON"),
        (b"   ", "not valid JSON"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
    ],
    ids=["truncated", "trailing comma", "single quotes", "whitespace only", "bom"],
)
def test_malformed_json_is_a_400_at_the_body(
    hostile: TestClient, method: str, url: str, raw: bytes, says: str
) -> None:
    entry = only_entry(hostile.request(method, url, content=raw, headers=JSON))

    assert entry["meta"] == {"location": "body", "pointer": "", "keyword": "json"}
    assert says in entry["description"]


@pytest.mark.parametrize(("method", "url"), JSON_BODY_OPERATIONS, ids=JSON_BODY_IDS)
@pytest.mark.parametrize("raw", [b"[]", b"[{}]", b'"credit"', b"42", b"true", b"null"])
def test_a_body_that_is_not_an_object_is_a_400(
    hostile: TestClient, method: str, url: str, raw: bytes
) -> None:
    entry = only_entry(hostile.request(method, url, content=raw, headers=JSON))

    assert entry["meta"] == {"location": "body", "pointer": "", "keyword": "type"}
    assert entry["description"] == "body /: must be of type object."


@pytest.mark.parametrize(("method", "url"), JSON_BODY_OPERATIONS, ids=JSON_BODY_IDS)
@pytest.mark.parametrize("headers", [JSON, {}], ids=["json", "no content type"])
def test_an_empty_body_is_a_400_asking_for_one(
    hostile: TestClient, method: str, url: str, headers: dict[str, str]
) -> None:
    entry = only_entry(hostile.request(method, url, content=b"", headers=headers))

    assert entry["meta"] == {"location": "body", "pointer": "", "keyword": "required"}
    assert entry["description"] == "a request body is required; send a JSON object."


@pytest.mark.parametrize(("method", "url"), JSON_BODY_OPERATIONS, ids=JSON_BODY_IDS)
@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x", "json"],
)
def test_a_body_of_another_media_type_is_a_415(
    hostile: TestClient, method: str, url: str, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}

    entry = only_entry(hostile.request(method, url, content=b"{}", headers=headers), 415)

    assert entry["meta"]["location"] == "header"
    assert entry["meta"]["pointer"] == "/content-type"
    assert entry["description"].endswith("is not accepted; send application/json.")


def nested(depth: int) -> bytes:
    return b'{"metadata": {"a": ' + b"[" * depth + b"]" * depth + b"}}"


@pytest.mark.parametrize(("method", "url"), JSON_BODY_OPERATIONS, ids=JSON_BODY_IDS)
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 200, 1000])
def test_json_nested_too_deep_is_a_400_at_the_deep_value(
    hostile: TestClient, method: str, url: str, depth: int
) -> None:
    entry = only_entry(hostile.request(method, url, content=nested(depth), headers=JSON))

    assert entry["meta"]["keyword"] == "maxDepth"
    pointer = "/metadata/a" + "/0" * (MAX_JSON_DEPTH - 2)
    assert entry["meta"]["pointer"] == pointer
    assert entry["description"] == (
        f"body {pointer}: JSON is nested more than {MAX_JSON_DEPTH} levels deep here; "
        "flatten the body."
    )


@pytest.mark.parametrize(("method", "url"), JSON_BODY_OPERATIONS, ids=JSON_BODY_IDS)
def test_json_nested_thousands_deep_is_a_400(hostile: TestClient, method: str, url: str) -> None:
    entry = only_entry(hostile.request(method, url, content=nested(5000), headers=JSON))

    assert entry["meta"] == {"location": "body", "pointer": "", "keyword": "json"}
    assert "depth limit exceeded" in entry["description"]


def test_nesting_within_the_limit_reaches_the_rules(hostile: TestClient) -> None:
    # The body object, metadata, and 62 levels of arrays: exactly the 64 levels accepted.
    body = {
        "customer_id": "c0000000-0000-4000-8000-000000000001",
        "line_items": [
            {
                "amount": 1,
                "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"},
            }
        ],
        "metadata": {"a": orjson.loads(b"[" * 62 + b"]" * 62)},
    }

    assert hostile.post(CUSTOMER_CREDITS, json=body).status_code == 201


@pytest.mark.parametrize(("method", "url"), JSON_BODY_OPERATIONS, ids=JSON_BODY_IDS)
@pytest.mark.parametrize(
    ("amount", "says"),
    [
        (b"1" + b"0" * 30, "must be at most 1000000000000"),
        (b"9" * 5000, "number is infinity when parsed as double"),
        (b"1e400", "number is infinity when parsed as double"),
        (b"-1e400", "number is infinity when parsed as double"),
        (b"1.5", "must be of type integer"),
        (b"2.5e-1", "must be of type integer"),
    ],
    ids=["10^30", "5000 digits", "1e400", "-1e400", "fraction", "small exponent"],
)
def test_huge_and_fractional_numbers_are_a_400(
    hostile: TestClient, method: str, url: str, amount: bytes, says: str
) -> None:
    raw = b'{"line_items": [{"amount": ' + amount + b"}]}"

    entries = envelope(hostile.request(method, url, content=raw, headers=JSON), 400)

    assert any(says in e["description"] for e in entries), entries


@pytest.mark.parametrize("amount", [b"1e3", b"1000.0", b"1.0E+3"])
def test_integral_amounts_in_float_form_are_stored_as_integer_cents(
    hostile: TestClient, amount: bytes
) -> None:
    # JSON Schema counts 1000.0 as an integer; the sandbox keeps cents integral all the same.
    raw = (
        b'{"customer_id": "c0000000-0000-4000-8000-000000000001", "line_items": [{"amount": '
        + amount
        + b', "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"}}], '
        b'"allocations": [{"amount": '
        + amount
        + b', "invoice_id": "e0000000-0000-4000-8000-000000000001"}]}'
    )

    response = hostile.post(CUSTOMER_CREDITS, content=raw, headers=JSON)

    assert response.status_code == 201, response.text
    assert b'"amount":1000,' in response.content
    invoices = hostile.get("/_sandbox/state").json()["data"]["invoices"]
    assert [i["outstanding_balance"] for i in invoices if i["id"].endswith("01")] == [44000]


@pytest.mark.parametrize(("method", "url"), JSON_BODY_OPERATIONS, ids=JSON_BODY_IDS)
@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_a_400_naming_them(
    hostile: TestClient, method: str, url: str, literal: bytes
) -> None:
    raw = b'{"memo": "x", "metadata": {"ratio": ' + literal + b"}}"

    entry = only_entry(hostile.request(method, url, content=raw, headers=JSON))

    assert entry["meta"] == {"location": "body", "pointer": "", "keyword": "json"}
    assert f"{literal.decode()} at offset 36 is not a JSON number" in entry["description"]


@pytest.mark.parametrize(("method", "url"), JSON_BODY_OPERATIONS, ids=JSON_BODY_IDS)
def test_nul_in_strings_and_keys_is_a_400_at_each(
    hostile: TestClient, method: str, url: str
) -> None:
    raw = b'{"memo": "a\\u0000b", "metadata": {"k\\u0000": "v", "ok": ["\\u0000"]}}'

    entries = envelope(hostile.request(method, url, content=raw, headers=JSON), 400)

    nul = {e["meta"]["pointer"]: e["description"] for e in entries if e["meta"]["keyword"] == "nul"}
    assert set(nul) == {"/memo", "/metadata/k\x00", "/metadata/ok/0"}
    assert nul["/memo"] == (
        "body /memo: contains a NUL character (\\u0000), which no text field accepts; remove it."
    )


@pytest.mark.parametrize(("method", "url"), JSON_BODY_OPERATIONS, ids=JSON_BODY_IDS)
@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"memo": "caf\xe9"}', "byte 0xe9 at offset 13 is not valid UTF-8"),
        (b'{"memo": "\xff\xfe"}', "byte 0xff at offset 10 is not valid UTF-8"),
        ('{"memo": "x"}'.encode("utf-16"), "byte 0xff at offset 0 is not valid UTF-8"),
        (b'{"memo": "\\ud800"}', "no low surrogate in string"),
    ],
    ids=["latin-1", "raw bytes", "utf-16", "lone surrogate"],
)
def test_invalid_utf8_is_a_400_naming_the_byte(
    hostile: TestClient, method: str, url: str, raw: bytes, says: str
) -> None:
    entry = only_entry(hostile.request(method, url, content=raw, headers=JSON))

    assert entry["meta"]["keyword"] == "json"
    assert says in entry["description"]


@pytest.mark.parametrize(("method", "url"), JSON_BODY_OPERATIONS, ids=JSON_BODY_IDS)
def test_unknown_fields_are_a_400_listing_the_accepted_ones(
    hostile: TestClient, method: str, url: str
) -> None:
    entries = envelope(hostile.request(method, url, json={"memo": "x", "colour": "red"}), 400)

    [unknown] = [e for e in entries if e["meta"]["pointer"] == "/colour"]
    assert "'colour'" in unknown["description"]
    assert "allowed fields are" in unknown["description"]


@pytest.mark.parametrize(
    ("method", "url", "body", "pointer"),
    [
        ("POST", CUSTOMER_CREDITS, {"customer_id": "not-a-uuid"}, "/customer_id"),
        ("PATCH", CREDIT, {"customer_id": "c0000000-0000-4000-8000-00000000000"}, "/customer_id"),
        (
            "POST",
            VENDOR_CREDITS,
            {"vendor_id": "{d0000000-0000-4000-8000-000000000001}"},
            "/vendor_id",
        ),
        (
            "PATCH",
            VENDOR_CREDIT,
            {"allocations": [{"amount": 1, "bill_id": "f0000000_0000_4000_8000_000000000001"}]},
            "/allocations/0/bill_id",
        ),
        (
            "PATCH",
            CREDIT,
            {"allocations": [{"amount": 1, "invoice_id": "e0000000-0000-4000-8000-00000000000g"}]},
            "/allocations/0/invoice_id",
        ),
        (
            "PATCH",
            CREDIT,
            {
                "line_items": [
                    {"amount": 1, "revenue_account_identifier": {"type": "AccountId", "id": ""}}
                ]
            },
            "/line_items/0/revenue_account_identifier/id",
        ),
    ],
    ids=["word", "one digit short", "braces", "underscores", "non-hex", "empty"],
)
def test_invalid_uuids_in_bodies_are_a_400_at_the_id(
    hostile: TestClient, method: str, url: str, body: dict[str, Any], pointer: str
) -> None:
    entries = envelope(hostile.request(method, url, json=body), 400)

    [entry] = [e for e in entries if e["meta"]["pointer"] == pointer]
    assert entry["meta"]["keyword"] == "format"
    assert "must be a valid uuid" in entry["description"]


# --------------------------------------------------------------------------- body size


@pytest.fixture(scope="module")
def small_body_app() -> Starlette:
    return create_app(Config(max_body_bytes=1000))


def asgi_call(
    app: Starlette,
    method: str,
    path: str,
    chunks: Iterator[bytes],
    headers: list[tuple[bytes, bytes]],
) -> tuple[int, dict[str, Any]]:
    """Call ``app`` directly with a streamed body: the only way to see how much of it is read."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        # A body without Content-Length is chunked in HTTP/1.1.
        "headers": [(b"authorization", b"Bearer t"), (b"transfer-encoding", b"chunked"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = next(chunks, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], orjson.loads(body)


def endless_body(chunk: int, read: list[int], allowed: int) -> Iterator[bytes]:
    """Chunks of ``chunk`` bytes for ever; fails the test once more than ``allowed`` are read."""
    while True:
        read[0] += chunk
        if read[0] > allowed:
            raise AssertionError(f"the sandbox read {read[0]} bytes of a body over its limit")
        yield b" " * chunk


@pytest.mark.parametrize(("method", "url"), JSON_BODY_OPERATIONS, ids=JSON_BODY_IDS)
def test_a_body_over_the_limit_is_a_413_and_is_not_read_past_it(
    small_body_app: Starlette, method: str, url: str
) -> None:
    read = [0]

    status, body = asgi_call(
        small_body_app,
        method,
        url,
        endless_body(100, read, allowed=1000 + 100),
        [(b"content-type", b"application/json")],
    )

    assert status == 413
    [entry] = body["errors"]
    assert entry["error_enum"] == "PayloadTooLarge"
    assert entry["description"] == (
        "The request body is larger than 1000 bytes; send a smaller body."
    )
    assert entry["meta"]["limit"] == 1000


@pytest.mark.parametrize(("method", "url"), JSON_BODY_OPERATIONS, ids=JSON_BODY_IDS)
def test_a_declared_length_over_the_limit_is_a_413_before_any_read(
    small_body_app: Starlette, method: str, url: str
) -> None:
    status, body = asgi_call(
        small_body_app,
        method,
        url,
        endless_body(100, [0], allowed=0),
        [(b"content-type", b"application/json"), (b"content-length", b"9" * 40)],
    )

    assert (status, body["errors"][0]["error_enum"]) == (413, "PayloadTooLarge")


@pytest.mark.parametrize("length", [b"\xb2", b"1e3", b"-5", b" 12 "], ids=repr)
def test_a_malformed_content_length_is_no_500(small_body_app: Starlette, length: bytes) -> None:
    chunks = iter([b"{}", b""])

    status, _ = asgi_call(
        small_body_app,
        "POST",
        CUSTOMER_CREDITS,
        chunks,
        [(b"content-type", b"application/json"), (b"content-length", length)],
    )

    assert 400 <= status < 500


@pytest.mark.parametrize("op_id", operation_ids(APP, lambda op: op.body is None))
def test_a_large_body_where_none_is_taken_is_a_400_not_read_past_the_limit(
    small_body_app: Starlette, op_id: str
) -> None:
    op = OPERATIONS[op_id]

    status, body = asgi_call(
        small_body_app, op.method, url_of(op), endless_body(100, [0], allowed=1100), []
    )

    assert status == 400, body
    assert body["errors"][0]["description"].endswith("takes no request body; send none.")


# --------------------------------------------------------------------------- paths, queries


@pytest.mark.parametrize("op_id", operation_ids(APP, lambda op: bool(uuid_path_params(op))))
@pytest.mark.parametrize(
    "bad",
    ["not-a-uuid", "%00", "%FF%FE", "' OR 1=1 --", "b0000000-0000-4000-8000-00000000000\uff11"],
)
def test_invalid_uuids_in_paths_are_a_400_at_the_parameter(
    hostile: TestClient, op_id: str, bad: str
) -> None:
    op = OPERATIONS[op_id]
    for name in uuid_path_params(op):
        url = url_of(op).replace(PATH_VALUES[name], quote(bad, safe="%"))

        entries = envelope(hostile.request(op.method, url), 400)

        assert {"location": "path", "pointer": f"/{name}", "keyword": "format"} in [
            e["meta"] for e in entries
        ]


@pytest.mark.parametrize("op_id", operation_ids(APP))
def test_unknown_query_parameters_are_a_400_on_every_operation(
    hostile: TestClient, op_id: str
) -> None:
    op = OPERATIONS[op_id]

    entries = envelope(
        hostile.request(op.method, url_of(op) + "?colour=red", headers=auth_for(op)), 400
    )

    [entry] = [e for e in entries if e["meta"]["pointer"] == "/colour"]
    assert entry["meta"]["keyword"] == "unknown"
    assert entry["description"].startswith("query parameter 'colour' is not accepted here")


@pytest.mark.parametrize("url", [CUSTOMER_CREDITS, VENDOR_CREDITS])
@pytest.mark.parametrize("name", ["limit", "cursor", "memo", "sort_order", "include_deleted"])
def test_repeated_query_parameters_are_a_400(hostile: TestClient, url: str, name: str) -> None:
    entry = only_entry(hostile.get(f"{url}?{name}=1&{name}=2"))

    assert entry["meta"] == {"location": "query", "pointer": f"/{name}", "keyword": "type"}
    assert entry["description"] == (
        f"query parameter {name!r} was given 2 times; give it once (use a comma-separated "
        "value where a list is accepted)."
    )


@pytest.mark.parametrize("url", [CUSTOMER_CREDITS, VENDOR_CREDITS])
@pytest.mark.parametrize(
    ("query", "pointer", "keyword"),
    [
        ("memo=%FF", "/memo", "encoding"),
        ("memo_contains=caf%E9", "/memo_contains", "encoding"),
        ("reference_number=a%00b", "/reference_number", "nul"),
        ("limit=" + "9" * 5000, "/limit", "type"),
        ("limit=1e400", "/limit", "type"),
        ("limit=NaN", "/limit", "type"),
    ],
    ids=["not utf-8", "latin-1", "nul", "5000 digits", "1e400", "nan"],
)
def test_hostile_query_values_are_a_400_at_the_parameter(
    hostile: TestClient, url: str, query: str, pointer: str, keyword: str
) -> None:
    entry = only_entry(hostile.get(f"{url}?{query}"))

    assert entry["meta"] == {"location": "query", "pointer": pointer, "keyword": keyword}


# --------------------------------------------------------------------------- URL and header size


@pytest.mark.parametrize("op_id", operation_ids(APP))
def test_an_overlong_url_is_a_400_on_every_operation(hostile: TestClient, op_id: str) -> None:
    op = OPERATIONS[op_id]

    response = hostile.request(op.method, url_of(op) + "?memo=" + "x" * 9000)

    entry = only_entry(response)
    assert entry["meta"] == {
        "location": "query",
        "pointer": "",
        "keyword": "maxLength",
        "limit": 8192,
    }
    assert entry["description"].startswith("the URL is ")
    assert "accepts at most 8192 bytes of path and query string" in entry["description"]


@pytest.mark.parametrize("op_id", operation_ids(APP))
def test_overlong_headers_are_a_400_on_every_operation(hostile: TestClient, op_id: str) -> None:
    op = OPERATIONS[op_id]

    response = hostile.request(op.method, url_of(op), headers={"X-Padding": "y" * 20_000})

    entry = only_entry(response)
    assert entry["meta"] == {
        "location": "header",
        "pointer": "/x-padding",
        "keyword": "maxLength",
        "limit": 16384,
    }
    assert "The largest is x-padding (20013 bytes): shorten it." in entry["description"]


@pytest.mark.parametrize("path", ["/openapi.json", "/_sandbox/openapi.json"])
def test_the_documents_answer_a_wrong_method_in_the_envelope(
    hostile: TestClient, path: str
) -> None:
    entry = only_entry(hostile.request("POST", path), 405)

    assert entry["description"] == f"POST is not allowed on {path}; use one of: GET."


# --------------------------------------------------------------------------- the real server


def implementations() -> list[str]:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return ["h11"]
    return ["h11", "httptools"]


@pytest.fixture(scope="module", params=implementations())
def live_port(request: pytest.FixtureRequest) -> Iterator[int]:
    app = create_app(Config())
    with BackgroundServer(app, log_level="critical", http=request.param) as server:
        yield server.port


def raw_exchange(port: int, request: bytes, pieces: int = 1) -> tuple[int, bytes]:
    """Send ``request`` as raw bytes (in ``pieces`` writes); the status and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        step = -(-len(request) // pieces)
        try:
            for start in range(0, len(request), step):
                sock.sendall(request[start : start + step])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before reading everything; the answer is still there
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head, "the connection was dropped without an answer"
    return int(head.split(b" ", 2)[1]), body


def get_request(target: bytes, extra: bytes = b"") -> bytes:
    return (
        b"GET "
        + target
        + b" HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer t\r\n"
        + extra
        + b"Connection: close\r\n\r\n"
    )


def assert_envelope_400(body: bytes, says: str) -> None:
    [entry] = orjson.loads(body)["errors"]
    assert entry["error_enum"] == "SpecifiedBadRequest"
    assert says in entry["description"]


@pytest.mark.parametrize("size", [9_000, 20_000])
def test_an_overlong_url_over_http_is_the_precise_400(live_port: int, size: int) -> None:
    target = CUSTOMER_CREDITS.encode() + b"?memo=" + b"x" * size

    status, body = raw_exchange(live_port, get_request(target), pieces=8)

    assert status == 400
    assert_envelope_400(body, "accepts at most 8192 bytes of path and query string")


def test_overlong_headers_over_http_are_the_precise_400(live_port: int) -> None:
    padding = b"X-Padding: " + b"y" * 20_000 + b"\r\n"

    status, body = raw_exchange(live_port, get_request(CUSTOMER_CREDITS.encode(), padding), 8)

    assert status == 400
    assert_envelope_400(body, "The largest is x-padding")


@pytest.mark.parametrize(
    "request_",
    [
        get_request(CUSTOMER_CREDITS.encode() + b"?memo=" + b"x" * 1_000_000),
        get_request(CUSTOMER_CREDITS.encode(), b"X-Padding: " + b"y" * 1_000_000 + b"\r\n"),
        get_request(CUSTOMER_CREDITS.encode(), b"".join(b"X-%d: 1\r\n" % i for i in range(20_000))),
        b"GARBAGE\r\n\r\n",
        b"GET /v1/\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    ],
    ids=[
        "1 MB url",
        "1 MB header",
        "20000 headers",
        "not http",
        "nul in target",
        "header without colon",
        "content-length not a number",
        "content-length too large",
    ],
)
def test_what_the_http_parser_refuses_is_a_400_in_the_envelope(
    live_port: int, request_: bytes
) -> None:
    status, body = raw_exchange(live_port, request_, pieces=16)

    assert status == 400
    assert_envelope_400(body, "the sandbox could not read it")


def test_a_body_over_the_limit_over_http_is_a_413_and_the_server_goes_on(live_port: int) -> None:
    body = b'{"memo": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    request = (
        b"POST " + CUSTOMER_CREDITS.encode() + b" HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer t\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )

    status, answer = raw_exchange(live_port, request, pieces=32)

    assert status == 413
    assert orjson.loads(answer)["errors"][0]["error_enum"] == "PayloadTooLarge"
    assert raw_exchange(live_port, get_request(CUSTOMER_CREDITS.encode()))[0] == 200


# --------------------------------------------------------------------------- property-based

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "150"))
FIELD_NAMES = [
    "external_id",
    "customer_id",
    "customer_external_id",
    "vendor_id",
    "vendor_external_id",
    "sent_at",
    "received_at",
    "line_items",
    "allocations",
    "amount",
    "invoice_id",
    "bill_id",
    "revenue_account_identifier",
    "expense_account_identifier",
    "type",
    "id",
    "stable_name",
    "memo",
    "metadata",
    "reference_number",
    "tags",
    "key",
    "value",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "SALES", "AccountId", "StableName", "2024-01-31", BUSINESS])
    | st.uuids().map(str)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "text/plain",
        None,
    ]
)
PATH_SEGMENTS = st.one_of(
    st.none(),  # the known record
    st.uuids().map(str),
    st.text(min_size=1, max_size=40).map(lambda s: quote(s, safe="")),
)
QUERIES = st.lists(
    st.tuples(
        st.sampled_from(["limit", "cursor", "memo", "sort_by", "include_deleted"])
        | st.text(max_size=8),
        st.text(max_size=20),
    ),
    max_size=4,
)


def url_with(op: Operation, segment: str | None, query: list[tuple[str, str]]) -> str:
    url = url_of(op)
    if segment is not None and "{" in op.path:
        last = op.path.rsplit("{", 1)[1].split("}", 1)[0]
        url = url.replace(PATH_VALUES[last], segment)
    if query:
        url += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
    return url


def assert_no_5xx(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"errors"}, body
        for entry in body["errors"]:
            assert entry["type"] and entry["description"] and entry["error_enum"], entry


def reset_everything(sandbox: Sandbox) -> None:
    # Random JSON can be a valid control request (a fault rule, a clock change): undo it.
    sandbox.store.reset()
    sandbox.scenarios.clear()
    sandbox.store.clock.real()


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(
    op_id=st.sampled_from(operation_ids(APP)),
    segment=PATH_SEGMENTS,
    query=QUERIES,
    body=JSON_VALUES,
    content_type=CONTENT_TYPES,
)
def test_random_json_at_any_operation_is_never_a_5xx(
    hostile: TestClient,
    sandbox: Sandbox,
    op_id: str,
    segment: str | None,
    query: list[tuple[str, str]],
    body: Any,
    content_type: str | None,
) -> None:
    op = OPERATIONS[op_id]
    headers = {"content-type": content_type} if content_type else {}
    try:
        response = hostile.request(
            op.method,
            url_with(op, segment, query),
            # json, not orjson: Hypothesis's integers go beyond 64 bits.
            content=json.dumps(body, ensure_ascii=False).encode(),
            headers={**auth_for(op), **headers},
        )
        assert_no_5xx(response)
    finally:
        reset_everything(sandbox)


@SETTINGS
@given(
    op_id=st.sampled_from(operation_ids(APP)),
    segment=PATH_SEGMENTS,
    raw=st.binary(max_size=300),
    content_type=CONTENT_TYPES,
)
def test_random_bytes_at_any_operation_are_never_a_5xx(
    hostile: TestClient,
    sandbox: Sandbox,
    op_id: str,
    segment: str | None,
    raw: bytes,
    content_type: str | None,
) -> None:
    op = OPERATIONS[op_id]
    headers = {"content-type": content_type} if content_type else {}
    try:
        response = hostile.request(
            op.method, url_with(op, segment, []), content=raw, headers={**auth_for(op), **headers}
        )
        assert_no_5xx(response)
    finally:
        reset_everything(sandbox)
