"""Matching request paths to compiled operations: static segments beat templated ones."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from ..errors import MethodNotAllowed, NotFound
from .spec import Operation

_PARAM = re.compile(r"\{([^{}/]+)\}")
#: Paths whose match ``Router.match`` remembers (then it forgets them all and starts again).
_REMEMBERED_MATCHES = 4096


@dataclass
class _Node:
    static: dict[str, _Node] = field(default_factory=dict)
    #: A segment that is one whole parameter (``{petId}``), whatever the parameter's name.
    param: _Node | None = None
    #: Segments mixing text and parameters (``{name}.json``), tried in order after those.
    patterns: list[tuple[re.Pattern[str], _Node]] = field(default_factory=list)
    methods: dict[str, Operation] = field(default_factory=dict)
    #: The parameter names along the path, per method (templates may name them differently).
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    template: str = ""


class Router:
    """A segment trie built from path templates; lookups never split the template again.

    ``prefixes``: base paths under which every operation is served too (``/api/v3``), besides
    the root.
    """

    def __init__(self, operations: Iterable[Operation], prefixes: Iterable[str] = ()) -> None:
        self._root = _Node()
        self.templates: dict[str, set[str]] = {}  # template -> methods, for CORS and docs
        #: (method, raw path) -> what ``match`` found for it, for the paths last asked for.
        self._matched: dict[tuple[str, str], tuple[Operation, Mapping[str, str]]] = {}
        self.add_operations(operations, prefixes)

    def add_operations(self, operations: Iterable[Operation], prefixes: Iterable[str] = ()) -> None:
        prefixes = tuple(prefixes)
        for op in operations:
            for prefix in ("", *prefixes):
                self._add(prefix + op.path, op)

    def _add(self, template: str, op: Operation) -> None:
        self._matched.clear()
        node = self._root
        names: list[str] = []
        for segment in _segments(template):
            whole = _PARAM.fullmatch(segment)
            if whole:
                names.append(whole.group(1))
                if node.param is None:
                    node.param = _Node()
                node = node.param
            elif _PARAM.search(segment):
                pattern = _segment_pattern(segment)
                names.extend(m.group(1) for m in _PARAM.finditer(segment))
                for existing, child in node.patterns:
                    if existing.pattern == pattern.pattern:
                        node = child
                        break
                else:
                    child = _Node()
                    node.patterns.append((pattern, child))
                    node = child
            else:
                node = node.static.setdefault(segment, _Node())
        node.methods.setdefault(op.method, op)
        node.names.setdefault(op.method, tuple(names))
        node.template = node.template or template
        self.templates.setdefault(template, set()).add(op.method)

    def match(self, method: str, raw_path: str) -> tuple[Operation, Mapping[str, str]]:
        """The operation for ``method`` on ``raw_path`` (still percent-encoded) and its params.

        Raises ``NotFound`` for an unknown path and ``MethodNotAllowed`` for a known path with
        the wrong method. The paths last matched (a test fetching what it made, a poller) are
        remembered, so the params mapping is shared: read it, never change it.
        """
        key = (method, raw_path)
        found = self._matched.get(key)
        if found is None:
            found = self._match(method, raw_path)
            if len(self._matched) >= _REMEMBERED_MATCHES:
                self._matched.clear()
            self._matched[key] = found
        return found

    def _match(self, method: str, raw_path: str) -> tuple[Operation, Mapping[str, str]]:
        values: list[str] = []
        segments = _decoded_segments(raw_path)
        node = _walk(self._root, segments, 0, values)
        if node is None:
            raise NotFound(
                f"No operation is served at {unquote(raw_path)}; "
                "see /openapi.json for the paths this sandbox serves."
            )
        op = node.methods.get(method)
        if op is None:
            raise MethodNotAllowed(method, node.template, node.methods)
        values.reverse()  # collected from the deepest segment up
        return op, dict(zip(node.names[method], values, strict=False))

    def operations_at(self, raw_path: str) -> tuple[str, Mapping[str, Operation]]:
        """The path template served at ``raw_path`` and its operations by method.

        Raises ``NotFound`` for an unknown path (what ``match`` raises for it).
        """
        segments = _decoded_segments(raw_path)
        node = _walk(self._root, segments, 0, [])
        if node is None:
            raise NotFound(
                f"No operation is served at {unquote(raw_path)}; "
                "see /openapi.json for the paths this sandbox serves."
            )
        return node.template, node.methods

    def allowed(self, raw_path: str) -> list[str] | None:
        """The methods served at ``raw_path``, or None when no operation is served there."""
        segments = _decoded_segments(raw_path)
        node = _walk(self._root, segments, 0, [])
        return None if node is None else list(node.methods)


def _segment_pattern(segment: str) -> re.Pattern[str]:
    parts = []
    at = 0
    for found in _PARAM.finditer(segment):
        parts.append(re.escape(segment[at : found.start()]))
        name = re.sub(r"\W", "_", found.group(1))
        parts.append(f"(?P<{name}>.+?)")
        at = found.end()
    parts.append(re.escape(segment[at:]))
    return re.compile("".join(parts))


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


def _decoded_segments(path: str) -> list[str]:
    """A request path's segments, each percent-decoded."""
    stripped = path.strip("/")
    if not stripped:
        return []
    if "%" not in stripped:
        return stripped.split("/")
    return [unquote(s) if "%" in s else s for s in stripped.split("/")]


def _walk(node: _Node, segments: list[str], at: int, values: list[str]) -> _Node | None:
    if at == len(segments):
        return node if node.methods else None
    head = segments[at]
    child = node.static.get(head)
    if child is not None:
        found = _walk(child, segments, at + 1, values)
        if found is not None:
            return found
    if node.param is not None and head:
        found = _walk(node.param, segments, at + 1, values)
        if found is not None:
            values.append(head)
            return found
    for pattern, child in node.patterns:
        matched = pattern.fullmatch(head)
        if matched:
            found = _walk(child, segments, at + 1, values)
            if found is not None:
                values.extend(reversed(matched.groups()))
                return found
    return None
