"""Limits on a request's size and shape: URL and header bytes, JSON nesting, NUL characters.

Each limit is a 400 ``SpecifiedBadRequest`` in Layer's envelope that names the limit, so hostile
or accidental input (a runaway query string, JSON nested thousands deep) never reaches the
validators or the behaviours.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl

import orjson

from ..errors import BadRequest, Problem
from .schemas import _escape

#: Deepest JSON nesting accepted in a body; real credit bodies need fewer than ten levels.
MAX_JSON_DEPTH = 64
#: NUL findings reported per request; the rest are summarised in the last entry.
_MAX_NUL_PROBLEMS = 20
#: The integers a request may hold: those JSON tools share (orjson's, and so the journal's,
#: snapshots' and webhooks'). orjson would read a larger one in a body as a float.
INTEGER_RANGE = (-(2**63), 2**64 - 1)


def check_request_head(
    raw_path: bytes,
    query_string: bytes,
    headers: Sequence[tuple[bytes, bytes]],
    max_url_bytes: int,
    max_header_bytes: int,
) -> None:
    """Raise a 400 if the URL or the headers are larger than the configured limits."""
    problems = []
    url_bytes = len(raw_path) + (len(query_string) + 1 if query_string else 0)
    if url_bytes > max_url_bytes:
        where = "path" if len(raw_path) > max_url_bytes else "query"
        problems.append(
            Problem(
                f"the URL is {url_bytes} bytes long; this sandbox accepts at most "
                f"{max_url_bytes} bytes of path and query string. Send fewer or shorter query "
                "parameters (page with cursor rather than listing ids).",
                {"location": where, "pointer": "", "keyword": "maxLength", "limit": max_url_bytes},
            )
        )
    # "name: value\r\n" for each
    header_bytes = sum(map(len, itertools.chain.from_iterable(headers))) + 4 * len(headers)
    if header_bytes > max_header_bytes:
        sizes = [(name, len(name) + len(value) + 4) for name, value in headers]
        largest, size = max(sizes, key=lambda pair: pair[1])
        name = largest.decode("latin-1").lower()
        problems.append(
            Problem(
                f"the request headers add up to {header_bytes} bytes; this sandbox accepts at "
                f"most {max_header_bytes}. The largest is {name} ({size} bytes): shorten it.",
                {
                    "location": "header",
                    "pointer": f"/{_escape(name)}",
                    "keyword": "maxLength",
                    "limit": max_header_bytes,
                },
            )
        )
    if problems:
        raise BadRequest(problems)


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """The JSON Pointer of the first value nested deeper than ``limit``, or None."""
    encoded = _compact_json(value)
    if encoded is not None and encoded.count(b"{") + encoded.count(b"[") <= limit:
        return None  # too few containers to nest that deep: no need to walk (the common case)
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, pointer, depth = stack.pop()
        if isinstance(node, dict):
            items: Iterable[tuple[str, Any]] = node.items()
        elif isinstance(node, list):
            items = ((str(i), item) for i, item in enumerate(node))
        else:
            continue
        if depth > limit:
            return pointer
        stack.extend((child, f"{pointer}/{_escape(key)}", depth + 1) for key, child in items)
    return None


def nul_problems(value: Any, location: str = "body") -> list[Problem]:
    """A problem for every string (or object key) of ``value`` that contains U+0000."""
    encoded = _compact_json(value)
    if encoded is not None and b"\\u0000" not in encoded:
        return []  # JSON escapes every NUL as \u0000: none there, none anywhere (no walk)
    found = sorted(p for p, leaf in _leaves(value) if isinstance(leaf, str) and "\x00" in leaf)
    problems = [
        Problem(
            f"{where(location, pointer)}: contains a NUL character (\\u0000), which no text "
            "field accepts; remove it.",
            {"location": location, "pointer": pointer, "keyword": "nul"},
        )
        for pointer in found[:_MAX_NUL_PROBLEMS]
    ]
    if len(found) > _MAX_NUL_PROBLEMS:
        problems.append(
            Problem(
                f"{location}: {len(found) - _MAX_NUL_PROBLEMS} more values contain a NUL "
                "character; remove NUL from every string.",
                {"location": location, "pointer": "", "keyword": "nul"},
            )
        )
    return problems


def _compact_json(value: Any) -> bytes | None:
    # Encoding runs in C and is far cheaper than walking the value in Python.
    try:
        return orjson.dumps(value)
    except TypeError:  # not JSON (or nested past orjson's limit): walk it
        return None


def where(location: str, pointer: str) -> str:
    """Where a value sits, as messages name it: ``body /a/0`` or ``query parameter limit``."""
    return f"body {pointer or '/'}" if location == "body" else f"{location} parameter {pointer[1:]}"


def query_items(query_string: bytes, problems: list[Problem]) -> list[tuple[str, str]]:
    """The query's (name, value) pairs, percent-decoded as UTF-8.

    A name or value that is not UTF-8 once decoded is a problem rather than a silent U+FFFD.
    """
    if not query_string:
        return []
    text = query_string.decode("latin-1")
    if text.isascii() and "%" not in text and "+" not in text:  # nothing to decode
        pieces = (piece.partition("=") for piece in text.split("&") if piece)
        return [(name, value) for name, _, value in pieces]
    items = []
    # latin-1 keeps every decoded byte as one code point, so the UTF-8 check sees real bytes.
    for raw_name, raw_value in parse_qsl(text, keep_blank_values=True, encoding="latin-1"):
        name, name_ok = _utf8(raw_name)
        value, value_ok = _utf8(raw_value)
        if not (name_ok and value_ok):
            what = "its value" if name_ok else "its name"
            problems.append(
                Problem(
                    f"query parameter {name!r}: {what} is not valid UTF-8 once percent-decoded; "
                    "percent-encode text as UTF-8.",
                    {"location": "query", "pointer": f"/{_escape(name)}", "keyword": "encoding"},
                )
            )
        items.append((name, value))
    return items


def _utf8(text: str) -> tuple[str, bool]:
    raw = text.encode("latin-1")
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), False


def huge_integers(value: Any) -> list[Problem]:
    """A problem for each integer in a JSON body outside ``INTEGER_RANGE``."""
    low, high = INTEGER_RANGE
    found = sorted(
        (pointer, leaf)
        for pointer, leaf in _leaves(value)
        if isinstance(leaf, int) and not low <= leaf <= high
    )
    return [
        Problem(
            f"{where('body', pointer)}: {leaf} is beyond the 64-bit integers the sandbox keeps "
            f"({low} to {high}); send a smaller integer.",
            {"location": "body", "pointer": pointer, "keyword": "integer"},
        )
        for pointer, leaf in found
    ]


def _leaves(value: Any) -> Iterator[tuple[str, Any]]:
    """Every scalar of a JSON value, and every object key (at its value's pointer), with its
    JSON Pointer."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, pointer = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                here = f"{pointer}/{_escape(key)}"
                yield here, key
                stack.append((child, here))
        elif isinstance(node, list):
            stack.extend((child, f"{pointer}/{i}") for i, child in enumerate(node))
        else:
            yield pointer, node
