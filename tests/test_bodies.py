"""Body media types (engine/bodies.py): matching, negotiation and decoding."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.engine.bodies import (
    FORM,
    MALFORMED,
    decode_body,
    media_type_matches,
    negotiate,
    schema_applies,
    select_request_media_type,
)


def decode(
    media_type: str, raw: bytes, schema: Any = None, encoding: Any = None
) -> tuple[Any, list[Any]]:
    problems: list[Any] = []
    value = decode_body(media_type, raw, schema, encoding, problems)
    return value, problems


def descriptions(problems: list[Any]) -> list[str]:
    return [p.description for p in problems]


# --- request media types ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "declared", "chosen"),
    [
        ("application/json", ["application/xml", "application/json"], "application/json"),
        ("Application/JSON; charset=UTF-8", ["application/json"], "application/json"),
        (
            "application/json; charset=utf-8",
            ["application/json", "application/json; charset=utf-8"],
            "application/json; charset=utf-8",
        ),
        ("application/merge-patch+json", ["application/json"], "application/json"),
        (
            "application/merge-patch+json",
            ["application/json", "application/merge-patch+json"],
            "application/merge-patch+json",
        ),
        (
            "application/vnd.api+json",
            ["*/*", "application/*", "application/json"],
            "application/json",
        ),
        ("application/pdf", ["*/*", "application/*"], "application/*"),
        ("image/png", ["application/*", "*/*"], "*/*"),
        ("text/csv", ["text/*"], "text/*"),
        ("application/vnd.x+json", ["application/*+json"], "application/*+json"),
        ("text/plain", ["application/json"], None),
        ("application/jsonx", ["application/json"], None),
        (None, ["application/json"], None),
        ("", ["*/*"], None),
        ("not a media type", ["*/*"], None),
    ],
)
def test_request_media_type_selection(
    content_type: str | None, declared: list[str], chosen: str | None
) -> None:
    assert select_request_media_type(content_type, declared) == chosen
    assert media_type_matches(content_type, declared[-1]) is (
        select_request_media_type(content_type, declared[-1:]) is not None
    )


@pytest.mark.parametrize(
    ("accept", "available", "chosen"),
    [
        (None, ["application/json", "text/csv"], "application/json"),
        ("", ["text/csv", "application/json"], "text/csv"),
        ("application/json", ["text/csv", "application/json"], "application/json"),
        (
            "text/csv;q=0.5, application/json;q=0.9",
            ["text/csv", "application/json"],
            "application/json",
        ),
        ("application/json;q=0, */*", ["application/json", "text/csv"], "text/csv"),
        ("*/*", ["application/xml", "application/json"], "application/xml"),
        (
            "application/*, application/json",
            ["application/xml", "application/json"],
            "application/json",
        ),
        ("application/*;q=0.5, text/csv;q=0.4", ["text/csv", "application/xml"], "application/xml"),
        ("text/*;q=0, text/csv", ["text/csv", "text/plain"], "text/csv"),
        ("text/html", ["application/json"], None),
        ("application/json;q=0", ["application/json"], None),
        ("application/json", ["application/problem+json"], "application/problem+json"),
        ("application/json, application/*;q=0", ["application/problem+json"], None),
        ("garbage, application/json;q=abc", ["text/csv"], "text/csv"),
        ("application/json", ["*/*"], "*/*"),
        (
            "application/json;version=2",
            ["application/json;version=1", "application/json;version=2"],
            "application/json;version=2",
        ),
    ],
)
def test_negotiation(accept: str | None, available: list[str], chosen: str | None) -> None:
    assert negotiate(accept, available) == chosen


def test_negotiation_with_nothing_available_is_a_406() -> None:
    assert negotiate("*/*", []) is None


# --- JSON ---------------------------------------------------------------------------------


def test_json_and_structured_suffix_bodies_are_parsed() -> None:
    assert decode("application/json", b'{"a": [1, 2.5, null]}') == ({"a": [1, 2.5, None]}, [])
    assert decode("application/merge-patch+json; charset=utf-8", b'{"a": null}') == (
        {"a": None},
        [],
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": 1', "the body is not valid JSON"),
        (b'{"a": "\xff"}', "byte 0xff at offset 7 is not valid UTF-8"),
        (b'{"a": NaN}', "NaN at offset 6 is not a JSON number"),
        (b"[" * 1000 + b"]" * 1000, "nested more than 64 levels deep"),
    ],
)
def test_bad_json_is_a_problem(raw: bytes, expected: str) -> None:
    value, problems = decode("application/json", raw)
    assert value is MALFORMED
    assert expected in problems[0].description
    assert problems[0].meta["location"] == "body"


def test_nul_characters_in_json_are_reported() -> None:
    value, problems = decode("application/json", b'{"name": "a\\u0000b"}')
    assert value == {"name": "a\x00b"}
    assert problems[0].meta == {"location": "body", "pointer": "/name", "keyword": "nul"}


# --- forms --------------------------------------------------------------------------------

STRIPE = {
    "type": "object",
    "properties": {
        "amount": {"type": "integer"},
        "capture": {"type": "boolean"},
        "metadata": {
            "anyOf": [
                {"type": "object", "additionalProperties": {"type": "string"}},
                {"type": "string", "enum": [""]},
            ]
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"price": {"type": "string"}, "quantity": {"type": "integer"}},
            },
        },
        "expand": {"type": "array", "items": {"type": "string"}},
        "payment_method_types": {"type": "array", "items": {"type": "string"}},
    },
}


def test_stripe_style_form_bodies_nest_by_brackets() -> None:
    raw = (
        b"amount=2000&capture=false&metadata[order_id]=6735&metadata[note]=a%20b"
        b"&items[0][price]=price_1&items[0][quantity]=2&items[1][price]=price_2"
        b"&expand[]=customer&expand[]=invoice&payment_method_types[0]=card"
    )
    value, problems = decode(FORM, raw, STRIPE)
    assert problems == []
    assert value == {
        "amount": 2000,
        "capture": False,
        "metadata": {"order_id": "6735", "note": "a b"},
        "items": [{"price": "price_1", "quantity": 2}, {"price": "price_2"}],
        "expand": ["customer", "invoice"],
        "payment_method_types": ["card"],
    }


def test_stripe_empty_string_unsets_and_out_of_order_indices_are_ordered() -> None:
    value, problems = decode(FORM, b"metadata=&items[1][price]=b&items[0][price]=a", STRIPE)
    assert problems == []
    assert value == {"metadata": "", "items": [{"price": "a"}, {"price": "b"}]}


def test_rack_style_list_of_objects_without_indices() -> None:
    raw = b"items[][price]=a&items[][quantity]=1&items[][price]=b&items[][quantity]=2"
    value, problems = decode(FORM, raw, STRIPE)
    assert problems == []
    assert value == {"items": [{"price": "a", "quantity": 1}, {"price": "b", "quantity": 2}]}


TWILIO = {
    "type": "object",
    "properties": {
        "To": {"type": "string"},
        "From": {"type": "string"},
        "Body": {"type": "string"},
        "MediaUrl": {"type": "array", "items": {"type": "string", "format": "uri"}},
        "ValidityPeriod": {"type": "integer"},
        "SendAsMms": {"type": "boolean"},
    },
    "required": ["To"],
}


def test_twilio_style_form_bodies_repeat_keys_for_arrays() -> None:
    raw = (
        b"To=%2B15558675310&From=%2B15017122661&Body=Hi+there&MediaUrl=https%3A%2F%2Fa.example%2F1.png"
        b"&MediaUrl=https%3A%2F%2Fa.example%2F2.png&ValidityPeriod=600&SendAsMms=true"
    )
    value, problems = decode(FORM, raw, TWILIO)
    assert problems == []
    assert value == {
        "To": "+15558675310",
        "From": "+15017122661",
        "Body": "Hi there",
        "MediaUrl": ["https://a.example/1.png", "https://a.example/2.png"],
        "ValidityPeriod": 600,
        "SendAsMms": True,
    }
    one, _ = decode(FORM, b"MediaUrl=https%3A%2F%2Fa.example%2F1.png", TWILIO)
    assert one == {"MediaUrl": ["https://a.example/1.png"]}


def test_form_values_that_do_not_coerce_stay_strings_for_the_validator() -> None:
    value, problems = decode(FORM, b"ValidityPeriod=&SendAsMms=yes&To=1", TWILIO)
    assert problems == []
    assert value == {"ValidityPeriod": "", "SendAsMms": "yes", "To": "1"}


def test_a_repeated_key_for_a_property_that_is_not_an_array_is_a_problem() -> None:
    _, problems = decode(FORM, b"To=1&To=2&Body=x", TWILIO)
    assert descriptions(problems) == ["form field 'To' was given 2 times; give it once."]
    assert problems[0].meta == {"location": "body", "pointer": "/To", "keyword": "duplicate"}


def test_form_without_a_schema_keeps_strings_and_lists_repeats() -> None:
    assert decode(FORM, b"a=1&a=2&b=&c[d]=3", None) == (
        {"a": ["1", "2"], "b": "", "c": {"d": "3"}},
        [],
    )


def test_encoding_object_styles_split_delimited_values() -> None:
    schema = {
        "type": "object",
        "properties": {
            "ids": {"type": "array", "items": {"type": "integer"}},
            "tags": {"type": "array", "items": {"type": "string"}},
            "point": {"type": "object", "properties": {"x": {"type": "integer"}}},
            "meta": {"type": "object"},
        },
    }
    encoding = {
        "ids": {"style": "form", "explode": False},
        "tags": {"style": "pipeDelimited"},
        "point": {"style": "form", "explode": False},
        "meta": {"contentType": "application/json"},
    }
    raw = b"ids=1,2,3&tags=a|b&point=x,5&meta=%7B%22k%22%3A%20%5B1%5D%7D"
    value, problems = decode(FORM, raw, schema, encoding)
    assert problems == []
    assert value == {"ids": [1, 2, 3], "tags": ["a", "b"], "point": {"x": 5}, "meta": {"k": [1]}}
    _, problems = decode(FORM, b"meta=%7Bbad", schema, encoding)
    assert "form field 'meta' is not valid JSON" in problems[0].description


def test_a_property_named_with_brackets_is_read_literally() -> None:
    schema = {
        "type": "object",
        "properties": {"filter[status]": {"type": "string"}, "n": {"type": "integer"}},
    }
    assert decode(FORM, b"filter%5Bstatus%5D=open&n=1", schema) == (
        {"filter[status]": "open", "n": 1},
        [],
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a[b=1", "form field 'a[b' has unbalanced brackets"),
        (b"a]b[=1", "form field 'a]b[' has unbalanced brackets"),
        (b"[x]=1", "form field '[x]' has unbalanced brackets"),
        (b"a[b]c=1", "form field 'a[b]c' has unbalanced brackets"),
        (b"a" + b"[b]" * 1000 + b"=1", "is nested 1001 levels deep; at most 64 are accepted"),
        (b"a=1&a[b]=2", "conflicts with another field for 'a'"),
        (b"a[]=1&a[b]=2", "conflicts with another field for 'a'"),
        (b"a=%FF", "form field 'a': its value is not valid UTF-8"),
        (b"%FF=1", "its name is not valid UTF-8"),
        (b"a=\xff", "the form body is not valid UTF-8: byte 0xff at offset 2"),
        (b"a=b%00c", "contains a NUL character"),
    ],
)
def test_hostile_form_bodies_are_problems_not_crashes(raw: bytes, expected: str) -> None:
    _, problems = decode(FORM, raw, {"type": "object"})
    assert any(expected in d for d in descriptions(problems)), descriptions(problems)


def test_many_bad_fields_are_summarised() -> None:
    raw = b"&".join(b"k%d[=1" % i for i in range(5000))
    _, problems = decode(FORM, raw, {"type": "object"})
    assert len(problems) == 21
    assert problems[-1].description.startswith("body: 4980 more problems like these")


def test_a_large_form_body_decodes() -> None:
    raw = b"&".join(b"metadata[k%d]=%d" % (i, i) for i in range(20_000)) + b"&amount=1"
    value, problems = decode(FORM, raw, STRIPE)
    assert problems == []
    assert len(value["metadata"]) == 20_000
    assert value["metadata"]["k19999"] == "19999"
    assert value["amount"] == 1


# --- multipart ----------------------------------------------------------------------------

UPLOAD = {
    "type": "object",
    "properties": {
        "purpose": {"type": "string"},
        "file": {"type": "string", "format": "binary"},
        "count": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "meta": {"type": "object", "properties": {"a": {"type": "integer"}}},
        "file_link_data": {"type": "object", "properties": {"create": {"type": "boolean"}}},
    },
}


def multipart(*parts: tuple[str, dict[str, str], bytes], boundary: str = "BOUNDARY") -> bytes:
    chunks = []
    for disposition, headers, data in parts:
        head = f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        chunks.append(head.encode() + b"\r\n" + data + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


MULTIPART = "multipart/form-data; boundary=BOUNDARY"
PNG = b"\x89PNG\r\n\x1a\n\x00\xff\xfe"


def test_multipart_with_a_file_a_json_part_and_text_fields() -> None:
    raw = multipart(
        ('name="purpose"', {}, b"dispute_evidence"),
        ('name="file"; filename="a.png"', {"Content-Type": "image/png"}, PNG),
        ('name="meta"', {"Content-Type": "application/json"}, b'{"a": 1}'),
        ('name="count"', {}, b"3"),
        ('name="tags"', {}, b"x"),
        ('name="tags"', {}, b"y"),
        ('name="file_link_data[create]"', {}, b"true"),
    )
    value, problems = decode(MULTIPART, raw, UPLOAD)
    assert problems == []
    assert value == {
        "purpose": "dispute_evidence",
        "file": PNG.decode("latin-1"),
        "meta": {"a": 1},
        "count": 3,
        "tags": ["x", "y"],
        "file_link_data": {"create": True},
    }
    assert value["file"].encode("latin-1") == PNG


def test_multipart_object_parts_default_to_json_and_binary_properties_keep_bytes() -> None:
    raw = multipart(('name="meta"', {}, b'{"a": 2}'), ('name="file"', {}, b"\xff\x00"))
    assert decode(MULTIPART, raw, UPLOAD) == ({"meta": {"a": 2}, "file": "\xff\x00"}, [])


@pytest.mark.parametrize(
    ("media_type", "raw", "expected"),
    [
        ("multipart/form-data", b"--x--\r\n", "needs its boundary parameter"),
        (
            MULTIPART,
            multipart(('name="purpose"', {}, b"x"))[:-12],
            "ends before its closing boundary",
        ),
        (MULTIPART, b"--OTHER\r\n\r\nx\r\n--OTHER--\r\n", "does not parse"),
        (
            MULTIPART,
            multipart(('filename="a"', {}, b"x")),
            "has no 'Content-Disposition: form-data; name=...'",
        ),
        (
            MULTIPART,
            multipart(('name="meta"', {"Content-Type": "application/json"}, b"{bad")),
            "multipart part 'meta' is not valid JSON",
        ),
        (
            MULTIPART,
            multipart(('name="purpose"', {}, b"\xff")),
            "part 'purpose' is not valid utf-8",
        ),
        (
            MULTIPART,
            multipart(('name="purpose"', {"Content-Type": "text/plain; charset=nope"}, b"x")),
            "charset 'nope'",
        ),
        (
            MULTIPART,
            multipart(('name="count"', {}, b"1"), ('name="count"', {}, b"2")),
            "multipart part 'count' was given 2 times",
        ),
        (MULTIPART, multipart(('name="purpose"', {}, b"a\x00b")), "contains a NUL character"),
    ],
)
def test_bad_multipart_bodies_are_problems(media_type: str, raw: bytes, expected: str) -> None:
    _, problems = decode(media_type, raw, UPLOAD)
    assert any(expected in d for d in descriptions(problems)), descriptions(problems)


def test_multipart_text_parts_honour_their_charset() -> None:
    raw = multipart(
        (
            'name="purpose"',
            {"Content-Type": "text/plain; charset=latin-1"},
            "café".encode("latin-1"),
        )
    )
    assert decode(MULTIPART, raw, UPLOAD) == ({"purpose": "café"}, [])


# --- text, binary, XML --------------------------------------------------------------------


def test_text_bodies_are_decoded_by_charset_and_coerced() -> None:
    assert decode("text/plain", "héllo".encode()) == ("héllo", [])
    assert decode("text/plain; charset=iso-8859-1", b"caf\xe9") == ("café", [])
    assert decode("text/plain", b"42", {"type": "integer"}) == (42, [])
    value, problems = decode("text/csv", b"a,b\n\xc3\x28")
    assert value is MALFORMED
    assert descriptions(problems) == [
        "the body is not valid utf-8: byte 0xc3 at offset 4; encode the text as utf-8 (or declare its charset)."
    ]


def test_binary_bodies_keep_every_byte() -> None:
    data = bytes(range(256))
    value, problems = decode(
        "application/octet-stream", data, {"type": "string", "format": "binary"}
    )
    assert problems == []
    assert isinstance(value, str)
    assert value.encode("latin-1") == data
    assert decode("image/png", PNG)[0] == PNG.decode("latin-1")


def test_xml_is_checked_for_well_formedness_only() -> None:
    assert decode("application/xml", b"<a><b>1</b></a>") == ("<a><b>1</b></a>", [])
    assert schema_applies("application/xml") is False
    assert schema_applies("application/atom+xml") is False
    assert schema_applies("application/json") is True
    value, problems = decode("text/xml", b"<a><b></a>")
    assert value is MALFORMED
    assert descriptions(problems) == ["the body is not well-formed XML (line 1, column 9); fix it."]


def test_xml_entities_are_never_expanded() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>'
    value, problems = decode("application/xml", bomb)
    assert value is MALFORMED
    assert "declares entities or external references" in problems[0].description
    external = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    assert decode("application/xml", external)[0] is MALFORMED
