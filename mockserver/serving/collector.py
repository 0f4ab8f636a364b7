"""Keep long-lived objects out of the cyclic garbage collector's way while serving.

CPython's full collection walks every tracked container it has seen survive, and a store that
grows by thousands of records a second holds millions of them: every full collection then
pauses the server for a time that grows with the store (a create's p99 went from 1.8 to 84 ms
over three 4 s runs). The records never form reference cycles, so collecting them again and
again finds nothing.

``install()`` freezes what start-up built (``gc.freeze``: the compiled document, validators,
fixtures), then, after every collection of the middle generation, freezes its survivors too: an
object that lived through two young collections moves to the permanent generation, which no
collection walks, instead of the oldest one. Young collections still run as usual, so the
short-lived cycles of a request (which the served sandbox hardly makes: a few dozen objects in
20,000 creates) are still collected; a frozen object whose last reference goes is freed at once
by reference counting, so a reset or a delete gives its memory back. What it cannot collect is a
cycle that became garbage only after surviving two young collections; ``bench/soak.py
--resets`` measures that memory as flat.
"""

from __future__ import annotations

import gc
from typing import Any

_installed = False


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    # After a collection of generation 1 (or 2) its survivors sit in the oldest generation and
    # generations 0 and 1 are empty: freezing now moves exactly those survivors (O(1)).
    if phase == "stop" and info["generation"] >= 1:
        gc.freeze()


def install() -> None:
    """Freeze what exists now and every later survivor of the young generations (idempotent)."""
    global _installed
    gc.collect()
    gc.freeze()
    if not _installed:
        gc.callbacks.append(_freeze_survivors)
        _installed = True


def uninstall() -> None:
    """Back to the collector's usual behaviour: nothing frozen, every generation collected."""
    global _installed
    if _installed:
        gc.callbacks.remove(_freeze_survivors)
        _installed = False
    gc.unfreeze()
