"""Spec loading: the document compiles once; what the engine cannot honour fails at load."""

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from mockserver import Config, create_app
from mockserver.config import BUILTIN_CONTROL_SPEC, BUILTIN_SPEC
from mockserver.engine.spec import compile_spec, load_spec
from mockserver.errors import SpecError

BASE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/things": {
            "post": {
                "operationId": "things.post",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                    },
                },
                "responses": {"201": {"description": "created"}},
            }
        }
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "properties": {"name": {"type": "string", "nullable": True}},
                "required": ["name"],
            }
        }
    },
}


def spec_with(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(BASE)
    change(document)
    return document


def test_builtin_documents_compile() -> None:
    spec = load_spec(BUILTIN_SPEC)
    ids = {op.operation_id for op in spec.operations}
    for prefix in ("business.invoices.customer-credits", "business.bills.vendor-credits"):
        for suffix in ("post", "get", "get_one", "patch", "delete"):
            assert f"{prefix}.{suffix}" in ids
    assert spec.validator_count > 50
    assert {op.operation_id for op in load_spec(BUILTIN_CONTROL_SPEC).operations} >= {
        "sandbox.reset",
        "sandbox.state",
    }


def test_nullable_becomes_null_type() -> None:
    op = compile_spec(BASE).operations[0]
    validator = op.body.media_types["application/json"]  # type: ignore[union-attr]
    assert validator.is_valid({"name": None})
    assert not validator.is_valid({"name": 3})


def test_unsupported_keyword_is_named_with_its_pointer() -> None:
    def add_not(d: dict[str, Any]) -> None:
        d["components"]["schemas"]["Thing"]["properties"]["name"]["tupleItems"] = {}

    with pytest.raises(SpecError, match=r"/components/schemas/Thing/properties/name/tupleItems"):
        compile_spec(spec_with(add_not))


def test_unresolvable_ref_is_an_error() -> None:
    def break_ref(d: dict[str, Any]) -> None:
        d["components"]["schemas"].pop("Thing")

    with pytest.raises(SpecError, match="does not resolve"):
        compile_spec(spec_with(break_ref))


def test_duplicate_operation_id_is_an_error() -> None:
    def duplicate(d: dict[str, Any]) -> None:
        d["paths"]["/others"] = copy.deepcopy(d["paths"]["/things"])

    with pytest.raises(SpecError, match="already used"):
        compile_spec(spec_with(duplicate))


def test_unknown_formats_are_accepted_and_undefined_styles_are_errors() -> None:
    def add_format(d: dict[str, Any]) -> None:
        d["components"]["schemas"]["Thing"]["properties"]["name"]["format"] = "colour"

    # JSON Schema: a format the validator does not know is an annotation, accepted as is.
    validator = (
        compile_spec(spec_with(add_format))
        .operations[0]
        .body.media_types[  # type: ignore[union-attr]
            "application/json"
        ]
    )
    assert validator.is_valid({"name": "not a colour"})

    def add_matrix(d: dict[str, Any]) -> None:
        d["paths"]["/things"]["post"]["parameters"] = [
            {"name": "f", "in": "query", "style": "matrix", "schema": {"type": "string"}}
        ]

    with pytest.raises(SpecError, match="style 'matrix' is not defined for query parameters"):
        compile_spec(spec_with(add_matrix))
    lenient = compile_spec(spec_with(add_matrix), strict=False)
    assert lenient.findings == (
        "/paths/~1things/post/parameters/0/style: style 'matrix' is not defined for query "
        "parameters; 'form' is used",
    )


def test_openapi_30_and_31_are_accepted_swagger_and_others_refused() -> None:
    def make(version: str) -> Any:
        def change(d: dict[str, Any]) -> None:
            d["openapi"] = version

        return change

    assert compile_spec(spec_with(make("3.1.0"))).operations
    with pytest.raises(SpecError, match=r"3\.0\.x or 3\.1\.x, got '4\.0\.0'"):
        compile_spec(spec_with(make("4.0.0")))

    def make_swagger(d: dict[str, Any]) -> None:
        del d["openapi"]
        d["swagger"] = "2.0"

    with pytest.raises(SpecError, match=r"Swagger 2\.0 document.*Convert it first"):
        compile_spec(spec_with(make_swagger))


def test_an_example_that_breaks_its_schema_stops_start_up(tmp_path: Path) -> None:
    document = BUILTIN_SPEC.read_text().replace(
        "example: b0000000-0000-4000-8000-000000000001", "example: not-a-uuid", 1
    )
    assert "not-a-uuid" in document
    spec = tmp_path / "spec.yaml"
    spec.write_text(document)
    with pytest.raises(SpecError, match=r"example does not match its own schema"):
        create_app(Config(spec=spec, strict_spec=True))
    create_app(Config(spec=spec))  # a user's document: logged, and the rest is served


def test_a_yaml_document_is_read_as_yaml_1_2_as_openapi_specifies() -> None:
    from mockserver.engine.document import parse_text

    text = "a: 18:00\nb: 2024-01-01\nc: yes\nd: 0777\ne: '12'\nf: ~\n200: x\n"
    # YAML 1.1 (PyYAML alone) would give 1080, a date, True and 777.
    assert parse_text(text, "doc.yaml") == {
        "a": "18:00",
        "b": "2024-01-01",
        "c": "yes",
        "d": 777,
        "e": "12",
        "f": None,
        200: "x",
    }
    # Merge keys exist only in YAML 1.1: such a document is read as its authors meant.
    merged = parse_text("base: &b {x: 1}\nitem:\n  <<: *b\n  y: 2\n", "doc.yaml")
    assert merged["item"] == {"x": 1, "y": 2}
    with pytest.raises(yaml.YAMLError, match="single document"):  # not the first one silently
        parse_text("a: 1\n---\nb: 2\n", "doc.yaml")
    with pytest.raises(yaml.YAMLError, match="line 1"):  # PyYAML's message: line and column
        parse_text("a: [1, 2\n", "doc.yaml")
