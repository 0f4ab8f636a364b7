"""Any OpenAPI document becomes a validating, stateful sandbox (real public documents and a
small split document of our own for each inference rule)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import Config, create_app
from mockserver.engine.spec import compile_spec, load_spec
from mockserver.errors import SpecError

pytest_plugins = ["pytester"]
SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"
SPLIT = Path(__file__).parent / "data" / "split" / "openapi.yaml"
needs_specs = pytest.mark.skipif(not SPECS.is_dir(), reason="../shared/specs is not beside")


def client(spec: Path, **headers: str) -> TestClient:
    return TestClient(create_app(Config(spec=spec)), headers=headers)


@needs_specs
@pytest.mark.parametrize(
    "name",
    [
        "petstore-expanded.yaml",
        "swagger-petstore-v3.yaml",
        "redocly-museum.yaml",
        "twilio_messaging_v1.json",
        "link-example.yaml",
        "callback-example.yaml",
    ],
)
def test_real_documents_start(name: str) -> None:
    app = create_app(Config(spec=SPECS / name))
    assert app.state.sandbox.spec.operations


@needs_specs
def test_petstore_crud_at_the_root_and_under_the_server_path() -> None:
    c = client(SPECS / "swagger-petstore-v3.yaml", Authorization="Bearer t")
    created = c.post("/api/v3/pet", json={"name": "Rex", "photoUrls": ["x"]})
    assert created.status_code == 200  # the document's only success status for addPet
    pet = created.json()
    assert pet["name"] == "Rex" and isinstance(pet["id"], int)
    assert c.get(f"/pet/{pet['id']}").json() == pet
    assert c.get(f"/api/v3/pet/{pet['id']}").json() == pet
    xml = c.get(f"/pet/{pet['id']}", headers={"Accept": "application/xml"})
    assert xml.headers["content-type"].startswith("application/xml")
    assert "<name>Rex</name>" in xml.text
    assert c.delete(f"/pet/{pet['id']}").status_code == 200
    gone = c.get(f"/pet/{pet['id']}")
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
    assert gone.json()["errors"][0]["pointer"] == "/petId"


@needs_specs
def test_a_bad_request_lists_every_violation_as_problem_json() -> None:
    c = client(SPECS / "swagger-petstore-v3.yaml", Authorization="Bearer t")
    response = c.post("/pet", json={"name": 3})
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == 422
    assert {(e["pointer"], e["keyword"]) for e in body["errors"]} == {
        ("/name", "type"),
        ("/photoUrls", "required"),
    }


@needs_specs
def test_missing_credentials_are_a_401_with_www_authenticate() -> None:
    c = client(SPECS / "swagger-petstore-v3.yaml")
    response = c.get("/pet/1")
    assert response.status_code == 401
    assert "api_key" in response.headers["www-authenticate"]
    assert c.get("/pet/1", headers={"api_key": "k"}).status_code == 404


@needs_specs
def test_content_negotiation_and_406() -> None:
    c = client(SPECS / "swagger-petstore-v3.yaml", api_key="k")
    assert c.get("/store/inventory", headers={"Accept": "text/csv"}).status_code == 406
    login = c.get("/user/login", params={"username": "a", "password": "b"})
    assert login.headers["content-type"].startswith("application/json")


@needs_specs
def test_openapi_31_resource_with_basic_auth_merge_patch_and_paging() -> None:
    auth = "Basic " + base64.b64encode(b"user:pass").decode()
    c = client(SPECS / "redocly-museum.yaml", Authorization=auth)
    event = {
        "name": "Fireworks",
        "location": "Plaza",
        "eventDescription": "Bangs",
        "dates": ["2024-01-01"],
        "price": 10,
    }
    ids = [c.post("/special-events", json=event).json()["eventId"] for _ in range(3)]
    patched = c.patch(f"/special-events/{ids[0]}", json={"price": 12})
    assert patched.status_code == 200 and patched.json()["price"] == 12
    assert c.get(f"/special-events/{ids[0]}").json()["price"] == 12
    page = c.get("/special-events", params={"limit": 2})
    assert [e["eventId"] for e in page.json()] == ids[:2]
    assert c.delete(f"/special-events/{ids[1]}").status_code == 204
    assert [e["eventId"] for e in c.get("/special-events").json()] == [ids[0], ids[2]]


@needs_specs
def test_twilio_form_bodies_create_records_keyed_by_sid() -> None:
    auth = "Basic " + base64.b64encode(b"AC1:secret").decode()
    c = client(SPECS / "twilio_messaging_v1.json", Authorization=auth)
    created = c.post("/v1/Services", data={"FriendlyName": "Alerts"})
    assert created.status_code == 201, created.text
    service = created.json()
    assert service["friendly_name"] != "" and service["sid"]
    assert c.get(f"/v1/Services/{service['sid']}").json()["sid"] == service["sid"]
    bad = c.post("/v1/Services", data={"FriendlyName": "x", "StickySender": "maybe"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/StickySender"


def test_a_split_document_is_bundled_and_its_resource_inferred() -> None:
    c = client(SPLIT)
    note = c.post("/notes", json={"text": "hello", "tag": "a"})
    assert note.status_code == 201
    body = note.json()
    assert body["text"] == "hello" and body["created_at"].endswith("Z")
    for i in range(3):
        c.post("/api/v2/notes", json={"text": f"n{i}", "tag": "b"})
    first = c.get("/notes", params={"limit": 2, "tag": "b"}).json()
    assert [n["text"] for n in first["items"]] == ["n0", "n1"]
    second = c.get("/notes", params={"limit": 2, "tag": "b", "cursor": first["next_cursor"]})
    assert [n["text"] for n in second.json()["items"]] == ["n2"]
    assert second.json()["next_cursor"] is None
    merged = c.patch(
        f"/notes/{body['id'].upper()}",
        content=json.dumps({"tag": None}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert merged.status_code == 200 and "tag" not in merged.json()
    missing = c.get("/notes/3c90c3cc-0d44-4b50-8888-8dd25736052a")
    assert missing.status_code == 404
    assert set(missing.json()) == {"message", "code"}  # the document's own error shape
    assert missing.json()["code"] == 404


def test_recursive_schemas_validate_through_defs() -> None:
    c = client(SPLIT)
    parent = {
        "id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
        "text": "p",
        "created_at": "2024-01-01T00:00:00Z",
    }
    grandparent_bad = {**parent, "parent": {**parent, "text": 5}}
    bad = c.post("/notes", json={"text": "x", "parent": grandparent_bad})
    assert bad.status_code == 422
    assert [e["pointer"] for e in bad.json()["errors"]] == ["/parent/parent/text"]
    assert (
        c.post("/notes", json={"text": "child", "parent": {**parent, "parent": parent}}).status_code
        == 201
    )


def test_state_snapshot_and_reset_hold_inferred_records() -> None:
    c = client(SPLIT)
    c.post("/notes", json={"text": "kept"})
    state = c.get("/_sandbox/snapshot").json()["data"]
    assert any("kept" in json.dumps(records) for records in state["resources"].values())
    c.post("/_sandbox/reset")
    assert c.get("/notes").json()["items"] == []


def test_operations_without_an_id_get_a_derived_one_and_examples_answer() -> None:
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/status": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "object"},
                                    "examples": {
                                        "up": {"value": {"state": "up"}},
                                        "down": {"value": {"state": "down"}},
                                    },
                                },
                                "text/plain": {"schema": {"type": "string"}, "example": "up"},
                            },
                        },
                        "503": {"description": "down"},
                    }
                }
            }
        },
    }
    with pytest.raises(SpecError, match="needs an operationId"):
        compile_spec(document)
    spec = compile_spec(document, strict=False)
    assert spec.operations[0].operation_id == "get_status"
    path = Path(__file__).parent / "data" / "status.json"
    path.write_text(json.dumps(document))
    try:
        c = client(path)
        assert c.get("/status").json() == {"state": "up"}
        assert c.get("/status", headers={"Prefer": "example=down"}).json() == {"state": "down"}
        assert c.get("/status", headers={"Accept": "text/plain"}).text == "up"
        assert c.get("/status", headers={"Prefer": "code=503"}).status_code == 503
        dynamic = c.get("/status", headers={"Prefer": "dynamic=true"})
        assert dynamic.status_code == 200 and isinstance(dynamic.json(), dict)
        assert c.get("/_sandbox/journal").json()["data"][-1]["operation_id"] == "get_status"
    finally:
        path.unlink()


def test_swagger_2_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "swagger.json"
    path.write_text(json.dumps({"swagger": "2.0", "info": {}, "paths": {}}))
    with pytest.raises(SpecError, match="Convert it first"):
        load_spec(path)


def test_the_control_api_lists_and_seeds_inferred_resources() -> None:
    c = client(SPLIT)
    listed = c.get("/_sandbox/resources").json()["data"]
    assert listed == [
        {
            "name": "notes",
            "collection": "/notes",
            "scope": [],
            "id_field": "id",
            "operations": {
                "create": "post_notes",
                "list": "get_notes",
                "fetch": "get_notes_noteId",
                "merge": "patch_notes_noteId",
                "delete": "delete_notes_noteId",
            },
            "count": 0,
        }
    ]
    seeded = c.post("/_sandbox/resources/notes", json={"record": {"text": "seeded"}})
    assert seeded.status_code == 201
    note = seeded.json()["data"]["record"]
    assert c.get(f"/notes/{note['id']}").json() == note
    assert c.get("/_sandbox/state").json()["data"]["resources"] == {"notes": [note]}
    bad = c.post("/_sandbox/resources/notes", json={"record": {"text": 5}})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["meta"]["pointer"] == "/record/text"
    assert c.post("/_sandbox/resources/pets", json={"record": {}}).status_code == 404
    c.post("/_sandbox/reset")
    assert c.get("/_sandbox/resources/notes").json()["data"] == []


PLUGIN_SUITE = """
def test_any_api_through_the_neutral_fixture(api_sandbox):
    note = api_sandbox.add_record("notes", text="seeded")
    client = api_sandbox.client()
    assert client.get(f"/notes/{note['id']}").json()["text"] == "seeded"
    created = client.post("/notes", json={"text": "made"})
    assert created.status_code == 201
    assert [n["text"] for n in api_sandbox.records("notes")] == ["seeded", "made"]
    api_sandbox.assert_called("post_notes", status=201)


def test_each_test_starts_empty(api_sandbox):
    assert api_sandbox.records("notes") == []
"""


def test_the_plugin_serves_another_apis_document(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_notes=PLUGIN_SUITE)
    result = pytester.runpytest_subprocess(
        f"--layer-sandbox-spec={SPLIT}", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2)


@needs_specs
def test_integer_ids_follow_the_highest_stored_one_across_restores() -> None:
    c = client(SPECS / "swagger-petstore-v3.yaml", Authorization="Bearer t")
    pet = {"name": "Rex", "photoUrls": ["x"]}
    first = [c.post("/pet", json=pet).json()["id"] for _ in range(3)]
    assert first == [first[0], first[0] + 1, first[0] + 2]
    state = c.get("/_sandbox/snapshot").json()["data"]
    (records,) = [r for r in state["resources"].values() if r]
    high = next(iter(records.values()))
    records["500"] = {**high, "id": 500}
    assert c.post("/_sandbox/restore", json=state).status_code == 200
    assert c.post("/pet", json=pet).json()["id"] == 501  # past a restored record's id
    ids = {c.post("/pet", json=pet).json()["id"] for _ in range(50)}
    assert len(ids) == 50 and min(ids) > 501  # never an id already held


def _serve(tmp_path: Path, paths: dict[str, Any], schemas: dict[str, Any]) -> TestClient:
    document = {
        "openapi": "3.0.3",
        "info": {"title": "edge cases", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document))
    return TestClient(create_app(Config(spec=path, strict=False)))


def _json(schema: Any, status: str = "200") -> dict[str, Any]:
    return {status: {"description": status, "content": {"application/json": {"schema": schema}}}}


PET = {
    "type": "object",
    "required": ["name"],
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
}
PET_LIST = {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}


def _collection(name: str, items: Any, sent: Any, answers: dict[str, Any]) -> dict[str, Any]:
    """``GET`` listing ``items`` and ``POST`` taking ``sent`` and answering ``answers``."""
    return {
        "get": {
            "operationId": f"list{name}",
            "responses": _json({"type": "array", "items": items}),
        },
        "post": {
            "operationId": f"create{name}",
            "requestBody": {"content": {"application/json": {"schema": sent}}},
            "responses": answers,
        },
    }


def test_an_operation_that_documents_only_errors_answers_as_documented(tmp_path: Path) -> None:
    # Petstore v2 (as published in many collections): addPet documents 405 alone, and
    # deletePet 400 and 404. No resource action has a documented answer to give there.
    c = _serve(
        tmp_path,
        {
            "/pets": _collection("Pets", PET, PET, {"405": {"description": "Invalid input"}}),
            "/pets/{petId}": {
                "parameters": [
                    {"name": "petId", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "get": {"operationId": "getPet", "responses": _json(PET)},
                "delete": {
                    "operationId": "deletePet",
                    "responses": {"400": {"description": "bad"}, "404": {"description": "none"}},
                },
            },
        },
        {"Pet": PET},
    )
    assert c.post("/pets", json={"name": "Rex"}).status_code == 405
    assert c.delete("/pets/1").status_code == 400  # its lowest documented status
    assert c.get("/pets").status_code == 200
    assert c.get("/_sandbox/journal").json()["data"][0]["contract_violation"] is False


def test_a_record_in_an_envelope_gets_what_the_response_requires_of_it(tmp_path: Path) -> None:
    # ReadMe's createChangelog: the request leaves author's fields optional, the response
    # requires them. The record keeps what was sent; the answer fills what it lacks.
    author = {"type": "object", "properties": {"id": {"type": "string"}}}
    answered = {
        "type": "object",
        "required": ["id", "title", "author"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "author": {**author, "required": ["id", "name"], "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}}},
        },
    }  # fmt: skip
    sent = {"type": "object", "properties": {"title": {"type": "string"}, "author": author}}
    c = _serve(
        tmp_path,
        {
            "/changelogs": _collection(
                "Changelogs", answered, sent, _json({"properties": {"data": answered}}, "201")
            ),
        },
        {},
    )
    created = c.post("/changelogs", json={"title": "v2", "author": {"id": "u1"}})
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["title"] == "v2" and isinstance(data["author"]["name"], str)
    assert c.get("/_sandbox/journal").json()["data"][0]["contract_violation"] is False


def test_a_create_answered_with_a_list_answers_the_record_in_a_list(tmp_path: Path) -> None:
    c = _serve(
        tmp_path,
        {
            "/anything": _collection("Anything", PET, PET, _json(PET_LIST)),
        },
        {"Pet": PET},
    )
    created = c.post("/anything", json={"name": "Rex"})
    assert created.status_code == 200, created.text
    (pet,) = created.json()
    assert pet["name"] == "Rex" and isinstance(pet["id"], int)
    assert c.get("/anything").json() == [pet]


def test_integers_beyond_64_bits_are_refused_not_kept_as_floats(tmp_path: Path) -> None:
    thing = {"type": "object", "properties": {"id": {"type": "string"}, "n": {"type": "integer"}}}
    c = _serve(
        tmp_path,
        {
            "/things": _collection("Things", thing, thing, _json(thing, "201")),
        },
        {},
    )
    json_body = {"Content-Type": "application/json"}
    huge = c.post("/things", content=b'{"n": 1000000000000000000000000000000}', headers=json_body)
    assert huge.status_code == 422  # orjson alone reads it as 1e+30, which "integer" admits
    (error,) = huge.json()["errors"]
    assert error["pointer"] == "/n" and "64-bit" in error["message"]
    below = c.post("/things", content=b'{"n": -9223372036854775809}', headers=json_body)
    assert below.status_code == 422
    largest = c.post("/things", content=b'{"n": 18446744073709551615}', headers=json_body)
    assert largest.status_code == 201 and largest.json()["n"] == 2**64 - 1
    assert c.get("/_sandbox/snapshot").status_code == 200  # what is kept, encodes


def test_an_error_documented_as_xml_is_answered_in_xml(tmp_path: Path) -> None:
    note = '<?xml version="1.0" encoding="UTF-8"?><note><body>Invalid user!</body></note>'
    c = _serve(
        tmp_path,
        {
            "/users": {
                "post": {
                    "operationId": "createUser",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": PET}},
                    },
                    "responses": {
                        **_json(PET),
                        "400": {
                            "description": "Validation failed",
                            "content": {
                                "application/xml": {"examples": {"response": {"value": note}}}
                            },
                        },
                    },
                }
            }
        },
        {"Pet": PET},
    )
    bad = c.post("/users", json={"name": 5})
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/xml")
    assert bad.text == note
    assert c.get("/_sandbox/journal").json()["data"][0]["contract_violation"] is False


def test_read_only_and_write_only_required_properties_apply_one_way(tmp_path: Path) -> None:
    # OpenAPI: a required readOnly property is required in responses only, a required
    # writeOnly one in requests only (one schema serves both, as APIs often write it).
    thing = {
        "type": "object",
        "required": ["id", "name", "secret"],
        "properties": {
            "id": {"$ref": "#/components/schemas/Id"},
            "name": {"type": "string"},
            "secret": {"type": "string", "writeOnly": True},
        },
    }
    ref = {"$ref": "#/components/schemas/Thing"}
    c = _serve(
        tmp_path,
        {"/things": _collection("Things", ref, ref, _json(ref, "201"))},
        {"Thing": thing, "Id": {"type": "string", "readOnly": True}},
    )
    created = c.post("/things", json={"name": "a", "secret": "s"})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "a" and created.json()["id"]
    assert "secret" not in created.json()
    missing = c.post("/things", json={"name": "a"}).json()["errors"]
    assert [e["pointer"] for e in missing] == ["/secret"]
    assert c.get("/_sandbox/journal").json()["data"][0]["contract_violation"] is False


def test_a_list_of_names_is_not_a_collection_of_records(tmp_path: Path) -> None:
    # GitHub's required status check contexts: GET lists strings, POST adds some and answers
    # the new list. Strings are not records, so no resource is inferred there.
    names = {"type": "array", "items": {"type": "string"}}
    sent = {"type": "object", "properties": {"contexts": names}}
    nullable = {"type": "string", "nullable": True}  # a type list once converted
    c = _serve(
        tmp_path,
        {
            "/contexts": _collection("Contexts", {"type": "string"}, sent, _json(names)),
            "/labels": _collection("Labels", nullable, sent, _json(names)),
        },
        {},
    )
    for path in ("/contexts", "/labels"):
        added = c.post(path, json={"contexts": ["ci/build"]})
        assert added.status_code == 200, added.text
        assert all(isinstance(name, str) for name in added.json())
    assert not any(e["contract_violation"] for e in c.get("/_sandbox/journal").json()["data"])


def test_an_error_schema_of_overlapping_branches_still_says_what_is_wrong(tmp_path: Path) -> None:
    # GitHub's 422: a validation error (message and documentation_url required) or a rule
    # violation (nothing required). The answer is the one branch it can be, with the message.
    message = {"message": {"type": "string"}, "documentation_url": {"type": "string"}}
    validation_error = {
        "type": "object",
        "required": ["message", "documentation_url"],
        "properties": message,
    }
    rule_violation = {"type": "object", "properties": {**message, "status": {"type": "string"}}}
    c = _serve(
        tmp_path,
        {
            "/blobs": {
                "post": {
                    "operationId": "createBlob",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": PET}}},
                    "responses": {
                        **_json(PET, "201"),
                        **_json({"oneOf": [validation_error, rule_violation]}, "422"),
                    },
                }
            }
        },
        {},
    )  # fmt: skip
    answer = c.post("/blobs", json={"name": 5})
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/json"
    assert answer.json()["message"] == "body /name: must be of type string."
