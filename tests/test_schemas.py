"""The fast validator (jsonschema-rs) and the detailed one (jsonschema) always agree.

Every request and response is first checked by the compiled fast validator; jsonschema only
explains what it rejects. So the fast path must never accept what jsonschema rejects, and for
the custom formats it must give exactly the same verdict, on tricky values too.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver import load_spec
from mockserver.config import BUILTIN_CONTROL_SPEC, BUILTIN_SPEC
from mockserver.engine.schemas import Validator, _violations, is_uuid

UUIDS = [
    "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "3C90C3CC-0D44-4B50-8888-8DD25736052A",
    "3c90c3cc-0d44-4b50-8888-8dd25736052a\n",  # Python's $ matches before a final newline
    "\n3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "3c90c3cc0d444b5088888dd25736052a",
    "{3c90c3cc-0d44-4b50-8888-8dd25736052a}",
    "urn:uuid:3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "3c90c3cc-0d44-4b50-8888-8dd25736052g",
    "3c90c3cc-0d44-4b50-8888-8dd25736052",
    "3c90c3cc-0d44-4b50-8888-8dd25736052aa",
    "\uff13c90c3cc-0d44-4b50-8888-8dd25736052a",  # fullwidth digit three
    "",
]
DATES = [
    "2024-01-31",
    "2024-02-29",  # leap day
    "2023-02-29",
    "2100-02-29",  # not a leap year
    "2000-02-29",
    "2024-04-31",
    "2024-06-30",
    "2024-12-31",
    "2024-13-01",
    "2024-00-10",
    "2024-01-00",
    "0000-01-01",
    "0001-01-01",
    "0999-12-31",
    "9999-12-31",
    "2024-1-01",
    "2024-01-01\n",
    "2024-01-01T00:00:00Z",
    "\uff12\uff10\uff12\uff14-01-01",  # fullwidth digits
    "\u0662\u0660\u0662\u0664-\u0660\u0661-\u0660\u0661",  # Arabic-Indic: Python's \d matches
    "20240101",
    "",
]
DATE_TIMES = [
    "2024-01-31T09:30:00Z",
    "2024-01-31t09:30:00z",
    "2024-01-31T09:30:00.5Z",
    "2024-01-31T09:30:00.123456Z",
    "2024-01-31T09:30:00.123456789Z",
    "2024-01-31T09:30:00.1234567890123Z",
    "2024-01-31T09:30:00+05:30",
    "2024-01-31T09:30:00-00:00",
    "2024-01-31T09:30:00+23:59",
    "2024-01-31T09:30:00+24:00",
    "2024-01-31T09:30:00+05:60",
    "2024-02-29T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2024-04-31T00:00:00Z",
    "2024-01-31T24:00:00Z",
    "2024-01-31T23:60:00Z",
    "2024-01-31T23:59:60Z",  # leap second
    "2024-01-31 09:30:00Z",
    "2024-01-31T09:30:00",
    "2024-01-31T09:30Z",
    "2024-01-31T09:30:00.Z",
    "2024-01-31T09:30:00Z\n",
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "0001-01-01T00:00:00-01:00",
    "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
    "9999-12-31T23:59:59Z",
    "0999-06-01T12:00:00Z",
    "2024-01-31",
    "",
]
INTEGERS: list[Any] = [
    0,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    10**30,
    True,
    1.0,
    2.0**31,
    2.0**63,
    1e30,
    -1e30,
    1.5,
]
OTHERS: list[Any] = [None, 5, 1.5, True, [], {}, "x"]


def agree(schema: dict[str, Any], value: Any) -> None:
    validator = Validator(schema)
    detailed = validator.detailed()
    fast = validator.accepts_fast(value)
    assert not (fast and not detailed.is_valid(value)), (schema, value)
    assert validator.is_valid(value) == detailed.is_valid(value), (schema, value)
    expected = sorted(
        (v for error in detailed.iter_errors(value) for v in _violations(error)),
        key=lambda v: v.pointer,
    )
    assert validator.violations(value) == expected, (schema, value)


@pytest.mark.parametrize(
    ("fmt", "values"),
    [("uuid", UUIDS), ("date", DATES), ("date-time", DATE_TIMES)],
)
def test_string_formats_give_the_detailed_verdict_on_the_fast_path(
    fmt: str, values: list[Any]
) -> None:
    validator = Validator({"format": fmt})
    for value in [*values, *OTHERS]:
        # The same verdict, not only a stricter one: valid values never take the slow path.
        # The one exception is a uuid followed by a newline (Python's "$" admits it, Rust's
        # does not), which jsonschema then accepts on the slow path.
        slow = fmt == "uuid" and isinstance(value, str) and value.endswith("\n") and is_uuid(value)
        assert validator.accepts_fast(value) == (validator.detailed().is_valid(value) and not slow)
        agree({"format": fmt}, value)
        agree({"type": ["string", "null"], "format": fmt, "maxLength": 40}, value)


@pytest.mark.parametrize("fmt", ["int32", "int64"])
def test_integer_formats_never_accept_what_the_detailed_validator_rejects(fmt: str) -> None:
    for value in [*INTEGERS, *OTHERS]:
        agree({"format": fmt}, value)
        agree({"type": "integer", "format": fmt, "minimum": 0}, value)
        agree({"type": ["integer", "null"], "format": fmt}, value)


def test_keywords_next_to_a_format_keep_their_own_meaning() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "when"],
        "properties": {
            "id": {"type": "string", "format": "uuid", "pattern": "^3c"},
            "when": {"anyOf": [{"type": "null"}, {"type": "string", "format": "date-time"}]},
            "count": {"type": "integer", "format": "int32", "maximum": 10},
            "format": {"type": "string", "enum": ["a", "b"]},  # a property named like a keyword
        },
    }
    good = {"id": UUIDS[0], "when": DATE_TIMES[0], "count": 3, "format": "a"}
    assert Validator(schema).accepts_fast(good)
    for value in [
        good,
        {**good, "id": "4c90c3cc-0d44-4b50-8888-8dd25736052a"},
        {**good, "id": UUIDS[2]},
        {**good, "when": None},
        {**good, "when": "2023-02-29T00:00:00Z"},
        {**good, "count": 11},
        {**good, "count": 2**31},
        {**good, "format": "c"},
        {**good, "extra": 1},
        {"when": 5},
        [],
    ]:
        agree(schema, value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.from_regex(
        r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?"
        r"([Zz]|[+-][0-9]{2}:[0-9]{2})?)?\n?\Z"
    )
)
def test_generated_dates_and_times_get_one_verdict(value: str) -> None:
    for fmt in ("date", "date-time"):
        validator = Validator({"format": fmt})
        assert validator.accepts_fast(value) == validator.detailed().is_valid(value), value


def test_every_validator_of_the_built_in_documents_compiles_for_the_fast_path() -> None:
    for path in (BUILTIN_SPEC, BUILTIN_CONTROL_SPEC):
        for op in load_spec(path).operations:
            validators = [p.validator for p in op.parameters]
            validators += list(op.body.media_types.values()) if op.body else []
            validators += [v for r in op.responses.values() for v in r.media_types.values()]
            for validator in validators:
                assert validator.fast_compiled, (op.operation_id, validator.schema)


def test_jsonschema_is_imported_without_compiling_the_iri_grammar_until_an_iri_is_checked() -> None:
    # A fresh interpreter: the first invalid example of a document imports jsonschema, whose
    # import compiled rfc3987_syntax's grammar (1.8 s of start-up) before the sandbox deferred it.
    program = """
import sys
from mockserver.engine.schemas import Validator
v = Validator({"type": "string"})
assert v.violations(1)
assert "jsonschema" in sys.modules and "rfc3987_syntax" not in sys.modules
import jsonschema
checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
assert checker.conforms("http://example.com/ü", "iri")
assert not checker.conforms("not an iri", "iri")
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False
    )
    assert out.stdout.strip() == "ok", out.stderr


_PAGE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["data", "meta"],
    "properties": {
        "data": {"type": "array", "items": {"$ref": "#/$defs/Pet"}},
        "meta": {
            "type": "object",
            "required": ["total"],
            "properties": {"total": {"type": "integer"}},
        },
    },
    "$defs": {
        "Pet": {
            "type": "object",
            "required": ["id", "born"],
            "properties": {"id": {"type": "integer"}, "born": {"type": "string", "format": "date"}},
        }
    },
}


def test_a_list_checked_item_by_item_gives_the_same_verdicts_as_a_whole_check() -> None:
    validator = Validator(_PAGE)
    pets = [{"id": n, "born": "2020-01-0" + str(n)} for n in range(1, 6)]
    page = {"data": pets, "meta": {"total": 5}}
    assert validator.violations(page) == []
    assert len(validator._items.passed) == 5  # type: ignore[union-attr]  # checked one by one
    assert validator.violations(page) == []  # again, every item remembered
    # A remembered item changed in place is checked again: its bytes differ.
    pets[2]["born"] = "2020-02-30"
    assert [v.pointer for v in validator.violations(page)] == ["/data/2/born"]
    pets[2]["born"] = "2020-02-03"
    # The envelope is still checked in full around remembered items.
    assert [v.pointer for v in validator.violations({"data": pets, "meta": {}})] == ["/meta/total"]
    assert [v.keyword for v in validator.violations({**page, "extra": 1})] == [
        "additionalProperties"
    ]
    # A list of the right items as a body of the wrong shape.
    assert validator.violations(pets) != []


def test_a_list_whose_items_are_checked_together_is_checked_whole() -> None:
    unique = Validator({"type": "array", "uniqueItems": True, "items": {"type": "integer"}})
    assert unique.violations([1, 2, 3]) == []
    assert [v.keyword for v in unique.violations([1, 2, 1])] == ["uniqueItems"]
    at_most = Validator(
        {"type": "object", "properties": {"data": {"type": "array", "maxItems": 2}}}
    )
    assert at_most.violations({"data": [1, 2]}) == []
    assert [v.keyword for v in at_most.violations({"data": [1, 2, 3]})] == ["maxItems"]


@pytest.mark.parametrize(
    ("items", "good", "bad"),
    [
        ({"type": "string", "format": "date"}, ["2024-01-01", "2024-01-02"], ["2024-01-01", 5]),
        ({"type": ["string", "null"]}, ["a", None, "b"], ["a", None, 1]),
        (
            {"type": ["object", "null"], "properties": {"a": {"type": "integer"}}},
            [{"a": 1}, None, {"a": 2}],
            [{"a": 1}, {"a": "x"}],
        ),
    ],
)
def test_a_list_inside_an_object_is_judged_the_same_whatever_its_items(
    items: dict[str, object], good: list[object], bad: list[object]
) -> None:
    from mockserver.engine.schemas import Validator

    validator = Validator(
        {"type": "object", "properties": {"values": {"type": "array", "items": items}}}
    )
    for _ in range(2):  # the second time, items that passed may be remembered
        assert validator.is_valid({"values": good})
        assert not validator.is_valid({"values": bad})
        assert validator.violations({"values": bad})[0].pointer.startswith("/values/")


_ITEM = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "tags": {"type": "array"},
    },
    "required": ["id"],
}
_ITEMS = st.lists(
    st.fixed_dictionaries(
        {"id": st.integers(-(2**63), 2**63 - 1)},
        optional={
            "name": st.text(),
            "tags": st.lists(st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False))),
        },
    ),
    min_size=2,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(items=_ITEMS, cursor=st.one_of(st.none(), st.text()))
def test_a_list_page_checked_item_by_item_encodes_as_orjson_does(
    items: list[dict[str, Any]], cursor: str | None
) -> None:
    from mockserver.engine.schemas import judged_json

    envelope = Validator(
        {
            "type": "object",
            "properties": {"data": {"type": "array", "items": _ITEM}, "cursor": {}},
            "required": ["data"],
        }
    )
    page = {"cursor": cursor, "data": items, "after": 1}
    for _ in range(2):  # the second time, every item is remembered
        assert envelope.is_valid(page)
        assert judged_json(page) == orjson.dumps(page)
        assert judged_json(page) is None  # once per check
    # The stand-in for the list, found elsewhere in the page: no splice, the caller encodes.
    page["after"] = "\ue000judged list\ue001"
    assert envelope.is_valid(page)
    assert judged_json(page) is None
    bare = Validator({"type": "array", "items": _ITEM})
    assert bare.is_valid(items)
    assert judged_json(items) == orjson.dumps(items)


def test_only_the_latest_check_of_a_page_encodes_it() -> None:
    from mockserver.engine.schemas import judged_json

    validator = Validator({"type": "array", "items": _ITEM})
    page = [{"id": 1}, {"id": 2}]
    assert validator.is_valid(page)
    assert Validator({"type": "string"}).is_valid("another check")
    assert judged_json(page) is None  # another check came between
    assert validator.is_valid(page)
    page.append({"id": 3})  # changed after its check: the list no longer matches its items
    assert judged_json(page) is None
