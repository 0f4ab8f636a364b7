"""A small on-disk cache of what start-up derives from a document, keyed by its content.

Entries live under ``$MOCKSERVER_CACHE_DIR``, else ``$XDG_CACHE_HOME/mockserver``, else
``~/.cache/mockserver``, one file per entry named by a SHA-256 of everything the entry depends
on: the document's bytes, the package version and the modification times of the package's
modules (so an edited checkout never reads an entry an older version wrote). Any entry may be
deleted at any time, and the directory with it; ``MOCKSERVER_CACHE_DIR=off`` turns the cache
off. A cache that cannot be read or written is no cache: start-up computes what it needs.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def directory() -> Path | None:
    """Where entries go, or None when the cache is off."""
    configured = os.environ.get("MOCKSERVER_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "no") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mockserver"


@cache
def _code_stamp() -> bytes:
    """The package version and its modules' modification times (read once per process)."""
    from ..config import package_version

    stamps = [package_version()]
    for module in sorted(_PACKAGE.rglob("*.py")):
        try:
            stamps.append(f"{module.relative_to(_PACKAGE)}:{module.stat().st_mtime_ns}")
        except OSError:
            continue
    return "\n".join(stamps).encode()


def key(kind: str, content: bytes) -> str:
    """The entry name for ``kind`` (e.g. "lint") derived from ``content``."""
    digest = hashlib.sha256(_code_stamp())
    digest.update(b"\0" + kind.encode() + b"\0")
    digest.update(content)
    return f"{kind}-{digest.hexdigest()}"


def load(name: str) -> bytes | None:
    where = directory()
    if where is None:
        return None
    try:
        return (where / name).read_bytes()
    except OSError:
        return None


def store(name: str, data: bytes) -> None:
    """Write an entry atomically (a reader never sees half of it); errors are ignored."""
    where = directory()
    if where is None:
        return
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=where, prefix=".tmp-", delete=False) as out:
            temporary = Path(out.name)
            out.write(data)
        os.replace(temporary, where / name)
    except OSError:
        if "temporary" in locals():
            temporary.unlink(missing_ok=True)
