"""Generated and example bodies: valid against their schema, the same for the same seed."""

import copy
import functools
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mockserver.engine.examples import pick_example, to_text, to_xml
from mockserver.engine.generate import GenerationError, generate

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ROOT = Path(__file__).resolve().parent.parent
#: Public documents shared by the team, beside the repository.
SPECS = ROOT.parent / "shared" / "specs"
DOCUMENTS = [
    SPECS / "petstore-expanded.yaml",
    SPECS / "swagger-petstore-v3.yaml",
    SPECS / "redocly-museum.yaml",
    SPECS / "twilio_messaging_v1.json",
    SPECS / "link-example.yaml",
    SPECS / "callback-example.yaml",
    ROOT / "openapi" / "layer-credits.yaml",
]
#: The shared documents sit beside a checkout of the team's workspace, not in the repository.
HAVE_SPECS = SPECS.is_dir()
if not HAVE_SPECS:
    DOCUMENTS = [p for p in DOCUMENTS if p.is_file()]


def errors(schema: Any, value: Any) -> list[str]:
    """Every reason jsonschema gives for ``value`` not matching ``schema``, formats included."""
    return [f"{list(e.absolute_path)}: {e.message}" for e in checker(schema).iter_errors(value)]


_CHECKERS: dict[int, tuple[Any, Draft202012Validator]] = {}


def checker(schema: Any) -> Draft202012Validator:
    kept = _CHECKERS.get(id(schema))
    if kept is None or kept[0] is not schema:
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        kept = _CHECKERS[id(schema)] = (schema, validator)
    return kept[1]


def valid(schema: Any, seed: int | str = 0, **options: Any) -> Any:
    """Generate for ``schema`` and assert the value is valid against it."""
    value = generate(schema, seed=seed, **options)
    assert errors(schema, value) == [], value
    return value


# --- preferred values --------------------------------------------------------------------


def test_const_wins_over_everything() -> None:
    schema = {"type": "string", "const": "fixed", "enum": ["fixed", "other"], "example": "x"}
    assert valid(schema) == "fixed"


def test_first_enum_value_then_example_then_examples_then_default() -> None:
    assert valid({"type": "string", "enum": ["b", "a"], "example": "a"}) == "b"
    assert valid({"type": "integer", "example": 7, "examples": [8], "default": 9}) == 7
    assert valid({"type": "integer", "examples": [8, 10], "default": 9}) == 8
    assert valid({"type": "integer", "default": 9}) == 9


def test_values_that_break_the_schema_are_passed_over() -> None:
    schema = {"type": "integer", "minimum": 10, "example": 3, "examples": ["x", 12], "default": 1}
    assert valid(schema) == 12
    assert valid({"type": "string", "enum": [1, "ok"]}) == "ok"
    assert valid({"type": "string", "format": "uuid", "example": "not-a-uuid"}) != "not-a-uuid"


def test_example_of_an_object_is_used_whole_and_copied() -> None:
    example = {"id": 1, "tags": ["a"]}
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}, "example": example}
    first = valid(schema)
    first["tags"].append("changed")
    assert valid(schema) == {"id": 1, "tags": ["a"]}


def test_an_enum_that_excludes_itself_is_an_error() -> None:
    with pytest.raises(GenerationError, match="enum"):
        generate({"type": "string", "enum": [1, 2]})


# --- types and formats -------------------------------------------------------------------


def test_type_arrays_generate_the_first_non_null_type() -> None:
    assert isinstance(valid({"type": ["null", "integer"]}), int)
    assert isinstance(valid({"type": ["string", "null"]}), str)
    assert valid({"type": "null"}) is None
    assert isinstance(valid({"type": "boolean"}), bool)


def test_untyped_schemas_take_the_type_their_keywords_imply() -> None:
    assert isinstance(valid({"properties": {"a": {"type": "integer"}}, "required": ["a"]}), dict)
    assert isinstance(valid({"minItems": 2}), list)
    assert isinstance(valid({"pattern": "^[a-z]{3}$"}), str)
    assert isinstance(valid({"minimum": 5}), int | float)
    assert valid({"format": "int32"}) == int(valid({"format": "int32"}))


@pytest.mark.parametrize(
    "fmt",
    [
        "uuid",
        "date",
        "date-time",
        "time",
        "duration",
        "email",
        "idn-email",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uri-template",
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "byte",
        "binary",
        "password",
        "regex",
        "json-pointer",
        "relative-json-pointer",
        "phone-number",  # unknown: a plain string
    ],
)
def test_string_formats_pass_the_format_checks(fmt: str) -> None:
    schema = {"type": "string", "format": fmt}
    values = {valid(schema, seed) for seed in range(5)}
    assert all(isinstance(v, str) and v for v in values)
    assert len(values) > 1, "different seeds give different values"


def test_byte_is_base64_and_dates_are_strict() -> None:
    import base64
    from datetime import date, datetime

    base64.b64decode(valid({"type": "string", "format": "byte"}), validate=True)
    date.fromisoformat(valid({"type": "string", "format": "date"}))
    stamp = valid({"type": "string", "format": "date-time"})
    assert stamp.endswith("Z") and datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "minLength": 30},
        {"type": "string", "maxLength": 2},
        {"type": "string", "minLength": 0, "maxLength": 0},
        {"type": "string", "format": "email", "minLength": 40},
        {"type": "string", "format": "uri", "minLength": 60, "maxLength": 70},
        {"type": "string", "format": "hostname", "minLength": 40},
        {"type": "string", "format": "byte", "minLength": 20, "maxLength": 24},
        {"type": "string", "format": "password", "minLength": 20},
    ],
)
def test_string_lengths(schema: dict[str, Any]) -> None:
    for seed in range(5):
        valid(schema, seed)


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[A-Z]{2}-\d{4}$",
        r"^MG[0-9a-fA-F]{32}$",
        r"^(foo|bar)+baz?$",
        r"^(\w+)@\1\.com$",
        r"^[^\s@]+@[^\s@]+\.[a-z]{2,}$",
        r"^\+[1-9]\d{1,14}$",
        r"^(?:[01]\d|2[0-3]):[0-5]\d$",
        r"[a-z]{3}",  # unanchored: matches anywhere
        r"^(?=.*\d)[a-z\d]{8,12}$",
    ],
)
def test_strings_match_their_pattern(pattern: str) -> None:
    for seed in range(8):
        valid({"type": "string", "pattern": pattern}, seed)


def test_pattern_with_length_bounds() -> None:
    for seed in range(5):
        assert len(valid({"type": "string", "pattern": "^[a-z]+$", "minLength": 12}, seed)) >= 12
        valid({"type": "string", "pattern": "[0-9]", "minLength": 10, "maxLength": 10}, seed)


def test_a_pattern_no_string_can_match_is_an_error() -> None:
    with pytest.raises(GenerationError, match="pattern"):
        generate({"type": "string", "pattern": "^[a-z]{5}$", "maxLength": 3})


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "minimum": 1000},
        {"type": "integer", "maximum": -50},
        {"type": "integer", "exclusiveMinimum": 3, "exclusiveMaximum": 5},
        {"type": "integer", "minimum": 10, "maximum": 10},
        {"type": "integer", "multipleOf": 7, "minimum": 50},
        {"type": "integer", "multipleOf": 1000, "maximum": 10},  # only 0 and negatives
        {"type": "integer", "multipleOf": 0.5},
        {"type": "integer", "minimum": 2.5, "maximum": 3.5},
        {"type": "integer", "format": "int32", "minimum": 2147483640},
        {"type": "integer", "format": "int64", "maximum": -9223372036854775800},
        {"type": "number", "minimum": 0.1, "maximum": 0.2},
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.01},
        {"type": "number", "multipleOf": 0.01, "minimum": 1, "maximum": 2},
        {"type": "number", "multipleOf": 0.1},
        {"type": "number", "multipleOf": 2.5, "minimum": 1000},
        {"type": "number", "format": "float"},
        {"type": "number", "format": "double", "exclusiveMaximum": -1e6},
    ],
)
def test_numbers_respect_bounds_and_multiples(schema: dict[str, Any]) -> None:
    for seed in range(10):
        valid(schema, seed)


def test_empty_number_ranges_are_errors() -> None:
    with pytest.raises(GenerationError):
        generate({"type": "integer", "exclusiveMinimum": 1, "exclusiveMaximum": 2})
    with pytest.raises(GenerationError):
        generate({"type": "integer", "minimum": 1, "maximum": 9, "multipleOf": 10})


# --- arrays ------------------------------------------------------------------------------


def test_array_lengths() -> None:
    for seed in range(10):
        assert len(valid({"type": "array", "items": {"type": "integer"}, "minItems": 3}, seed)) >= 3
        assert len(valid({"type": "array", "items": {"type": "string"}, "maxItems": 1}, seed)) <= 1
    assert valid({"type": "array", "items": {"type": "string"}, "maxItems": 0}) == []


def test_unique_items_vary_enum_values_and_examples() -> None:
    schema = {
        "type": "array",
        "uniqueItems": True,
        "minItems": 3,
        "items": {"type": "string", "enum": ["a", "b", "c"]},
    }
    assert sorted(valid(schema)) == ["a", "b", "c"]
    with_example = {
        "type": "array",
        "uniqueItems": True,
        "minItems": 3,
        "items": {"type": "integer", "example": 4},
    }
    assert len(set(valid(with_example))) == 3
    with pytest.raises(GenerationError, match="uniqueItems"):
        generate(
            {"type": "array", "uniqueItems": True, "minItems": 3, "items": {"type": "boolean"}}
        )


def test_prefix_items_and_closed_arrays() -> None:
    schema = {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string", "format": "date"}],
        "items": False,
    }
    value = valid(schema)
    assert len(value) == 2 and isinstance(value[0], int)
    tail = valid(
        {
            "type": "array",
            "prefixItems": [{"const": "x"}],
            "items": {"type": "integer"},
            "minItems": 3,
        }
    )
    assert tail[0] == "x" and all(isinstance(v, int) for v in tail[1:])


def test_contains_and_min_contains() -> None:
    schema = {
        "type": "array",
        "items": {"type": "integer"},
        "contains": {"minimum": 500},
        "minContains": 2,
    }
    for seed in range(5):
        assert sum(v >= 500 for v in valid(schema, seed)) >= 2


# --- objects -----------------------------------------------------------------------------

PERSON = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {
        "id": {"type": "string", "format": "uuid", "readOnly": True},
        "name": {"type": "string"},
        "nickname": {"type": "string"},
        "password": {"type": "string", "writeOnly": True},
        "created": {"type": "string", "format": "date-time", "readOnly": True},
    },
}


def test_objects_have_required_and_optional_properties_in_document_order() -> None:
    assert list(valid(PERSON)) == ["id", "name", "nickname", "created"]


def test_responses_leave_out_write_only_and_requests_read_only_unless_required() -> None:
    assert "password" not in valid(PERSON, direction="response")
    request = valid(PERSON, direction="request")
    assert list(request) == ["id", "name", "nickname", "password"]  # id is required


def test_max_and_min_properties() -> None:
    few = valid({**PERSON, "maxProperties": 3})
    assert list(few) == ["id", "name", "nickname"]
    many = {
        "type": "object",
        "properties": {"a": {"type": "string", "writeOnly": True}},
        "minProperties": 3,
    }
    assert next(iter(valid(many))) == "a"


def test_maps_patterns_and_property_names() -> None:
    assert valid({"type": "object", "additionalProperties": {"type": "integer"}}) == {
        "additionalProp1": valid({"type": "integer"})
    }
    patterned = {
        "type": "object",
        "patternProperties": {"^x-[a-z]+$": {"type": "boolean"}},
        "additionalProperties": False,
        "minProperties": 2,
    }
    value = valid(patterned)
    assert len(value) == 2 and all(k.startswith("x-") for k in value)
    named = {"type": "object", "propertyNames": {"pattern": "^[A-Z]{3}$"}, "minProperties": 2}
    assert len(valid(named)) == 2


def test_required_names_outside_properties_follow_their_pattern_or_additional_properties() -> None:
    schema = {
        "type": "object",
        "required": ["x-count", "other"],
        "patternProperties": {"^x-": {"type": "integer"}},
        "additionalProperties": {"type": "string", "format": "email"},
    }
    value = valid(schema)
    assert isinstance(value["x-count"], int) and "@" in value["other"]


def test_dependent_required_brings_its_properties() -> None:
    schema = {
        "type": "object",
        "properties": {"card": {"type": "string"}, "billing": {"type": "string", "readOnly": True}},
        "dependentRequired": {"card": ["billing"]},
    }
    assert set(valid(schema, direction="request")) == {"card", "billing"}


def test_properties_whose_schema_is_false_are_left_out() -> None:
    assert valid(
        {"type": "object", "properties": {"a": False, "b": {"type": "integer"}}}
    ).keys() == {"b"}
    with pytest.raises(GenerationError):
        generate({"type": "object", "properties": {"a": False}, "required": ["a"]})


# --- combinations ------------------------------------------------------------------------


def test_all_of_merges_properties_bounds_and_types() -> None:
    schema = {
        "allOf": [
            {
                "type": "object",
                "properties": {"a": {"type": "number", "minimum": 5}},
                "required": ["a"],
            },
            {
                "properties": {"a": {"type": "integer", "maximum": 6}, "b": {"format": "email"}},
                "required": ["b"],
            },
        ]
    }
    for seed in range(5):
        value = valid(schema, seed)
        assert value["a"] in (5, 6) and "@" in value["b"]


def test_all_of_with_closed_member_leaves_out_what_the_member_forbids() -> None:
    schema = {
        "allOf": [
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": False,
            },
            {"properties": {"b": {"type": "string"}}},
        ]
    }
    assert list(valid(schema)) == ["a"]


def test_any_of_takes_the_first_branch_that_fits() -> None:
    assert isinstance(
        valid({"anyOf": [{"type": "string", "maxLength": 0, "minLength": 1}, {"type": "integer"}]}),
        int,
    )
    assert isinstance(valid({"anyOf": [{"type": "boolean"}, {"type": "integer"}]}), bool)


def test_one_of_values_match_exactly_one_branch() -> None:
    overlapping = {
        "oneOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}},
            {"type": "object", "properties": {"b": {"type": "integer"}}, "required": ["b"]},
        ]
    }
    numbers = {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 0}]}
    for seed in range(5):
        valid(overlapping, seed)
        valid(numbers, seed)


def test_discriminator_mapping_sets_the_property() -> None:
    cat = {
        "title": "Cat",
        "type": "object",
        "required": ["kind", "purrs"],
        "properties": {"kind": {"type": "string"}, "purrs": {"type": "boolean"}},
    }
    dog = {
        "title": "Dog",
        "type": "object",
        "required": ["kind", "barks"],
        "properties": {"kind": {"type": "string"}, "barks": {"type": "boolean"}},
    }
    schema = {
        "oneOf": [dog, cat],
        "discriminator": {
            "propertyName": "kind",
            "mapping": {"cat": "#/components/schemas/Cat", "dog": "#/components/schemas/Dog"},
        },
    }
    assert valid(schema)["kind"] == "dog"
    unmapped = {"oneOf": [cat, dog], "discriminator": {"propertyName": "kind"}}
    assert valid(unmapped)["kind"] == "Cat"


def test_discriminator_names_recursive_branches_by_their_defs_key() -> None:
    schema = {
        "$defs": {
            "Leaf": {
                "type": "object",
                "properties": {"type": {"type": "string"}},
                "required": ["type"],
            }
        },
        "anyOf": [{"$ref": "#/$defs/Leaf"}],
        "discriminator": {"propertyName": "type", "mapping": {"leaf": "#/components/schemas/Leaf"}},
    }
    assert valid(schema)["type"] == "leaf"


def test_inherited_schema_names_itself_in_the_parents_discriminator() -> None:
    pet = {
        "type": "object",
        "required": ["petType"],
        "properties": {"petType": {"type": "string"}},
        "discriminator": {
            "propertyName": "petType",
            "mapping": {"kitty": "#/components/schemas/Cat"},
        },
    }
    cat = {"title": "Cat", "allOf": [pet, {"properties": {"lives": {"type": "integer"}}}]}
    assert valid(cat)["petType"] == "kitty"


def test_not_and_if_then_else() -> None:
    for seed in range(5):
        assert (
            valid({"type": "integer", "minimum": -1, "maximum": 0, "not": {"const": 0}}, seed) == -1
        )
        assert not isinstance(valid({"not": {"type": "string"}}, seed), str)
    conditional = {
        "type": "object",
        "required": ["country"],
        "properties": {"country": {"enum": ["US", "CA"]}},
        "if": {"properties": {"country": {"const": "US"}}},
        "then": {"required": ["zip"], "properties": {"zip": {"pattern": "^[0-9]{5}$"}}},
        "else": {"required": ["postal"]},
    }
    assert set(valid(conditional)) == {"country", "zip"}


def test_true_and_false_schemas() -> None:
    assert errors(True, generate(True)) == []
    assert errors({}, generate({})) == []
    with pytest.raises(GenerationError, match="accepts no value"):
        generate(False)
    with pytest.raises(GenerationError):
        generate({"allOf": [{"type": "string"}, {"type": "integer"}]})


# --- recursion ---------------------------------------------------------------------------

TREE = {
    "$defs": {
        "Node": {
            "type": "object",
            "required": ["value"],
            "properties": {
                "value": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
            },
        }
    },
    "$ref": "#/$defs/Node",
}


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def test_recursion_stops_at_the_depth_cap() -> None:
    for cap in (0, 2, 6):
        assert depth(valid(TREE, max_depth=cap)) <= cap + 2


def test_required_recursion_ends_in_null_or_the_non_recursive_branch() -> None:
    linked = {
        "$defs": {
            "Item": {
                "type": ["object", "null"],
                "required": ["next"],
                "properties": {"next": {"$ref": "#/$defs/Item"}},
            }
        },
        "$ref": "#/$defs/Item",
    }
    assert depth(valid(linked, max_depth=3)) <= 5
    expression = {
        "$defs": {
            "Expr": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["add"],
                        "properties": {
                            "add": {
                                "type": "array",
                                "minItems": 2,
                                "items": {"$ref": "#/$defs/Expr"},
                            }
                        },
                    },
                    {"type": "integer"},
                ]
            }
        },
        "$ref": "#/$defs/Expr",
    }
    valid(expression, max_depth=2)
    endless = {
        "$defs": {
            "A": {"type": "object", "required": ["a"], "properties": {"a": {"$ref": "#/$defs/A"}}}
        },
        "$ref": "#/$defs/A",
    }
    with pytest.raises(GenerationError, match="recurses"):
        generate(endless)


# --- determinism -------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.one_of(st.integers(min_value=0, max_value=2**64), st.text(max_size=12)))
def test_same_seed_same_value_for_equal_schemas(seed: int | str) -> None:
    first = valid(PERSON, seed)
    assert generate(copy.deepcopy(PERSON), seed=seed) == first
    assert valid(TREE, seed) == generate(copy.deepcopy(TREE), seed=seed)


def test_different_seeds_give_different_values() -> None:
    assert len({json.dumps(generate(PERSON, seed=s)) for s in range(10)}) > 5


# --- the public documents -----------------------------------------------------------------


def to_dialect(document: dict[str, Any], schema: Any) -> Any:
    """A component schema in the dialect ``generate`` takes, as the engine makes it.

    Local ``$ref``s are inlined (each named by a ``title`` with its component's name), a
    reference back into a schema being inlined becomes ``#/$defs/<name>``, and OpenAPI 3.0's
    ``nullable`` and boolean ``exclusiveMinimum``/``exclusiveMaximum`` become 2020-12.
    """
    openapi_30 = str(document.get("openapi", "")).startswith("3.0")
    defs: dict[str, Any] = {}

    def resolve(ref: str) -> Any:
        target: Any = document
        for token in ref[2:].split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        return target

    def convert(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [convert(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref, name = node["$ref"], node["$ref"].rsplit("/", 1)[-1]
            if ref in stack:
                if name not in defs:
                    defs[name] = {}
                    defs[name] = convert(resolve(ref), (ref,))
                return {"$ref": f"#/$defs/{name}"}
            target = convert(resolve(ref), (*stack, ref))
            return {"title": name, **target} if isinstance(target, dict) else target
        out = {
            k: convert(v, stack) for k, v in node.items() if k not in ("nullable", "discriminator")
        }
        if "discriminator" in node:
            out["discriminator"] = node["discriminator"]
        if openapi_30:
            for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
                if out.get(bound) is True and limit in out:
                    out[bound] = out.pop(limit)
                elif isinstance(out.get(bound), bool):
                    del out[bound]
            if node.get("nullable") is True:
                if "type" in out:
                    types = out["type"] if isinstance(out["type"], list) else [out["type"]]
                    out["type"] = [*types, "null"]
                    if "enum" in out and None not in out["enum"]:
                        out["enum"] = [*out["enum"], None]
                else:
                    out = {"anyOf": [out, {"type": "null"}]}
        return out

    converted = convert(schema, ())
    if defs:
        converted = {**converted, "$defs": defs} if isinstance(converted, dict) else converted
    return converted


@functools.cache
def component_schemas() -> list[Any]:
    """Every component schema, and every body schema that is not only a component's ``$ref``."""
    cases = []
    seen: set[str] = set()
    for path in DOCUMENTS:
        text = path.read_text()
        document = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=LOADER)
        named = [
            (name, {"$ref": f"#/components/schemas/{name}"})
            for name in document.get("components", {}).get("schemas", {})
        ]
        bodies = [
            (f"body{i}", m["schema"])
            for i, m in enumerate(_media_types(document))
            if isinstance(m.get("schema"), dict)
        ]
        for name, schema in named + bodies:
            converted = to_dialect(document, schema)
            key = json.dumps(converted, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                cases.append(pytest.param(converted, id=f"{path.stem}:{name}"))
    return cases


def _media_types(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                found.extend(response.get("content", {}).values())
            found.extend(operation.get("requestBody", {}).get("content", {}).values())
    return found


@pytest.mark.skipif(not HAVE_SPECS, reason="../shared/specs is not beside this checkout")
def test_every_shared_document_is_read() -> None:
    assert all(path.is_file() for path in DOCUMENTS), [str(p) for p in DOCUMENTS if not p.is_file()]
    assert len(component_schemas()) > 80


@pytest.mark.parametrize("schema", component_schemas())
def test_real_document_schemas(schema: Any) -> None:
    for seed in range(3):
        valid(schema, seed)
        valid(schema, seed, direction="request")
        valid(schema, seed, max_depth=1)


# --- examples and other media types -------------------------------------------------------


def test_pick_example_order() -> None:
    examples = {
        "external": {"externalValue": "https://example.com/a.json"},
        "first": {"value": {"n": 1}},
        "shared": {"$ref": "#/components/examples/Shared"},
    }
    components = {
        "#/components/examples/Shared": {"$ref": "#/components/examples/Real"},
        "#/components/examples/Real": {"value": {"n": 3}},
    }
    media = {"examples": examples, "schema": {"example": {"n": 9}}}
    assert pick_example(media, "shared", components.__getitem__) == (True, {"n": 3})
    assert pick_example(media, "first") == (True, {"n": 1})
    assert pick_example(media, "external") == (True, {"n": 1}), "externalValue is not fetched"
    assert pick_example(media, "missing") == (True, {"n": 1})
    assert pick_example({**media, "example": {"n": 2}}) == (True, {"n": 2})
    assert pick_example({"schema": {"example": {"n": 9}}}) == (True, {"n": 9})
    assert pick_example({"schema": {"examples": [{"n": 8}]}}) == (True, {"n": 8})
    assert pick_example({"example": None}) == (True, None)
    assert pick_example({"schema": {"type": "string"}}) == (False, None)
    assert pick_example({"examples": {"shared": {"$ref": "#/x"}}}) == (False, None), "no resolver"


def test_to_text() -> None:
    assert to_text("plain <text>") == "plain <text>"
    assert to_text({"a": [1, None]}) == '{"a": [1, null]}'
    assert to_text(3) == "3"


def test_to_xml_follows_the_xml_objects() -> None:
    schema = {
        "type": "object",
        "xml": {"name": "Pet", "namespace": "https://example.com/schema", "prefix": "pt"},
        "properties": {
            "id": {"type": "integer", "xml": {"attribute": True}},
            "name": {"type": "string", "xml": {"name": "fullName"}},
            "photoUrls": {
                "type": "array",
                "xml": {"wrapped": True},
                "items": {"type": "string", "xml": {"name": "url"}},
            },
            "tags": {"type": "array", "items": {"type": "string"}},
            "owner": {"type": ["object", "null"]},
            "ok": {"type": "boolean"},
        },
    }
    value = {
        "id": 7,
        "name": "Rex & co",
        "photoUrls": ["a", "b"],
        "tags": ["x", "y"],
        "owner": None,
        "ok": True,
    }
    text = to_xml(value, schema, "Ignored")
    assert text.startswith(
        '<?xml version="1.0" encoding="UTF-8"?><pt:Pet xmlns:pt="https://example.com/schema" id="7">'
    )
    root = ET.fromstring(text)
    ns = "{https://example.com/schema}"
    assert root.tag == f"{ns}Pet" and root.get("id") == "7"
    assert root.find("fullName").text == "Rex & co"  # type: ignore[union-attr]
    assert [u.text for u in root.find("photoUrls")] == ["a", "b"]  # type: ignore[union-attr]
    assert [t.text for t in root.findall("tags")] == ["x", "y"]
    assert root.find("owner") is not None and root.find("ok").text == "true"  # type: ignore[union-attr]


def test_to_xml_root_arrays_names_and_branches() -> None:
    items = {
        "type": "array",
        "items": {
            "type": "object",
            "xml": {"name": "pet"},
            "properties": {"id": {"type": "integer"}},
        },
    }
    root = ET.fromstring(to_xml([{"id": 1}, {"id": 2}], items, "pets"))
    assert root.tag == "pets" and [p.find("id").text for p in root] == ["1", "2"]  # type: ignore[union-attr]
    assert (
        ET.fromstring(to_xml({"first name": "A"}, {"type": "object"})).find("first_name")
        is not None
    )
    either = {
        "oneOf": [
            {"type": "object", "xml": {"name": "a"}, "required": ["a"]},
            {"type": "object", "xml": {"name": "b"}, "required": ["b"]},
        ]
    }
    assert ET.fromstring(to_xml({"b": 1}, either)).tag == "b"
    for seed in range(3):
        ET.fromstring(to_xml(generate(TREE, seed=seed), TREE, "node"))


NUMBERS = st.fixed_dictionaries(
    {"type": st.sampled_from(["integer", "number"])},
    optional={
        "minimum": st.integers(-1000, 1000) | st.floats(-1000, 1000, allow_nan=False),
        "exclusiveMaximum": st.integers(-1000, 1000),
        "multipleOf": st.sampled_from([1, 2, 5, 0.5, 0.25, 0.01, 0.1, 3]),
        "format": st.sampled_from(["int32", "int64", "float", "double"]),
    },
)
STRINGS = st.fixed_dictionaries(
    {"type": st.just("string")},
    optional={
        "minLength": st.integers(0, 40),
        "maxLength": st.integers(0, 60),
        "format": st.sampled_from(
            ["email", "uri", "hostname", "byte", "date", "uuid", "password", "ipv4"]
        ),
        "pattern": st.sampled_from([r"^[a-z]+$", r"\d", r"^[A-Z][a-z0-9_-]*$", r"^(ab|cd)+$"]),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=NUMBERS | STRINGS, seed=st.integers(0, 1000))
def test_random_scalar_schemas_give_valid_values_or_say_why_not(
    schema: dict[str, Any], seed: int
) -> None:
    try:
        value = generate(schema, seed=seed)
    except GenerationError as error:
        assert str(error)  # some combinations have no value (maxLength below a fixed format)
        return
    assert errors(schema, value) == [], (schema, value)


def test_an_optional_property_no_value_satisfies_is_left_out() -> None:
    # ReadMe's schema-deprecated example: a oneOf of two equal branches matches every value
    # twice, so nothing is valid there; an object that may leave it out still generates.
    wrapper = {"type": "object", "properties": {"status": {"type": "string", "enum": ["sold"]}}}
    impossible = {"oneOf": [wrapper, wrapper]}
    schema = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "either": impossible, "all": wrapper},
    }
    value = generate(schema, seed=1)
    assert "either" not in value and value["all"] == {"status": "sold"}
    assert Draft202012Validator(schema).is_valid(value)
    with pytest.raises(GenerationError):
        generate({**schema, "required": ["name", "either"]}, seed=1)


def test_a_one_of_whose_branches_overlap_is_told_apart_by_what_they_require() -> None:
    # GitHub's 422: a validation error (message and documentation_url required) or a rule
    # violation (nothing required). Only an object without documentation_url is exactly one.
    validation_error = {
        "type": "object",
        "required": ["message", "documentation_url"],
        "properties": {"message": {"type": "string"}, "documentation_url": {"type": "string"}},
    }
    rule_violation = {
        "type": "object",
        "properties": {"message": {"type": "string"}, "documentation_url": {"type": "string"}},
    }
    schema = {"oneOf": [validation_error, rule_violation]}
    value = generate(schema, seed=1)
    assert Draft202012Validator(schema).is_valid(value)
