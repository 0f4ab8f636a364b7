"""`mockserver lint`: finds the published defects, and nothing in the sandbox's own documents."""

from pathlib import Path
from typing import Any

import pytest

from mockserver.config import BUILTIN_CONTROL_SPEC, BUILTIN_FIXTURES, BUILTIN_SPEC
from mockserver.serving.cli import main
from mockserver.tools.lint import lint_document, lint_path

PUBLISHED = Path(__file__).parent / "data" / "published-delete-customer-credit.yaml"


def test_published_excerpt_defects_are_reported_with_pointers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["lint", str(PUBLISHED)]) == 1
    out = capsys.readouterr().out
    assert "/components/schemas/ApiCustomerCredit/required/2" in out
    assert "'received_at' is not declared" in out
    assert "/components/schemas/ApiCustomerCreditAllocation/required/2" in out
    assert "'invoice_payment_id' is not declared" in out
    # The ledger_account example writes id as a string where the schema wants an AccountId.
    assert "/ledger_account/example/id: the example does not match its own schema" in out


def test_the_sandbox_documents_and_fixtures_are_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(BUILTIN_SPEC)]) == 0
    assert main(["lint", str(BUILTIN_CONTROL_SPEC), "--fixtures", str(BUILTIN_FIXTURES)]) == 0
    assert "0 error(s)" in capsys.readouterr().out


def _doc(schemas: dict[str, Any], paths: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": paths or {},
        "components": {"schemas": schemas},
    }


def _messages(document: dict[str, Any]) -> list[str]:
    return [str(f) for f in lint_document(document)]


def test_required_inside_anyof_refers_to_the_parent_properties() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "anyOf": [{"required": ["a"]}, {"required": ["b"]}],
        "additionalProperties": False,
    }
    assert _messages(_doc({"S": schema})) == []


def test_required_is_fine_when_additional_properties_allow_it() -> None:
    schema = {"type": "object", "required": ["x"], "additionalProperties": True}
    assert _messages(_doc({"S": schema})) == []


def test_unresolvable_ref_and_unsupported_keyword_unknown_format_accepted() -> None:
    found = _messages(
        _doc(
            {
                "S": {"$ref": "#/components/schemas/Missing"},
                "T": {"type": "string", "format": "email", "tupleItems": {"enum": ["x"]}},
            }
        )
    )
    assert (
        "error: /components/schemas/S/$ref: $ref '#/components/schemas/Missing' does not resolve"
        in found
    )
    # JSON Schema: a format the validator does not know is an annotation, not an error.
    assert not any("format" in f for f in found)
    assert (
        "error: /components/schemas/T/tupleItems: schema keyword 'tupleItems' is not supported "
        "by the sandbox" in found
    )


def test_duplicate_operation_id_style_and_missing_response_schema() -> None:
    op = {
        "operationId": "same",
        "parameters": [
            {"name": "f", "in": "query", "style": "matrix", "schema": {"type": "string"}}
        ],
        "responses": {"200": {"description": "no schema"}, "204": {"description": "none"}},
    }
    found = _messages(_doc({}, {"/a": {"get": op}, "/b": {"get": op}}))
    assert (
        "error: /paths/~1b/get/operationId: operationId 'same' is already used at /paths/~1a/get"
        in found
    )
    assert (
        "error: /paths/~1a/get/parameters/0/style: style 'matrix' is not defined for query parameters"
        in found
    )
    assert (
        "error: /paths/~1a/get/responses/200: response 200 has no content schema, so it cannot be checked"
        in found
    )
    assert not any("responses/204" in f for f in found)


def test_examples_and_defaults_are_checked_against_their_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 1, "default": 0}},
        "example": {"n": "one"},
    }
    found = _messages(_doc({"S": schema}))
    assert (
        "error: /components/schemas/S/example/n: the example does not match its own schema: must be of type integer"
        in found
    )
    assert (
        "error: /components/schemas/S/properties/n/default: the example does not match its own schema: must be at least 1"
        in found
    )


def test_a_bad_fixture_is_reported_with_file_record_and_pointer(tmp_path: Path) -> None:
    for source in BUILTIN_FIXTURES.iterdir():
        (tmp_path / source.name).write_text(source.read_text())
    customers = tmp_path / "customers.yaml"
    customers.write_text(customers.read_text().replace("status: ACTIVE", "status: LIVELY", 1))
    findings = lint_path(BUILTIN_CONTROL_SPEC, tmp_path)
    assert len(findings) == 1
    assert "customers.yaml: record 0" in findings[0].message
    assert "/status: must be one of: ACTIVE, ARCHIVED" in findings[0].message


def test_nullable_without_a_type_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    beside_ref = {"$ref": "#/components/schemas/J", "nullable": True}
    under_all_of = {"allOf": [{"$ref": "#/components/schemas/J"}], "nullable": True}
    typed = {"type": "object", "nullable": True}
    null_branch = {"anyOf": [{"$ref": "#/components/schemas/J"}, {**typed, "enum": [None]}]}
    findings = lint_document(
        _doc(
            {
                "J": {"type": "object"},
                "S": {
                    "type": "object",
                    "properties": {
                        "a": beside_ref,
                        "b": under_all_of,
                        "c": typed,
                        "d": null_branch,
                    },
                },
            }
        )
    )
    assert [(f.severity, f.pointer) for f in findings] == [
        ("warning", "/components/schemas/S/properties/a/nullable"),
        ("warning", "/components/schemas/S/properties/b/nullable"),
    ]
    assert "nullable beside $ref is ignored" in findings[0].message
    assert "strict validators (openapi-core) reject null" in findings[1].message
    # The published excerpt writes metadata that way; warnings alone do not fail the run.
    main(["lint", str(PUBLISHED)])
    assert "/ApiCustomerCredit/properties/metadata/nullable: nullable beside $ref" in (
        capsys.readouterr().out
    )


def test_keys_yaml_did_not_read_as_strings_are_errors() -> None:
    document = _doc({None: {"type": "object"}, "S": {"type": "string", "enum": ["a"]}})
    document["paths"] = {
        "/x": {
            "get": {
                "operationId": "x",
                "responses": {200: {"description": "ok", "content": {}}, True: {}},
            }
        }
    }
    found = _messages(document)
    assert any(m.startswith("error: /components/schemas/None: the key None") for m in found)
    assert any(m.startswith("error: /paths/~1x/get/responses/True: the key True") for m in found)
    assert not any("/responses/200: the key" in m for m in found)  # an unquoted status is fine


def test_a_directory_lints_each_document_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    openapi_dir = BUILTIN_SPEC.parent
    assert main(["lint", str(openapi_dir), "--fixtures", str(BUILTIN_FIXTURES)]) == 0
    out = capsys.readouterr().out
    assert f"{BUILTIN_SPEC}: 0 error(s), 0 warning(s)" in out
    assert f"{BUILTIN_CONTROL_SPEC}: 0 error(s), 0 warning(s)" in out
    # Fixtures need the record schemas, which only the control document declares.
    assert main(["lint", str(BUILTIN_SPEC), "--fixtures", str(BUILTIN_FIXTURES)]) == 1
    assert "none of the documents declares the fixture record schemas" in capsys.readouterr().out
    assert main(["lint", str(tmp_path)]) == 1
    assert "no OpenAPI document (.yaml, .yml, .json) in the directory" in capsys.readouterr().out
    assert main(["lint", str(PUBLISHED), str(BUILTIN_SPEC)]) == 1  # one failing file fails the run
