"""`mockserver lint`: finds the published defects, and nothing in the sandbox's own documents."""

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.config import BUILTIN_CONTROL_SPEC, BUILTIN_FIXTURES, BUILTIN_SPEC
from mockserver.engine.spec import load_spec
from mockserver.errors import SpecError
from mockserver.serving.cli import main
from mockserver.tools.lint import Finding, lint_document, lint_path

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


NON_STRING_KEYS = """\
openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /x:
    get:
      operationId: x.get
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/X'}
components:
  schemas:
    X:
      type: object
      required: [missing]
      properties:
        true: {type: string}
        Null: {type: string}
"""


def test_non_string_keys_beside_an_undeclared_required_are_findings_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "keys.yaml"
    spec.write_text(NON_STRING_KEYS)
    assert main(["lint", str(spec)]) == 1
    out = capsys.readouterr().out
    assert "/components/schemas/X/properties/True: the key True is not a string" in out
    assert "required property 'missing' is not declared in properties (declared: None, True)" in out
    # A user's document is served with what is understood; --strict-spec refuses it.
    assert main(["serve", "--strict-spec", "--spec", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mockserver: cannot start: ") and "Traceback" not in err


def test_values_of_the_wrong_type_are_findings(tmp_path: Path) -> None:
    document = _doc(
        {"S": {"type": "object", "properties": "#/x", "required": {"a": 1}, "format": ["x"]}},
        {"/x": {"get": None, "post": {"operationId": "x.post", "responses": []}}},
    )
    assert _messages(document) == [
        "error: /paths/~1x/get: the operation is null, not an object",
        "error: /paths/~1x/post/responses: must be an object, not a list ([])",
        "error: /components/schemas/S/format: format ['x'] is not supported by the sandbox",
        "error: /components/schemas/S/properties: must be an object of schemas, not a str ('#/x')",
        "error: /components/schemas/S/required: must be a list of property names, not a dict ({'a': 1})",
    ]
    spec = tmp_path / "wrong.json"
    spec.write_text(json.dumps(document))
    # Strictly loaded, the first thing wrong stops it with its pointer (never a traceback).
    with pytest.raises(SpecError, match=r"/paths/~1x/"):
        load_spec(spec)


_KEYS = st.one_of(
    st.sampled_from(
        ["type", "properties", "required", "items", "allOf", "anyOf", "$ref", "nullable",
         "additionalProperties", "enum", "format", "example", "schema", "in", "name", "content",
         "application/json", "responses", "parameters", "requestBody", "operationId", "200"]
    ),
    st.booleans(),
    st.none(),
    st.integers(-2, 300),
)  # fmt: skip
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(["object", "string", "#/components/schemas/X", "#/x", "x.get", "path"]),
)
_TREES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    paths=st.dictionaries(
        st.sampled_from(["/x", "/x/{id}"]),
        st.dictionaries(st.sampled_from(["get", "post", "parameters"]), _TREES, max_size=2),
        max_size=2,
    ),
    schemas=st.dictionaries(st.sampled_from(["X", "Y"]), _TREES, max_size=2),
)
def test_lint_and_load_never_crash_on_any_structure(
    paths: dict[str, Any], schemas: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    document = _doc(schemas, paths)
    assert all(isinstance(f, Finding) for f in lint_document(document))
    spec = tmp_path_factory.mktemp("spec") / "any.yaml"
    spec.write_text(yaml.safe_dump(document))
    # A clear message with the file (SpecError); anything else would be a crash.
    with contextlib.suppress(SpecError):
        load_spec(spec)


def test_an_internal_error_has_its_own_exit_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("mockserver.tools.lint.lint_paths", broken)
    assert main(["lint", str(BUILTIN_SPEC)]) == 3
    err = capsys.readouterr().err
    assert "internal error (RuntimeError: boom); this is a bug in mockserver" in err
    assert "Traceback" not in err
