"""Parameter styles (engine/params.py) and the coercion they share with bodies (engine/coercion.py)."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.engine.coercion import coerce
from mockserver.engine.params import (
    ABSENT,
    MALFORMED,
    ParameterStyle,
    QueryParameter,
    deserialize,
    deserialize_content,
    parse_cookie_header,
    query_keys_for,
    split_query,
)

STRING = {"type": "string"}
ARRAY = {"type": "array", "items": {"type": "string"}}
OBJECT = {
    "type": "object",
    "properties": {"R": {"type": "integer"}, "G": {"type": "integer"}, "B": {"type": "integer"}},
    "additionalProperties": False,
}
BLUE = "blue"
COLOURS = ["blue", "black", "brown"]
RGB = {"R": 100, "G": 200, "B": 150}


def read(location: str, style: str, explode: bool, schema: Any, raw: Any) -> Any:
    problems: list[Any] = []
    value = deserialize("color", location, style, explode, schema, raw, problems)
    assert problems == [], problems
    return value


def q(text: str) -> list[tuple[str, str]]:
    """Query pairs as the caller passes them (already percent-decoded)."""
    return [tuple(piece.split("=", 1)) for piece in text.split("&")]  # type: ignore[misc]


# Every row of OpenAPI 3.1's style-values table: (location, style, explode, schema, raw, value).
TABLE = [
    ("path", "matrix", False, STRING, ";color=blue", BLUE),
    ("path", "matrix", False, ARRAY, ";color=blue,black,brown", COLOURS),
    ("path", "matrix", False, OBJECT, ";color=R,100,G,200,B,150", RGB),
    ("path", "matrix", True, STRING, ";color=blue", BLUE),
    ("path", "matrix", True, ARRAY, ";color=blue;color=black;color=brown", COLOURS),
    ("path", "matrix", True, OBJECT, ";R=100;G=200;B=150", RGB),
    ("path", "label", False, STRING, ".blue", BLUE),
    ("path", "label", False, ARRAY, ".blue,black,brown", COLOURS),
    ("path", "label", False, OBJECT, ".R,100,G,200,B,150", RGB),
    ("path", "label", True, STRING, ".blue", BLUE),
    ("path", "label", True, ARRAY, ".blue.black.brown", COLOURS),
    ("path", "label", True, OBJECT, ".R=100.G=200.B=150", RGB),
    ("path", "simple", False, STRING, "blue", BLUE),
    ("path", "simple", False, ARRAY, "blue,black,brown", COLOURS),
    ("path", "simple", False, OBJECT, "R,100,G,200,B,150", RGB),
    ("path", "simple", True, STRING, "blue", BLUE),
    ("path", "simple", True, ARRAY, "blue,black,brown", COLOURS),
    ("path", "simple", True, OBJECT, "R=100,G=200,B=150", RGB),
    ("header", "simple", False, ARRAY, "blue, black, brown", COLOURS),
    ("header", "simple", True, OBJECT, "R=100, G=200, B=150", RGB),
    ("query", "form", False, STRING, q("color=blue"), BLUE),
    ("query", "form", False, ARRAY, q("color=blue,black,brown"), COLOURS),
    ("query", "form", False, OBJECT, q("color=R,100,G,200,B,150"), RGB),
    ("query", "form", True, STRING, q("color=blue"), BLUE),
    ("query", "form", True, ARRAY, q("color=blue&color=black&color=brown"), COLOURS),
    ("query", "form", True, OBJECT, q("R=100&G=200&B=150"), RGB),
    ("query", "spaceDelimited", False, ARRAY, q("color=blue black brown"), COLOURS),
    ("query", "spaceDelimited", False, OBJECT, q("color=R 100 G 200 B 150"), RGB),
    ("query", "pipeDelimited", False, ARRAY, q("color=blue|black|brown"), COLOURS),
    ("query", "pipeDelimited", False, OBJECT, q("color=R|100|G|200|B|150"), RGB),
    ("query", "deepObject", True, OBJECT, q("color[R]=100&color[G]=200&color[B]=150"), RGB),
    ("cookie", "form", False, STRING, [("color", "blue")], BLUE),
    ("cookie", "form", False, ARRAY, [("color", "blue,black,brown")], COLOURS),
    (
        "cookie",
        "form",
        True,
        ARRAY,
        [("color", "blue"), ("color", "black"), ("color", "brown")],
        COLOURS,
    ),
    ("cookie", "form", False, OBJECT, [("color", "R,100,G,200,B,150")], RGB),
    ("cookie", "form", True, OBJECT, [("R", "100"), ("G", "200"), ("B", "150")], RGB),
]


@pytest.mark.parametrize(("location", "style", "explode", "schema", "raw", "value"), TABLE)
def test_every_row_of_the_style_table_reads_back(
    location: str, style: str, explode: bool, schema: Any, raw: Any, value: Any
) -> None:
    assert read(location, style, explode, schema, raw) == value


@pytest.mark.parametrize(
    ("location", "style", "explode", "schema", "raw", "value"),
    [
        ("path", "matrix", False, STRING, ";color", ""),
        ("path", "matrix", True, ARRAY, ";color", []),
        ("path", "label", False, STRING, ".", ""),
        ("path", "label", False, ARRAY, ".", []),
        ("path", "simple", False, ARRAY, "", []),
        ("query", "form", False, STRING, q("color="), ""),
        ("query", "form", False, ARRAY, q("color="), []),
    ],
)
def test_empty_values_read_as_empty(
    location: str, style: str, explode: bool, schema: Any, raw: Any, value: Any
) -> None:
    assert read(location, style, explode, schema, raw) == value


def test_defaults_follow_the_location() -> None:
    assert ParameterStyle.of("query") == ParameterStyle("query", "form", True)
    assert ParameterStyle.of("cookie") == ParameterStyle("cookie", "form", True)
    assert ParameterStyle.of("path") == ParameterStyle("path", "simple", False)
    assert ParameterStyle.of("header") == ParameterStyle("header", "simple", False)
    assert ParameterStyle.of("query", "deepObject") == ParameterStyle("query", "deepObject", False)
    assert ParameterStyle.of("query", "form", False).explode is False
    with pytest.raises(ValueError, match="style 'matrix' is not defined for query parameters"):
        ParameterStyle.of("query", "matrix")
    with pytest.raises(ValueError, match="not a parameter location"):
        ParameterStyle.of("body")


@pytest.mark.parametrize(
    ("location", "style", "explode", "schema", "raw", "expected"),
    [
        ("path", "matrix", False, STRING, "blue", "matrix style: ;color=value"),
        ("path", "matrix", False, STRING, ";colour=blue", "matrix style: ;color=value"),
        ("path", "label", False, STRING, "blue", "label style"),
        ("path", "simple", False, OBJECT, "R,100,G", "property and value pairs"),
        ("path", "simple", True, OBJECT, "R=100,G", "key=value for each property"),
        ("query", "form", True, STRING, q("color=a&color=b"), "was given 2 times; give it once"),
        ("query", "deepObject", True, OBJECT, q("color[R=1"), "unbalanced brackets"),
    ],
)
def test_values_that_do_not_read_in_their_style_are_problems(
    location: str, style: str, explode: bool, schema: Any, raw: Any, expected: str
) -> None:
    problems: list[Any] = []
    assert deserialize("color", location, style, explode, schema, raw, problems) is MALFORMED
    assert len(problems) == 1
    assert expected in problems[0].description
    assert problems[0].meta["location"] == location
    assert problems[0].meta["pointer"].startswith("/color")


def test_absent_parameters_are_absent() -> None:
    problems: list[Any] = []
    assert deserialize("color", "query", "form", True, STRING, q("other=1"), problems) is ABSENT
    assert deserialize("color", "query", "deepObject", True, OBJECT, [], problems) is ABSENT
    assert deserialize("color", "header", "simple", False, STRING, None, problems) is ABSENT
    assert (
        deserialize("color", "cookie", "form", True, OBJECT, [("other", "1")], problems) is ABSENT
    )
    assert problems == []


# --- coercion ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "raw", "value"),
    [
        ({"type": "integer"}, "42", 42),
        ({"type": "integer"}, "-7", -7),
        ({"type": "integer"}, "4.5", "4.5"),  # stays a string: the validator reports `type`
        ({"type": "integer"}, "", ""),
        ({"type": "number"}, "4.5", 4.5),
        ({"type": "number"}, "1e3", 1000.0),
        ({"type": "number"}, "3", 3),
        ({"type": "number"}, "1e999", "1e999"),  # not finite: stays a string
        ({"type": "number"}, "NaN", "NaN"),
        ({"type": "boolean"}, "true", True),
        ({"type": "boolean"}, "false", False),
        ({"type": "boolean"}, "yes", "yes"),
        ({"type": ["integer", "null"]}, "null", None),
        ({"type": ["integer", "null"]}, "5", 5),
        ({"type": ["string", "null"]}, "null", "null"),
        ({"type": "string"}, "42", "42"),
        ({}, "42", "42"),
        ({"anyOf": [{"type": "integer"}, {"type": "object"}]}, "5", 5),
        ({"oneOf": [{"type": "string", "enum": ["now"]}, {"type": "integer"}]}, "now", "now"),
        ({"oneOf": [{"type": "string", "enum": ["now"]}, {"type": "integer"}]}, "12", 12),
        ({"allOf": [{"$ref": "#/$defs/Count"}], "$defs": {"Count": {"type": "integer"}}}, "3", 3),
        ({"enum": [1, 2, 3]}, "2", 2),
        ({"type": "integer"}, str(2**64 - 1), 2**64 - 1),
        ({"type": "integer"}, str(-(2**63)), -(2**63)),
        ({"type": "integer"}, str(2**64), str(2**64)),  # beyond 64 bits: stays a string
        ({"type": "integer"}, str(-(2**63) - 1), str(-(2**63) - 1)),
        ({"type": "integer"}, "9" * 5000, "9" * 5000),  # past int()'s limit: stays a string
    ],
)
def test_strings_are_coerced_by_schema(schema: Any, raw: str, value: Any) -> None:
    coerced = coerce(raw, schema)
    assert coerced == value
    assert type(coerced) is type(value)


def test_coercion_reaches_nested_properties_items_and_recursive_refs() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"n": {"type": "integer"}, "next": {"$ref": "#/$defs/Node"}},
            }
        },
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "boolean"}},
            "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
            "node": {"$ref": "#/$defs/Node"},
        },
        "additionalProperties": {"type": "number"},
    }
    value = {
        "tags": ["true", "false", "maybe"],
        "pair": ["1", "1"],
        "node": {"n": "1", "next": {"n": "2", "next": {"n": "x"}}},
        "extra": "2.5",
    }
    assert coerce(value, schema) == {
        "tags": [True, False, "maybe"],
        "pair": [1, "1"],
        "node": {"n": 1, "next": {"n": 2, "next": {"n": "x"}}},
        "extra": 2.5,
    }


def test_parameter_values_are_coerced_in_every_location() -> None:
    ints = {"type": "array", "items": {"type": "integer"}}
    assert read("path", "simple", False, ints, "1,2,x") == [1, 2, "x"]
    assert read("header", "simple", False, {"type": "integer"}, "5") == 5
    assert read("query", "form", True, {"type": "boolean"}, q("color=true")) is True
    assert read("cookie", "form", True, {"type": "number"}, [("color", "0.5")]) == 0.5


# --- deepObject ---------------------------------------------------------------------------


CREATED = {
    "anyOf": [
        {
            "type": "object",
            "properties": {"gt": {"type": "integer"}, "gte": {"type": "integer"}},
            "additionalProperties": False,
        },
        {"type": "integer"},
    ]
}


def test_deep_object_nests_and_takes_stripe_style_ranges_or_a_plain_value() -> None:
    assert read("query", "deepObject", True, CREATED, q("color[gte]=10&color[gt]=3")) == {
        "gte": 10,
        "gt": 3,
    }
    assert read("query", "deepObject", True, CREATED, q("color=1700000000")) == 1700000000
    nested = {
        "type": "object",
        "properties": {"created": {"type": "object", "properties": {"gte": {"type": "integer"}}}},
    }
    assert read("query", "deepObject", True, nested, q("color[created][gte]=5")) == {
        "created": {"gte": 5}
    }


def test_deep_object_arrays_from_empty_brackets_indices_or_one_value() -> None:
    assert read("query", "deepObject", True, ARRAY, q("color[]=a&color[]=b")) == ["a", "b"]
    assert read("query", "deepObject", True, ARRAY, q("color[1]=b&color[0]=a")) == ["a", "b"]
    assert read("query", "deepObject", True, ARRAY, q("color=a")) == ["a"]


def test_deep_object_mixing_a_value_and_nested_keys_is_a_problem() -> None:
    problems: list[Any] = []
    value = deserialize(
        "color", "query", "deepObject", True, CREATED, q("color=1&color[gt]=2"), problems
    )
    assert value is MALFORMED
    assert "conflicts with another field" in problems[0].description


def test_absurdly_deep_keys_are_capped_with_a_problem() -> None:
    key = "color" + "[a]" * 1000
    problems: list[Any] = []
    value = deserialize("color", "query", "deepObject", True, OBJECT, [(key, "1")], problems)
    assert value is MALFORMED
    assert "nested 1001 levels deep; at most 64" in problems[0].description
    assert problems[0].meta == {"location": "query", "pointer": "/color", "keyword": "maxDepth"}


# --- which keys a parameter reads ---------------------------------------------------------


def test_split_query_gives_each_parameter_its_keys_and_lists_the_unknown() -> None:
    parameters = [
        QueryParameter("filter", "deepObject", True, {"type": "object"}),
        QueryParameter("expand", "form", True, ARRAY),
        QueryParameter("limit", schema={"type": "integer"}),
        QueryParameter("rgb", "form", True, OBJECT),
    ]
    pairs = q(
        "filter[status]=open&filter[created][gte]=1&expand[]=a&expand=b&limit=5&R=1&G=2&bogus=1&filtered=2"
    )
    shares, unknown = split_query(parameters, pairs)
    assert shares == {
        "filter": [("filter[status]", "open"), ("filter[created][gte]", "1")],
        "expand": [("expand[]", "a"), ("expand", "b")],
        "limit": [("limit", "5")],
        "rgb": [("R", "1"), ("G", "2")],
    }
    assert unknown == ["bogus", "filtered"]
    assert query_keys_for(parameters[0], ["filter[x]", "filter", "filter[", "limit"]) == [
        "filter[x]",
        "filter",
    ]
    problems: list[Any] = []
    assert deserialize("expand", "query", "form", True, ARRAY, shares["expand"], problems) == [
        "a",
        "b",
    ]


def test_a_free_form_exploded_object_takes_the_keys_nobody_else_reads() -> None:
    parameters = [
        QueryParameter("limit", schema={"type": "integer"}),
        QueryParameter(
            "attributes",
            "form",
            True,
            {"type": "object", "additionalProperties": {"type": "integer"}},
        ),
    ]
    shares, unknown = split_query(parameters, q("limit=1&a=2&b=x"))
    assert unknown == []
    problems: list[Any] = []
    value = deserialize(
        "attributes", "query", "form", True, parameters[1].schema, shares["attributes"], problems
    )
    assert value == {"a": 2, "b": "x"}


def test_a_literal_bracketed_name_is_matched_exactly() -> None:
    parameters = [QueryParameter("page[size]", schema={"type": "integer"})]
    shares, unknown = split_query(parameters, q("page[size]=10&page[number]=2"))
    assert shares == {"page[size]": [("page[size]", "10")]}
    assert unknown == ["page[number]"]


# --- content parameters and cookies -------------------------------------------------------


def test_content_parameters_are_json_decoded() -> None:
    problems: list[Any] = []
    raw = q('filter={"status": ["open"], "n": 1}')
    assert deserialize_content("filter", "query", "application/json", raw, problems) == {
        "status": ["open"],
        "n": 1,
    }
    assert deserialize_content("x", "header", "application/vnd.x+json", "[1, 2]", problems) == [
        1,
        2,
    ]
    assert deserialize_content("x", "header", "text/plain", "[1", problems) == "[1"
    assert deserialize_content("filter", "query", "application/json", [], problems) is ABSENT
    assert problems == []
    assert (
        deserialize_content("filter", "query", "application/json", q("filter={bad"), problems)
        is MALFORMED
    )
    assert problems[0].meta == {"location": "query", "pointer": "/filter", "keyword": "json"}
    assert "must be JSON" in problems[0].description
    deep = "[" * 100 + "]" * 100
    assert deserialize_content("x", "header", "application/json", deep, problems) is MALFORMED
    assert problems[1].meta["keyword"] == "maxDepth"


def test_cookie_header_is_parsed_like_a_browser_sends_it() -> None:
    header = 'session=abc; theme="dark"; flag; empty=; spaced = x ;=nameless; session=second'
    assert parse_cookie_header(header) == [
        ("session", "abc"),
        ("theme", "dark"),
        ("empty", ""),
        ("spaced", "x"),
        ("session", "second"),
    ]
    assert parse_cookie_header(None) == []
    assert parse_cookie_header("") == []
    problems: list[Any] = []
    cookies = parse_cookie_header("session=abc; limit=5")
    assert deserialize("limit", "cookie", "form", True, {"type": "integer"}, cookies, problems) == 5


@pytest.mark.parametrize(
    "query",
    [
        "limit=100",
        "a=1&b=2",
        "a=&b",
        "a=1&&b=2&",
        "a=b=c",
        "=x",
        "a=1&a=2",
        "x=%41+b",
        "ü=1",
        "a;b=1",
    ],
)
def test_query_items_reads_a_query_as_parse_qsl_does(query: str) -> None:
    from urllib.parse import parse_qsl

    from mockserver.engine.limits import query_items

    problems: list[object] = []
    assert query_items(query.encode(), problems) == parse_qsl(query, keep_blank_values=True)  # type: ignore[arg-type]
    assert problems == []
