"""``allOf`` folded into one schema: what a generator builds its plan from.

Bounds take the tighter value, types and enums intersect, properties and required lists unite
(a property in both becomes the ``allOf`` of its two schemas), and a closed member's
``additionalProperties`` applies to the properties other members add. What cannot be folded
(a second pattern, format, ``not`` or ``anyOf``) is reported, so values get checked against the
original schema instead.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

#: Keywords that say nothing about which values are valid.
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "example",
        "examples",
        "readOnly",
        "writeOnly",
        "deprecated",
        "xml",
        "discriminator",
        "externalDocs",
        "$comment",
        "$schema",
        "$id",
        "$defs",
        "$anchor",
        "contentMediaType",
        "contentEncoding",
    }
)


_MAX_OF = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains")
_MIN_OF = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains")
_BOTH_OF = ("items", "contains", "propertyNames", "unevaluatedItems", "unevaluatedProperties")


def merge_into(
    acc: dict[str, Any], schema: Any, resolve: Callable[[str], Any], refs: tuple[str, ...] = ()
) -> bool:
    """Fold ``schema``, its ``$ref`` and its ``allOf`` into ``acc``.

    Returns whether some constraint could not be folded in: then values are checked against the
    original schema and retried.
    """
    if schema is True:
        return False
    if schema is False or not isinstance(schema, dict):
        acc["__false__"] = True
        return False
    residual = False
    own = {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}
    residual |= _merge_keywords(acc, own)
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref in refs:
            residual = True
        else:
            residual |= merge_into(acc, resolve(ref), resolve, (*refs, ref))
    for member in schema.get("allOf", ()):
        residual |= merge_into(acc, member, resolve, refs)
    return residual


def _merge_keywords(acc: dict[str, Any], schema: dict[str, Any]) -> bool:
    residual = False
    if acc and ("additionalProperties" in schema or "additionalProperties" in acc):
        schema = dict(schema)
        _restrict_properties(acc, schema)
        _restrict_properties(schema, acc)
    for key, value in schema.items():
        if key not in acc:
            acc[key] = value
            continue
        old = acc[key]
        if key in _MAX_OF:
            acc[key] = max(old, value)
        elif key in _MIN_OF:
            acc[key] = min(old, value)
        elif key == "type":
            acc[key] = _intersect_types(old, value)
        elif key == "required":
            acc[key] = list(dict.fromkeys([*old, *value]))
        elif key in ("properties", "patternProperties", "dependentSchemas"):
            acc[key] = _merge_maps(old, value)
        elif key == "dependentRequired":
            acc[key] = {
                k: list(dict.fromkeys([*old.get(k, []), *value.get(k, [])]))
                for k in {**old, **value}
            }
        elif key == "additionalProperties" or key in _BOTH_OF:
            acc[key] = both(old, value)
        elif key == "prefixItems":
            longest = max(len(old), len(value))
            acc[key] = [both(*(s[i] for s in (old, value) if i < len(s))) for i in range(longest)]
        elif key == "enum":
            keys = {freeze(v) for v in value}
            acc[key] = [v for v in old if freeze(v) in keys]
        elif key == "uniqueItems" or key in ("readOnly", "writeOnly"):
            acc[key] = bool(old or value)
        elif key == "multipleOf":
            acc[key] = _lcm(old, value)
        elif key in ANNOTATIONS:
            continue
        elif freeze(old) != freeze(value):
            residual = True  # a second pattern, format, const, not, anyOf, ...: checked
    return residual


def _restrict_properties(acc: dict[str, Any], other: dict[str, Any]) -> None:
    """Properties ``other`` adds are checked by ``acc``'s additionalProperties (and vice versa)."""
    extra = acc.get("additionalProperties", True)
    if extra is True or "properties" not in other:
        return
    known = acc.get("properties", {})
    patterns = list(acc.get("patternProperties", {}))
    changed = {}
    for name, prop in other["properties"].items():
        if name not in known and not any(re.search(p, name) for p in patterns):
            changed[name] = both(prop, extra)
    if changed:
        other["properties"] = {**other["properties"], **changed}


def _merge_maps(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for key, value in new.items():
        out[key] = both(out[key], value) if key in out else value
    return out


def both(a: Any, b: Any) -> Any:
    if a is True or a == {}:
        return b
    if b is True or b == {}:
        return a
    if a is False or b is False:
        return False
    return {"allOf": [a, b]}


def _intersect_types(a: Any, b: Any) -> list[str]:
    left = [a] if isinstance(a, str) else list(a)
    right = {b} if isinstance(b, str) else set(b)
    out = []
    for kind in left:
        if kind in right:
            out.append(kind)
        elif {kind, *right} >= {"number", "integer"}:  # every integer is a number
            out.append("integer")
    return list(dict.fromkeys(out))


def _lcm(a: Any, b: Any) -> Any:
    fa, fb = Fraction(str(a)), Fraction(str(b))
    num = math.lcm(fa.numerator, fb.numerator)
    den = math.gcd(fa.denominator, fb.denominator)
    result = Fraction(num, den)
    return int(result) if result.denominator == 1 else float(result)


def freeze(value: Any) -> str:
    """A key equal for values JSON Schema calls equal (1 and 1.0 alike, true and 1 not)."""
    return json.dumps(_tagged(value), sort_keys=True, default=repr)


def _tagged(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return [type(value).__name__, value]
    if isinstance(value, int | float):
        return ["n", float(value) if abs(value) < 2**53 else str(value)]
    if isinstance(value, dict):
        return {k: _tagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tagged(v) for v in value]
    return value
