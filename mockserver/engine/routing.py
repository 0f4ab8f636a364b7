"""Matching request paths to compiled operations: static segments beat templated ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from ..errors import MethodNotAllowed, NotFound
from .spec import Operation


@dataclass
class _Node:
    static: dict[str, _Node] = field(default_factory=dict)
    param: tuple[str, _Node] | None = None
    methods: dict[str, Operation] = field(default_factory=dict)
    template: str = ""


class Router:
    """A segment trie built from path templates; lookups never split the template again."""

    def __init__(self, operations: Iterable[Operation]) -> None:
        self._root = _Node()
        for op in operations:
            node = self._root
            for segment in _segments(op.path):
                if segment.startswith("{") and segment.endswith("}"):
                    name = segment[1:-1]
                    if node.param is None:
                        node.param = (name, _Node())
                    elif node.param[0] != name:
                        raise ValueError(
                            f"{op.path}: parameter {{{name}}} clashes with {{{node.param[0]}}}"
                        )
                    node = node.param[1]
                else:
                    node = node.static.setdefault(segment, _Node())
            node.methods[op.method] = op
            node.template = op.path

    def match(self, method: str, raw_path: str) -> tuple[Operation, dict[str, str]]:
        """The operation for ``method`` on ``raw_path`` (still percent-encoded) and its params.

        Raises ``NotFound`` for an unknown path and ``MethodNotAllowed`` for a known path with
        the wrong method.
        """
        params: dict[str, str] = {}
        node = self._node(raw_path, params)
        op = node.methods.get(method)
        if op is None:
            raise MethodNotAllowed(method, node.template, node.methods)
        return op, params

    def operations_at(self, raw_path: str) -> tuple[str, Mapping[str, Operation]]:
        """The path template served at ``raw_path`` and its operations by method.

        Raises ``NotFound`` for an unknown path (what ``match`` raises for it).
        """
        node = self._node(raw_path, {})
        return node.template, node.methods

    def _node(self, raw_path: str, params: dict[str, str]) -> _Node:
        segments = [unquote(s) if "%" in s else s for s in _segments(raw_path)]
        node = _walk(self._root, segments, 0, params)
        if node is None:
            raise NotFound(
                f"No operation is served at {unquote(raw_path)}; "
                "see /openapi.json for the paths this sandbox serves."
            )
        return node


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


def _walk(node: _Node, segments: list[str], at: int, params: dict[str, str]) -> _Node | None:
    if at == len(segments):
        return node if node.methods else None
    head = segments[at]
    child = node.static.get(head)
    if child is not None:
        found = _walk(child, segments, at + 1, params)
        if found is not None:
            return found
    if node.param is not None and head:
        name, child = node.param
        found = _walk(child, segments, at + 1, params)
        if found is not None:
            params[name] = head
            return found
    return None
