"""Keep long-lived objects out of the cyclic garbage collector's way while serving.

CPython's full collection walks every tracked container it has seen survive, and a store that
grows by thousands of records a second holds millions of them: every full collection then
pauses the server for a time that grows with the store (a create's p99 went from 1.8 to 84 ms
over three 4 s runs). The records never form reference cycles, so collecting them again and
again finds nothing.

``starting()`` switches the collector off while start-up builds the compiled document, its
validators and the fixtures: a big document is a graph of millions of objects with almost no
cycles, and the collections its allocations trigger took a third of a cold start (GitHub's 13 MB
document: 1.9 s instead of 3.2 s). ``install()`` then freezes what start-up built
(``gc.freeze``), without collecting first: a full collection of that graph costs 130 ms and
finds a few thousand objects of cyclic garbage (2,109 on GitHub's document), which stay frozen,
once per process. It switches the collector back on, and after every collection of the middle
generation, freezes its survivors too: an object that lived through two young collections moves
to the permanent generation, which no collection walks, instead of the oldest one. Young
collections still run as usual, so the short-lived cycles of a request (which the served sandbox
hardly makes: a few dozen objects in 20,000 creates) are still collected; a frozen object whose
last reference goes is freed at once by reference counting, so a reset or a delete gives its
memory back. What it cannot collect is a cycle that became garbage only after surviving two
young collections; ``bench/soak.py --resets`` measures that memory as flat.
"""

from __future__ import annotations

import ctypes
import gc
from typing import Any

_installed = False


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    # After a collection of generation 1 (or 2) its survivors sit in the oldest generation and
    # generations 0 and 1 are empty: freezing now moves exactly those survivors (O(1)).
    if phase == "stop" and info["generation"] >= 1:
        gc.freeze()


def starting() -> None:
    """No collection while start-up builds what ``install()`` will freeze."""
    gc.disable()


def install() -> None:
    """Freeze what exists now and every later survivor of the young generations, and collect
    young objects as usual (idempotent)."""
    global _installed
    gc.freeze()
    gc.enable()
    _trim()
    if not _installed:
        gc.callbacks.append(_freeze_survivors)
        _installed = True


def _trim() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``; a no-op
    where the C library has none). Start-up's temporaries (the document's bytes, a cache
    entry, the parser's and unpickler's working memory) leave free pages that the allocator
    keeps otherwise: 15 MB of the RSS after starting on GitHub's 13 MB document."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)


def uninstall() -> None:
    """Back to the collector's usual behaviour: nothing frozen, every generation collected."""
    global _installed
    if _installed:
        gc.callbacks.remove(_freeze_survivors)
        _installed = False
    gc.unfreeze()
    gc.enable()
