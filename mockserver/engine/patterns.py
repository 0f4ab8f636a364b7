"""Strings that match a regular expression: the ``pattern`` keyword and ``patternProperties`` names.

A small generator over the parse tree of Python's own regular-expression parser, so it reads
exactly the syntax the validators check with. Character classes draw from printable ASCII
(``\\d`` is ``0-9``, ``\\w`` letters, digits and ``_``); lookarounds generate nothing and are
left to the final ``re.search`` check, as are back-references to groups that did not match.
Every candidate is checked with ``re.search`` (JSON Schema patterns are not anchored) and the
length bounds; ``None`` means no candidate within the attempts matched.
"""

from __future__ import annotations

import importlib
import random
import re
import string
from functools import cache
from typing import Any

# ``sre_parse`` is the public name but warns on import since Python 3.11; the module it
# forwards to has been ``re._parser`` since then (the package requires Python 3.11).
_parser: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")

_PRINTABLE = string.ascii_letters + string.digits + "-_.~"
_CATEGORY_CHARS = {
    _c.CATEGORY_DIGIT: string.digits,
    _c.CATEGORY_NOT_DIGIT: string.ascii_letters,
    _c.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    _c.CATEGORY_NOT_WORD: "-.~ ",
    _c.CATEGORY_SPACE: " ",
    _c.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits,
}
#: How far past its minimum an open repeat (``*``, ``+``, ``{n,}``) goes, per attempt: the
#: default first, then longer and shorter tries when the length bounds ask for it.
_STRETCHES = (2, 0, 6, 1, 16, 3, 48, 128, 0, 4, 2, 8)


@cache
def _parsed(pattern: str) -> Any:
    return _parser.parse(pattern)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def string_matching(
    pattern: str, rng: random.Random, min_length: int = 0, max_length: int | None = None
) -> str | None:
    """A string that ``re.search(pattern)`` accepts, within the length bounds, or None."""
    try:
        tree = _parsed(pattern)
        regex = _compiled(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    upper = max_length if max_length is not None else max(min_length, 0) + 64

    def fits(text: str) -> bool:
        return min_length <= len(text) <= upper and regex.search(text) is not None

    for stretch in _STRETCHES:
        try:
            text = _Builder(rng, stretch).emit(tree)
        except _Unsupported:
            break
        if fits(text):
            return text
        # An unanchored pattern also matches inside a longer string: pad a short match.
        if len(text) < min_length:
            padded = text + "x" * (min_length - len(text))
            if fits(padded):
                return padded
            padded = "x" * (min_length - len(text)) + text
            if fits(padded):
                return padded
    return None


class _Unsupported(Exception):
    pass


class _Builder:
    def __init__(self, rng: random.Random, stretch: int) -> None:
        self.rng = rng
        self.stretch = stretch
        self.groups: dict[int, str] = {}

    def emit(self, items: Any) -> str:
        return "".join(self._one(op, av) for op, av in items)

    def _one(self, op: Any, av: Any) -> str:
        if op is _c.LITERAL:
            return chr(av)
        if op is _c.NOT_LITERAL:
            return next(ch for ch in _PRINTABLE if ord(ch) != av)
        if op is _c.ANY:
            return self.rng.choice(string.ascii_letters)
        if op is _c.IN:
            return self._in(av)
        if op is _c.BRANCH:
            return self.emit(self.rng.choice(av[1]))
        if op is _c.SUBPATTERN:
            group, _add, _del, body = av
            text = self.emit(body)
            if group is not None:
                self.groups[group] = text
            return text
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
            low, high, body = av
            top = low + self.stretch if high is _c.MAXREPEAT else min(high, low + self.stretch)
            count = self.rng.randint(low, max(low, top))
            return "".join(self.emit(body) for _ in range(count))
        if op is _c.ATOMIC_GROUP:
            return self.emit(av)
        if op is _c.GROUPREF:
            return self.groups.get(av, "")
        if op is _c.CATEGORY:
            return self.rng.choice(_CATEGORY_CHARS.get(av, "a"))
        if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
            return ""
        if op is _c.GROUPREF_EXISTS:
            _group, yes, no = av
            return self.emit(yes) if no is None else self.emit(self.rng.choice((yes, no)))
        raise _Unsupported(str(op))

    def _in(self, items: list[tuple[Any, Any]]) -> str:
        if items and items[0][0] is _c.NEGATE:
            rest = items[1:]
            candidates = list(_PRINTABLE)
            self.rng.shuffle(candidates)
            for ch in candidates:
                if not any(_class_has(op, av, ch) for op, av in rest):
                    return ch
            raise _Unsupported("negated class")
        op, av = self.rng.choice(items)
        if op is _c.LITERAL:
            return chr(av)
        if op is _c.RANGE:
            low, high = av
            # Prefer printable ASCII inside the range, so values read well in a terminal.
            a, b = max(low, 0x21), min(high, 0x7E)
            return chr(self.rng.randint(a, b) if a <= b else self.rng.randint(low, high))
        if op is _c.CATEGORY:
            return self.rng.choice(_CATEGORY_CHARS.get(av, "a"))
        if op is _c.NOT_LITERAL:
            return next(ch for ch in _PRINTABLE if ord(ch) != av)
        raise _Unsupported(str(op))


def _class_has(op: Any, av: Any, ch: str) -> bool:
    if op is _c.LITERAL:
        return bool(ord(ch) == av)
    if op is _c.RANGE:
        return bool(av[0] <= ord(ch) <= av[1])
    if op is _c.CATEGORY:
        return ch in _CATEGORY_CHARS.get(av, "")
    return True
