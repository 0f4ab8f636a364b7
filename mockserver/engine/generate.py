"""Response and request bodies from a document alone: its examples, else data made from the schema.

``generate`` makes a value valid against a JSON Schema (2020-12, as the engine converts OpenAPI
schemas), the same for the same schema and seed: const, the first valid enum value, example,
examples or default where the document gives one, else synthetic data (Prism's dynamic mode).
``examples`` chooses a Media Type Object's example (Prism's static mode) and renders values
for XML and text media types.

Each schema object is compiled once into a plan (kept per root schema, keyed by ``id``), so a
generated body costs a walk over the plan, plus one compiled validity check of the result.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any, Literal

import jsonschema_rs

from .fakes import FORMATS, fit, words
from .merge import ANNOTATIONS, both, freeze, merge_into
from .patterns import string_matching

Direction = Literal["response", "request"]


class GenerationError(ValueError):
    """No valid value found: the schema is unsatisfiable, or beyond what the generator solves."""


def generate(
    schema: Mapping[str, Any] | bool,
    *,
    seed: int | str = 0,
    direction: Direction = "response",
    max_depth: int = 6,
) -> Any:
    """A value valid against ``schema``, the same for the same schema and seed.

    Responses leave out optional ``writeOnly`` properties, requests optional ``readOnly`` ones.
    Past ``max_depth`` nested objects and arrays, only what the schema requires is generated.
    Raises ``GenerationError`` when no valid value is found.
    """
    node = schema_node(schema)
    error: GenerationError | None = None
    for attempt in range(3):
        rng = random.Random(seed if attempt == 0 else f"{seed!r}/{attempt}")
        try:
            value = _Run(rng, direction, max_depth).value(node, 0, False)
        except GenerationError as exc:
            error = exc
            continue
        if node.valid(value):
            return value
        error = GenerationError(
            f"the generated value {_short(value)} is not valid against the schema"
        )
    assert error is not None
    raise error


def schema_node(schema: Mapping[str, Any] | bool) -> SchemaNode:
    """``schema`` compiled (once per schema object) for generation and rendering."""
    root = _root_of(schema)
    return root.node(root.schema)


# --- compiled schemas -------------------------------------------------------------------

_ANY_TYPES = ("string", "integer", "number", "boolean", "object", "array", "null")
_OBJECT_KEYS = frozenset(
    {
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "dependentRequired",
        "dependentSchemas",
    }
)
_ARRAY_KEYS = frozenset({"items", "prefixItems", "minItems", "maxItems", "contains", "uniqueItems"})
_STRING_KEYS = frozenset({"minLength", "maxLength", "pattern"})
_NUMBER_KEYS = frozenset(
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
)
#: Keywords whose effect the plan does not build in: values are checked against them and retried.
_CHECKED_KEYS = frozenset(
    {
        "not",
        "if",
        "dependentSchemas",
        "unevaluatedProperties",
        "unevaluatedItems",
        "contains",
        "propertyNames",
        "uniqueItems",
    }
)
_INT_FORMATS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_ROOTS: dict[int, _Root] = {}
_ROOTS_LIMIT = 512
#: Optional properties generated per object, at most (required ones always are).
_MAX_OPTIONAL = 64
_MAX_ATTEMPTS = 6


def _root_of(schema: Mapping[str, Any] | bool) -> _Root:
    if isinstance(schema, bool):
        return _Root(schema)
    if not isinstance(schema, dict):
        schema = json.loads(json.dumps(schema, default=dict))
    root = _ROOTS.get(id(schema))
    if root is None or root.schema is not schema:
        if len(_ROOTS) >= _ROOTS_LIMIT:
            _ROOTS.clear()
        root = _ROOTS[id(schema)] = _Root(schema)
    return root


class _Root:
    """One schema document: its ``$defs`` and a compiled node per schema object in it."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        defs = schema.get("$defs") if isinstance(schema, dict) else None
        self.defs: dict[str, Any] = defs if isinstance(defs, dict) else {}
        self.nodes: dict[int, SchemaNode] = {}

    def node(self, schema: Any) -> SchemaNode:
        found = self.nodes.get(id(schema))
        if found is None or found.schema is not schema:
            found = self.nodes[id(schema)] = SchemaNode(self, schema)
        return found

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise GenerationError(f"$ref {ref!r} is not local to the schema")
        target: Any = self.schema
        for token in ref[1:].split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            try:
                target = target[int(token)] if isinstance(target, list) else target[token]
            except (KeyError, IndexError, ValueError, TypeError):
                raise GenerationError(f"$ref {ref!r} points at nothing") from None
        return target


class SchemaNode:
    """A schema object compiled for generation; parts are built on first use."""

    def child(self, schema: Any) -> SchemaNode:
        """The compiled node of a schema inside this one's document."""
        return self.root.node(schema)

    def __init__(self, root: _Root, schema: Any) -> None:
        self.root = root
        self.schema = schema
        self._check: Callable[[Any], bool] | None = None
        self.ref: str | None = None
        self.merged: dict[str, Any] = {}
        self.checked = False
        self.presets: list[Any] = []
        self.pinned = False
        self.types: tuple[str, ...] = ()
        self._branches: list[tuple[SchemaNode, Any]] | None = None
        self._choices: list[Any] = []
        self._base: dict[str, Any] = {}
        self.one_of = False
        self.conditional: list[SchemaNode] = []
        self._plans: dict[str, Any] = {}
        self._escapes: bool | None = None
        self._type_escapes: bool | None = None
        self.emit: Any = _UNSET
        if isinstance(schema, bool):
            self.types = _ANY_TYPES if schema else ()
            return
        keys = set(schema) - ANNOTATIONS
        if keys == {"$ref"}:
            self.ref = schema["$ref"]
        else:
            self._compile(schema)
        self._find_presets(schema)

    @property
    def has_branches(self) -> bool:
        return bool(self._choices)

    def branches(self) -> list[tuple[SchemaNode, Any]]:
        """Each anyOf/oneOf branch combined with the rest of the schema, and the branch itself."""
        if self._branches is None:
            base = self._base
            self._branches = [
                (self.root.node({"allOf": [base, b]} if base else b), b) for b in self._choices
            ]
        return self._branches

    @property
    def is_false(self) -> bool:
        return self.schema is False or "__false__" in self.merged

    def target(self) -> SchemaNode:
        assert self.ref is not None
        return self.root.node(self.root.resolve(self.ref))

    def valid(self, value: Any) -> bool:
        if self._check is None:
            self._check = _validity_check(self.root, self.schema)
        return self._check(value)

    def _compile(self, schema: dict[str, Any]) -> None:
        merged: dict[str, Any] = {}
        residual = merge_into(merged, schema, self.root.resolve)
        self.merged = merged
        self.checked = residual or any(key in merged for key in _CHECKED_KEYS)
        if "pattern" in merged and "format" in merged:
            self.checked = True
        self.types = _types_of(merged)
        base = {k: v for k, v in merged.items() if k not in ("anyOf", "oneOf")}
        if "oneOf" in merged or "anyOf" in merged:
            self.one_of = "oneOf" in merged
            choices = merged["oneOf"] if self.one_of else merged["anyOf"]
            if self.one_of and "anyOf" in merged:
                base["anyOf"] = merged["anyOf"]
            self._choices = [b for b in choices if b is not False]
            self._base = base
            self._branches = None if self._choices else []
        elif "if" in merged:
            rest = {k: v for k, v in merged.items() if k not in ("if", "then", "else")}
            then = [merged["if"], merged.get("then", True)]
            options = [{"allOf": [rest, *then]}, {"allOf": [rest, merged.get("else", True)]}, rest]
            self.conditional = [self.root.node(o) for o in options]

    def _find_presets(self, schema: dict[str, Any]) -> None:
        candidates: list[Any] = []
        if "const" in schema:
            candidates.append(schema["const"])
        if isinstance(schema.get("enum"), list):
            candidates.extend(schema["enum"])
        self.pinned = bool(candidates) or "const" in self.merged or "enum" in self.merged
        if not self.pinned:
            if "example" in schema:
                candidates.append(schema["example"])
            if isinstance(schema.get("examples"), list):
                candidates.extend(schema["examples"])
            if "default" in schema:
                candidates.append(schema["default"])
        elif not candidates:
            candidates = [self.merged["const"]] if "const" in self.merged else []
            candidates += self.merged.get("enum", [])
        seen: set[str] = set()
        for value in candidates:
            key = freeze(value)
            if key not in seen and self.valid(value):
                seen.add(key)
                self.presets.append(value)

    def emitter(self) -> Callable[[random.Random], Any] | None:
        """A maker of this node's value when it needs no context: a preset or a plain scalar.

        Its values are the ones the full path would give, drawn in the same order.
        """
        if self.emit is _UNSET:
            self.emit = self._find_emitter()
        emit: Callable[[random.Random], Any] | None = self.emit
        return emit

    def _find_emitter(self) -> Callable[[random.Random], Any] | None:
        if self.presets:
            first = self.presets[0]
            if isinstance(first, dict | list):
                return lambda rng: _clone(first)
            return lambda rng: first
        plain = not (self.pinned or self.is_false or self.checked or self.conditional)
        if not plain or self.ref is not None or self.has_branches or not self.types:
            return None
        kind = self.types[0]
        if kind == "string":
            string_plan: _StringPlan = self.plan("string", _StringPlan)
            return string_plan.make
        if kind in ("integer", "number"):
            build = _NumberPlan.integer if kind == "integer" else _NumberPlan.number
            number_plan: _NumberPlan = self.plan(kind, build)
            return number_plan.pick
        if kind == "boolean":
            return _coin
        if kind == "null":
            return _nothing
        return None

    def plan(self, kind: str, build: Callable[[SchemaNode], Any]) -> Any:
        found = self._plans.get(kind)
        if found is None:
            found = self._plans[kind] = build(self)
        return found

    def escapes(self) -> bool:
        """Whether a value exists that follows no ``$ref`` (a way out of recursion)."""
        if self._escapes is None:
            self._escapes = False  # a cycle back here counts as no way out
            self._escapes = self._find_escape()
        return self._escapes

    def _find_escape(self) -> bool:
        if self.ref is not None:
            return False
        if self.presets:
            return True
        if self.has_branches:
            return any(node.escapes() for node, _ in self.branches())
        return "null" in self.types or self.type_escapes()

    def type_escapes(self) -> bool:
        """Whether the first type's smallest value follows no ``$ref``."""
        if self._type_escapes is None:
            self._type_escapes = False
            self._type_escapes = self._find_type_escape()
        return self._type_escapes

    def _find_type_escape(self) -> bool:
        kind = self.types[0] if self.types else "null"
        if kind == "object":
            plan: _ObjectPlan = self.plan("object", _ObjectPlan)
            return all(p.node.escapes() for p in plan.props if p.required) and all(
                n.escapes() for _, n in plan.extra_required
            )
        if kind == "array":
            arrays: _ArrayPlan = self.plan("array", _ArrayPlan)
            needed = arrays.prefix[: arrays.min_items]
            rest = arrays.min_items > len(arrays.prefix) and arrays.items is not None
            items = arrays.items
            return all(n.escapes() for n in needed) and (
                not rest or items is None or items.escapes()
            )
        return True


def _validity_check(root: _Root, schema: Any) -> Callable[[Any], bool]:
    if isinstance(schema, bool):
        return lambda value: schema
    document = schema
    if root.defs and "$defs" not in schema and _mentions_ref(schema):
        document = {**schema, "$defs": root.defs}
    try:
        fast = jsonschema_rs.Draft202012Validator(document, validate_formats=True)
    except Exception:  # a construct jsonschema-rs does not compile (a Python-only regex, say)
        import jsonschema

        slow = jsonschema.Draft202012Validator(
            document, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )

        def check_slow(value: Any) -> bool:
            try:
                return bool(slow.is_valid(value))
            except Exception:
                return False

        return check_slow

    def check(value: Any) -> bool:
        try:
            return bool(fast.is_valid(value))
        except Exception:  # not JSON: a YAML date in an example, say
            return False

    return check


def _mentions_ref(schema: Any) -> bool:
    if isinstance(schema, dict):
        return "$ref" in schema or any(_mentions_ref(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_mentions_ref(v) for v in schema)
    return False


def _types_of(merged: dict[str, Any]) -> tuple[str, ...]:
    declared = merged.get("type")
    if declared is not None:
        found = [declared] if isinstance(declared, str) else list(declared)
    else:
        keys = set(merged)
        fmt = merged.get("format")
        found = []
        if keys & _OBJECT_KEYS:
            found.append("object")
        if keys & _ARRAY_KEYS:
            found.append("array")
        if keys & _NUMBER_KEYS or fmt in ("int32", "int64", "float", "double"):
            found.append("integer" if fmt in _INT_FORMATS else "number")
        if keys & _STRING_KEYS or (isinstance(fmt, str) and not found):
            found.append("string")
        found += [t for t in _ANY_TYPES if t not in found]
    # The first non-null type is the one generated; null only when nothing else fits.
    return tuple([t for t in found if t != "null"] + [t for t in found if t == "null"])


# --- generation -------------------------------------------------------------------------


class _Run:
    def __init__(self, rng: random.Random, direction: Direction, max_depth: int) -> None:
        self.rng = rng
        self.skip_write_only = direction == "response"
        self.max_depth = max_depth
        self.vary = False
        self.hops = 0
        self.wide = False

    def value(self, node: SchemaNode, depth: int, shallow: bool) -> Any:
        if not self.vary:
            emit = node.emit if node.emit is not _UNSET else node.emitter()
            if emit is not None:
                return emit(self.rng)
        self.hops += 1
        try:
            return self._value(node, depth, shallow)
        finally:
            self.hops -= 1

    def _value(self, node: SchemaNode, depth: int, shallow: bool) -> Any:
        if depth > self.max_depth + 32 or self.hops > 400:
            raise GenerationError("the schema recurses without end (through required properties)")
        presets = node.presets
        if presets:
            if self.vary and len(presets) > 1:
                return _clone(self.rng.choice(presets))
            if not self.vary or node.pinned:
                return _clone(presets[0])
            # varying a value with a single example: synthesise one instead
        elif node.pinned:
            raise GenerationError("no value of the schema's const or enum is valid against it")
        if node.ref is not None:
            return self.value(node.target(), depth, shallow)
        if node.is_false:
            raise GenerationError("the schema accepts no value (false, or contradictory allOf)")
        if node.has_branches:
            return self._choose(node, depth, shallow)
        if node.conditional:
            for option in node.conditional:
                try:
                    candidate = self.value(option, depth, shallow)
                except GenerationError:
                    continue
                if node.valid(candidate):
                    return candidate
            raise GenerationError("no value satisfies the schema's if/then/else")
        types = node.types
        if not types:
            raise GenerationError("the schema's types exclude each other")
        if shallow and "null" in types and not node.type_escapes():
            return None
        if not node.checked:
            return self._synth(node, types[0], depth, shallow)
        wide = self.wide
        try:
            for attempt in range(_MAX_ATTEMPTS * 2):
                kind = types[(attempt // 2) % len(types)]
                self.wide = attempt % 2 == 1
                try:
                    candidate = self._synth(node, kind, depth, shallow)
                except GenerationError:
                    continue
                if node.valid(candidate):
                    return candidate
        finally:
            self.wide = wide
        raise GenerationError(f"no value found for the schema {_short(node.schema)}")

    def _choose(self, node: SchemaNode, depth: int, shallow: bool) -> Any:
        order = node.branches()
        if shallow or depth >= self.max_depth:
            order = sorted(order, key=lambda b: not b[0].escapes())
        disc = node.merged.get("discriminator")
        vary = self.vary
        try:
            for round_ in range(3):
                self.vary = vary or round_ == 1  # the second round tries other values
                # The last: required properties only, which tells apart branches that differ
                # by what they require (GitHub's validation error or rule violation: any
                # object with a message matches both, one without documentation_url only one).
                lean = shallow or round_ == 2
                for branch, raw in order:
                    found = self._try_branch(node, branch, raw, disc, depth, lean)
                    if found is not _NOTHING:
                        return found
        finally:
            self.vary = vary
        kind = "oneOf" if node.one_of else "anyOf"
        raise GenerationError(f"no value found that matches the schema's {kind}")

    def _try_branch(
        self, node: SchemaNode, branch: SchemaNode, raw: Any, disc: Any, depth: int, shallow: bool
    ) -> Any:
        try:
            candidate = self.value(branch, depth, shallow)
        except GenerationError:
            return _NOTHING
        if isinstance(disc, dict) and isinstance(candidate, dict):
            tag = _discriminator_tag(disc, raw, node.root)
            prop = disc.get("propertyName")
            if tag is not None and isinstance(prop, str):
                tagged = {**candidate, prop: tag}
                if node.valid(tagged):
                    return tagged
        return candidate if node.valid(candidate) else _NOTHING

    def _synth(self, node: SchemaNode, kind: str, depth: int, shallow: bool) -> Any:
        if kind == "object":
            return self._object(node, depth, shallow)
        if kind == "array":
            return self._array(node, depth, shallow)
        if kind == "string":
            string_plan: _StringPlan = node.plan("string", _StringPlan)
            return string_plan.make(self.rng)
        if kind in ("integer", "number"):
            plan: _NumberPlan = node.plan(
                kind, _NumberPlan.integer if kind == "integer" else _NumberPlan.number
            )
            return plan.pick(self.rng, self.wide)
        if kind == "boolean":
            return _coin(self.rng)
        return None

    def _object(self, node: SchemaNode, depth: int, shallow: bool) -> dict[str, Any]:
        plan: _ObjectPlan = node.plan("object", _ObjectPlan)
        shallow = shallow or depth >= self.max_depth
        budget = plan.max_props if plan.max_props is not None else 1 << 30
        chosen = {p.name for p in plan.props if p.required}
        spare: list[_Property] = []
        room = min(_MAX_OPTIONAL, budget - len(chosen) - len(plan.extra_required))
        for prop in plan.props:
            if prop.required or prop.node.is_false:
                continue
            skipped = prop.write_only if self.skip_write_only else prop.read_only
            if shallow or room <= 0 or skipped:
                spare.append(prop)
            else:
                chosen.add(prop.name)
                room -= 1
        for name, needed in plan.dependent_required.items():
            if name in chosen:
                chosen.update(n for n in needed if n in plan.by_name)
        out: dict[str, Any] = {}
        for prop in plan.props:
            if prop.name not in chosen:
                continue
            try:
                out[prop.name] = self.value(prop.node, depth + 1, shallow)
            except GenerationError:
                if prop.required:
                    raise
                # An optional property no value satisfies (a oneOf of two equal branches) is
                # left out, not the whole object with it.
        for name, extra in plan.extra_required:
            out[name] = self.value(extra, depth + 1, shallow)
        if plan.tag is not None:
            out[plan.tag[0]] = plan.tag[1]
        for prop in spare:
            if len(out) >= plan.min_props:
                break
            try:
                out[prop.name] = self.value(prop.node, depth + 1, shallow)
            except GenerationError:
                continue
        wanted = plan.min_props
        if not shallow and not plan.props and (plan.map_values is not None or plan.patterns):
            wanted = max(wanted, 1)
        for index in range(1, 1 + _MAX_ATTEMPTS * max(wanted, 1)):
            if len(out) >= min(wanted, budget):
                break
            key, value_node = self._extra_name(plan, node, index)
            if key is not None and key not in out:
                out[key] = self.value(value_node, depth + 1, shallow)
        return out

    def _extra_name(
        self, plan: _ObjectPlan, node: SchemaNode, index: int
    ) -> tuple[str | None, SchemaNode]:
        name: str | None = None
        if plan.names is not None:
            vary, self.vary = self.vary, index > 1
            try:
                picked = self.value(plan.names, 0, True)
            finally:
                self.vary = vary
            name = picked if isinstance(picked, str) else None
        elif plan.map_values is None and plan.patterns:
            regex = plan.patterns[index % len(plan.patterns)]
            name = string_matching(regex.pattern, self.rng, 1)
        else:
            name = f"additionalProp{index}"
        if name is None or name in plan.by_name:
            return None, node
        return name, plan.value_node(node.root, name)

    def _array(self, node: SchemaNode, depth: int, shallow: bool) -> list[Any]:
        plan: _ArrayPlan = node.plan("array", _ArrayPlan)
        shallow = shallow or depth >= self.max_depth
        if shallow or (plan.items is None and not plan.prefix):
            count = plan.min_items
        elif plan.prefix and plan.items is None:
            count = len(plan.prefix)
        else:
            count = self.rng.randint(1, 3) if depth < 2 else 1
        if plan.contains is not None:
            count = max(count, len(plan.prefix) + plan.min_contains)
        limit = plan.max_items if plan.max_items is not None else count
        if plan.items is None and plan.items_closed:
            limit = min(limit, len(plan.prefix))
        count = max(plan.min_items, min(count, limit))
        out: list[Any] = []
        seen: set[str] = set()
        contained = 0
        while len(out) < count:
            index = len(out)
            if index < len(plan.prefix):
                item_node = plan.prefix[index]
            elif plan.contains is not None and contained < plan.min_contains:
                item_node = plan.contains
                contained += 1
            elif plan.items is not None:
                item_node = plan.items
            else:
                item_node = plan.anything
            item = self.value(item_node, depth + 1, shallow)
            if plan.unique:
                item = self._distinct(item, item_node, seen, depth, shallow)
                if item is _NOTHING:
                    if len(out) >= plan.min_items:
                        break
                    raise GenerationError("too few distinct values for uniqueItems")
                seen.add(freeze(item))
            out.append(item)
        return out

    def _distinct(
        self, item: Any, item_node: SchemaNode, seen: set[str], depth: int, shallow: bool
    ) -> Any:
        if freeze(item) not in seen:
            return item
        vary, self.vary = self.vary, True
        try:
            for _ in range(_MAX_ATTEMPTS * 2):
                item = self.value(item_node, depth + 1, shallow)
                if freeze(item) not in seen:
                    return item
        finally:
            self.vary = vary
        return _NOTHING


_NOTHING: Any = object()
_UNSET: Any = object()


def _coin(rng: random.Random) -> bool:
    return rng.random() < 0.5


def _nothing(rng: random.Random) -> None:
    return None


class _Property:
    __slots__ = ("name", "node", "read_only", "required", "write_only")

    def __init__(self, name: str, node: SchemaNode, required: bool) -> None:
        self.name = name
        self.node = node
        self.required = required
        self.read_only = _annotated(node, "readOnly")
        self.write_only = _annotated(node, "writeOnly")


def _annotated(node: SchemaNode, key: str) -> bool:
    seen = 0
    while seen < 8:
        schema = node.schema
        if isinstance(schema, dict) and (schema.get(key) is True or node.merged.get(key) is True):
            return True
        if node.ref is None:
            return False
        node = node.target()
        seen += 1
    return False


class _ObjectPlan:
    def __init__(self, node: SchemaNode) -> None:
        merged, root = node.merged, node.root
        required = [r for r in merged.get("required", []) if isinstance(r, str)]
        properties: dict[str, Any] = merged.get("properties", {})
        self.patterns = [re.compile(p) for p in merged.get("patternProperties", {})]
        self._pattern_schemas = merged.get("patternProperties", {})
        extra = merged.get("additionalProperties", True)
        self.additional = extra
        # An explicit value schema makes a map: one entry is shown (``{}`` means free-form).
        self.map_values = extra if isinstance(extra, dict) and extra else None
        self.props = [
            _Property(name, root.node(self._property_schema(root, name, schema)), name in required)
            for name, schema in properties.items()
        ]
        self.by_name = {p.name: p for p in self.props}
        self._values: dict[str, SchemaNode] = {}
        self.extra_required = [
            (name, self.value_node(root, name)) for name in required if name not in self.by_name
        ]
        names = merged.get("propertyNames")
        self.names = root.node(names) if isinstance(names, dict) else None
        self.min_props = int(merged.get("minProperties", 0))
        self.max_props = merged.get("maxProperties")
        self.dependent_required: dict[str, list[str]] = merged.get("dependentRequired", {})
        self.tag = _inherited_tag(merged, self.by_name)

    def _property_schema(self, root: _Root, name: str, schema: Any) -> Any:
        matching = [s for p, s in self._pattern_schemas.items() if re.search(p, name)]
        if not matching:
            return schema
        return {"allOf": [schema, *matching]}

    def value_node(self, root: _Root, name: str) -> SchemaNode:
        """The schema of a property outside ``properties``: its patterns, else additional."""
        found = self._values.get(name)
        if found is None:
            matching = [s for p, s in self._pattern_schemas.items() if re.search(p, name)]
            schema = {"allOf": matching} if matching else self.additional
            found = self._values[name] = root.node(schema)
        return found


class _ArrayPlan:
    def __init__(self, node: SchemaNode) -> None:
        merged, root = node.merged, node.root
        self.prefix = [root.node(s) for s in merged.get("prefixItems", [])]
        items = merged.get("items")
        self.items_closed = items is False
        self.items = root.node(items) if items is not None and items is not False else None
        self.anything = root.node(True)
        contains = merged.get("contains")
        self.contains: SchemaNode | None = None
        self.min_contains = 0
        if contains is not None:
            self.min_contains = int(merged.get("minContains", 1))
            self.contains = root.node(both(items if items is not None else True, contains))
        self.min_items = int(merged.get("minItems", 0))
        self.max_items: int | None = merged.get("maxItems")
        self.unique = bool(merged.get("uniqueItems"))


class _StringPlan:
    def __init__(self, node: SchemaNode) -> None:
        merged = node.merged
        self.min_length = int(merged.get("minLength", 0))
        self.max_length: int | None = merged.get("maxLength")
        pattern = merged.get("pattern")
        self.pattern = pattern if isinstance(pattern, str) else None
        fmt = merged.get("format")
        self.format = fmt if isinstance(fmt, str) else None
        self.maker = FORMATS.get(self.format or "", words)
        self.fixed = self.min_length == 0 and self.max_length is None and self.pattern is None

    def make(self, rng: random.Random) -> str:
        if self.fixed:
            return self.maker(rng)
        if self.pattern is not None and self.format in FORMATS:
            # Both: a value of the format that happens to match, else one from the pattern.
            made = fit(self.maker(rng), self.format, rng, self.min_length, self.max_length)
            if re.search(self.pattern, made):
                return made
        if self.pattern is not None:
            found = string_matching(self.pattern, rng, self.min_length, self.max_length)
            if found is None:
                raise GenerationError(f"no string found matching the pattern {self.pattern!r}")
            return found
        return fit(self.maker(rng), self.format, rng, self.min_length, self.max_length)


class _NumberPlan:
    """The values a number may take: a window of multiples of a step within the bounds."""

    def __init__(self, low: Fraction, high: Fraction, step: Fraction | None, whole: bool) -> None:
        self.low, self.high, self.step, self.whole = low, high, step, whole
        self.multiple: Any = None
        self.bounds: tuple[Fraction | None, Fraction | None] = (None, None)
        #: For multiples: the first multiplier, how many, the step and its decimal places.
        self.quick: tuple[int, int, Any, int] | None = None
        self.check: Callable[[Any], bool] = lambda value: True

    @classmethod
    def integer(cls, node: SchemaNode) -> _NumberPlan:
        return cls._build(node, whole=True)

    @classmethod
    def number(cls, node: SchemaNode) -> _NumberPlan:
        return cls._build(node, whole=False)

    @classmethod
    def _build(cls, node: SchemaNode, whole: bool) -> _NumberPlan:
        merged = node.merged
        low, high = _bounds(merged, whole)
        multiple = merged.get("multipleOf")
        step = (
            Fraction(str(multiple)) if isinstance(multiple, int | float) and multiple > 0 else None
        )
        if whole and step is not None:
            step = Fraction(step.numerator)  # the least whole multiple of p/q is p
        elif whole:
            step = Fraction(1)
        plan = cls(*_window(low, high), step, whole)
        plan.bounds = (low, high)
        plan.multiple = multiple
        plan.check = _bound_check(merged)
        if step is not None:
            first, last = math.ceil(plan.low / step), math.floor(plan.high / step)
            digits = len(str(multiple).partition(".")[2]) if step.denominator != 1 else 0
            unit: Any = float(step) if digits else int(step)
            if first <= last and last - first < 2**40 and "e" not in str(multiple):
                plan.quick = (first, last - first + 1, unit, digits)
        return plan

    def pick(self, rng: random.Random, wide: bool = False) -> Any:
        quick = self.quick
        if quick is not None and not wide:  # multiples in the window, without fractions
            first, count, unit, digits = quick
            # Float steps: jsonschema divides and wants a whole quotient, which rounding denies
            # to about half of the decimals; a few draws find one.
            for _ in range(_MAX_ATTEMPTS if digits else 1):
                value = (first + int(rng.random() * count)) * unit
                if digits:
                    value = round(value, digits)
                if self.check(value) and (not digits or _is_multiple(value, self.multiple)):
                    return value
        low, high, step = self.low, self.high, self.step
        if wide:  # a retry: anywhere within the bounds, not only near zero
            lowest, highest = self.bounds
            low = lowest if lowest is not None else low - 10_000
            high = highest if highest is not None else high + 10_000
        if step is not None:
            first, last = math.ceil(low / step), math.floor(high / step)
            if first > last:  # no multiple near zero: the one nearest the window, if in bounds
                lowest, highest = self.bounds
                if highest is None or first * step <= highest:
                    last = first
                elif lowest is None or last * step >= lowest:
                    first = last
                else:
                    raise GenerationError("no multiple of multipleOf lies within the bounds")
            for _ in range(_MAX_ATTEMPTS * 3):
                exact = rng.randint(first, last) * step
                value = int(exact) if self.whole or exact.denominator == 1 else float(exact)
                if self.check(value) and _is_multiple(value, self.multiple):
                    return value
            raise GenerationError("no number found that is a multiple of multipleOf in the bounds")
        for _ in range(_MAX_ATTEMPTS):
            number = round(rng.uniform(float(low), float(high)), 2)
            if self.check(number):
                return number
        middle = float((low + high) / 2)
        if self.check(middle):
            return middle
        raise GenerationError("no number lies within the schema's bounds")


def _bounds(merged: dict[str, Any], whole: bool) -> tuple[Fraction | None, Fraction | None]:
    low: Fraction | None = None
    high: Fraction | None = None
    for key, exclusive in (("minimum", False), ("exclusiveMinimum", True)):
        value = merged.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            bound = Fraction(str(value))
            if whole:
                bound = Fraction(math.floor(bound) + 1 if exclusive else math.ceil(bound))
            low = bound if low is None else max(low, bound)
    for key, exclusive in (("maximum", False), ("exclusiveMaximum", True)):
        value = merged.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            bound = Fraction(str(value))
            if whole:
                bound = Fraction(math.ceil(bound) - 1 if exclusive else math.floor(bound))
            high = bound if high is None else min(high, bound)
    limits = _INT_FORMATS.get(merged.get("format", ""))
    if limits is not None:
        low = Fraction(limits[0]) if low is None else max(low, Fraction(limits[0]))
        high = Fraction(limits[1]) if high is None else min(high, Fraction(limits[1]))
    if low is not None and high is not None and low > high:
        raise GenerationError("the schema's minimum lies above its maximum")
    return low, high


def _window(low: Fraction | None, high: Fraction | None) -> tuple[Fraction, Fraction]:
    """Small, friendly numbers inside the bounds: 0 to 100 when the bounds allow it."""
    floor = low if low is not None else min(Fraction(0), (high or Fraction(0)) - 100)
    ceiling = high if high is not None else max(Fraction(100), floor + 100)
    if floor <= 0 < ceiling:
        return Fraction(0), min(ceiling, Fraction(100))
    if ceiling <= 0:
        return max(floor, ceiling - 100), ceiling
    return floor, min(ceiling, floor + 100)


def _bound_check(merged: dict[str, Any]) -> Callable[[Any], bool]:
    """A test of the bounds exactly as a validator reads them (on the original numbers)."""
    low: list[Any] = [merged[k] for k in ("minimum",) if _num(merged.get(k))]
    high: list[Any] = [merged[k] for k in ("maximum",) if _num(merged.get(k))]
    above = [merged[k] for k in ("exclusiveMinimum",) if _num(merged.get(k))]
    below = [merged[k] for k in ("exclusiveMaximum",) if _num(merged.get(k))]
    limits = _INT_FORMATS.get(merged.get("format", ""))
    if limits is not None:
        low.append(limits[0])
        high.append(limits[1])
    floor = max(low) if low else None
    ceiling = min(high) if high else None
    over = max(above) if above else None
    under = min(below) if below else None

    def check(value: Any) -> bool:
        return not (
            (floor is not None and value < floor)
            or (ceiling is not None and value > ceiling)
            or (over is not None and value <= over)
            or (under is not None and value >= under)
        )

    return check


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_multiple(value: Any, multiple: Any) -> bool:
    """jsonschema's own test: float steps compare the quotient, which rounding can spoil."""
    if not _num(multiple):
        return True
    if isinstance(multiple, float):
        quotient = value / multiple
        return math.isfinite(quotient) and int(quotient) == quotient
    return bool(value % multiple == 0)


def _inherited_tag(merged: dict[str, Any], props: dict[str, _Property]) -> tuple[str, str] | None:
    """``allOf`` inheritance: a schema named in its parent's discriminator mapping sets the tag."""
    disc = merged.get("discriminator")
    title = merged.get("title")
    if not isinstance(disc, dict) or not isinstance(title, str):
        return None
    prop = disc.get("propertyName")
    if not isinstance(prop, str) or prop not in props:
        return None
    tag = _tag_for_names(disc, [title])
    if tag is None or not props[prop].node.valid(tag):
        return None
    return prop, tag


def _discriminator_tag(disc: dict[str, Any], branch: Any, root: _Root) -> str | None:
    """The discriminator value naming ``branch``: by its ``$ref`` into ``$defs`` or its title."""
    names: list[str] = []
    seen = 0
    while isinstance(branch, dict) and seen < 8:
        if isinstance(branch.get("title"), str):
            names.append(branch["title"])
        ref = branch.get("$ref")
        if not isinstance(ref, str):
            break
        names.append(ref.rsplit("/", 1)[-1])
        branch = root.resolve(ref)
        seen += 1
    return _tag_for_names(disc, names)


def _tag_for_names(disc: dict[str, Any], names: list[str]) -> str | None:
    mapping = disc.get("mapping")
    if isinstance(mapping, dict):
        for tag, target in mapping.items():
            if isinstance(target, str) and target.rsplit("/", 1)[-1] in names:
                return str(tag)
    # A schema without a mapping entry is named by its own name.
    return names[0] if names else None


# --- helpers ----------------------------------------------------------------------------


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def _short(value: Any) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= 120 else text[:117] + "..."
