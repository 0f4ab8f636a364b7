"""The served sandbox keeps long-lived objects out of full garbage collections (no pause that
grows with the store) without keeping anything alive that is no longer referenced."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from mockserver.serving import collector


class Node:
    """A tracked object that can be watched with a weak reference."""

    def __init__(self) -> None:
        self.children: list[object] = []


@pytest.fixture
def installed() -> Iterator[None]:
    collector.install()
    try:
        yield
    finally:
        collector.uninstall()


def _survive_young_collections() -> None:
    gc.collect(1)  # generations 0 and 1: survivors move on, and are frozen by the collector
    gc.collect(1)


def test_survivors_leave_the_walked_generations(installed: None) -> None:
    frozen = gc.get_freeze_count()
    kept = [{"line_items": [{"amount": i}]} for i in range(30_000)]  # like stored records
    _survive_young_collections()
    assert gc.get_freeze_count() - frozen >= 60_000
    assert len(gc.get_objects()) < 30_000  # a full collection would not walk the records
    assert len(kept) == 30_000


def test_a_frozen_object_is_freed_when_its_last_reference_goes(installed: None) -> None:
    node = Node()
    watch = weakref.ref(node)
    _survive_young_collections()
    assert gc.get_freeze_count() > 0
    del node
    assert watch() is None  # freed at once by reference counting, frozen or not


def test_short_lived_cycles_are_still_collected(installed: None) -> None:
    node = Node()
    node.children.append(node)  # a cycle, garbage before any young collection saw it
    watch = weakref.ref(node)
    del node
    gc.collect(0)
    assert watch() is None


def test_install_twice_then_uninstall_restores_the_collector() -> None:
    collector.install()
    collector.install()
    callbacks = [c for c in gc.callbacks if getattr(c, "__module__", "") == collector.__name__]
    assert len(callbacks) == 1
    collector.uninstall()
    assert gc.get_freeze_count() == 0
    assert not [c for c in gc.callbacks if getattr(c, "__module__", "") == collector.__name__]
    kept = [Node() for _ in range(1_000)]
    _survive_young_collections()
    assert gc.get_freeze_count() == 0
    assert len(kept) == 1_000
