"""The optional state file: read once at start, written atomically on shutdown and on demand.

The file holds the document of ``GET /_sandbox/snapshot`` (so either can feed the other). A
write goes to a temporary file in the same directory, is fsynced, then renamed over the old
file (``os.replace``), so a crash at any moment leaves either the old state or the new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import orjson

from ..engine.dispatch import Behaviour, Call, Reply
from ..engine.store import CREDIT_COLLECTIONS, RECORD_COLLECTIONS, Store
from ..errors import BadRequest, Problem, StateFileError
from .testcontrol import SNAPSHOT_FORMAT, restore_document

_BUSINESS_KEYS = ("business", *RECORD_COLLECTIONS, *CREDIT_COLLECTIONS, "index")


class StateFile:
    """Where a store's state is kept between runs; saves are serialised by one lock."""

    def __init__(self, path: Path, store: Store) -> None:
        self.path = path
        self.store = store
        self._lock = threading.Lock()

    def load(self) -> bool:
        """Restore the store from the file; False if there is no file yet.

        Raises ``StateFileError`` naming the file and what is wrong when it cannot be used.
        """
        directory = self.path.parent
        if not directory.is_dir():  # found now rather than at the first save, on shutdown
            raise StateFileError(
                f"{self.path}: the directory {directory} does not exist; create it or choose "
                "another --state-file."
            )
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return False
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise StateFileError(f"{self.path}: cannot read the state file: {reason}") from exc
        document = _checked_document(self.path, raw)
        try:
            restore_document(self.store, document)
        except BadRequest as exc:
            raise _unusable(self.path, str(exc)) from None
        seed = self.store.ids.seed
        if seed is not None:
            # A seeded sequence would start again and hand out ids the loaded state already
            # uses; continue from a seed derived from the state instead (still reproducible).
            digest = hashlib.sha256(str(seed).encode() + raw).digest()
            self.store.ids.reseed(int.from_bytes(digest[:8], "big"))
        return True

    def save(self) -> int:
        """Write the store's current state; returns the number of bytes written."""
        with self._lock:  # the snapshot too, so an older state never overwrites a newer one
            snapshot = self.store.snapshot()
            # The snapshot is a JSON object: the format goes in front of its members.
            document = orjson.dumps({"format": SNAPSHOT_FORMAT})[:-1] + b"," + snapshot[1:]
            write_atomically(self.path, document)
        return len(document)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` so that readers (and a crash) see the old or the new bytes."""
    directory = path.parent if str(path.parent) else Path(".")
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    # The rename itself survives a power cut only once the directory entry is on disk.
    with contextlib.suppress(OSError):
        directory_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)


def _unusable(path: Path, reason: str) -> StateFileError:
    return StateFileError(
        f"{path}: not a usable sandbox state file ({reason}); restore a good copy, or delete it "
        "to start from the fixtures."
    )


def _checked_document(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _unusable(path, f"invalid JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != SNAPSHOT_FORMAT:
        raise _unusable(path, f'"format" is not {SNAPSHOT_FORMAT!r}')
    businesses = document.get("businesses")
    if not isinstance(businesses, dict):
        raise _unusable(path, '"businesses" is not an object')
    for business_id, business in businesses.items():
        missing = [
            key
            for key in _BUSINESS_KEYS
            if not isinstance(business, dict) or not isinstance(business.get(key), dict)
        ]
        if missing:
            raise _unusable(path, f"business {business_id} lacks {', '.join(missing)}")
    return document


def behaviours(state_file: StateFile | None) -> dict[str, Behaviour]:
    """``POST /_sandbox/save``: write the state file now."""

    def save(call: Call) -> Reply:
        if state_file is None:
            raise BadRequest(
                Problem(
                    "this sandbox has no state file; start it with --state-file PATH (or "
                    "MOCKSERVER_STATE_FILE) to save its state.",
                    {"location": "body", "pointer": "", "keyword": "stateFile"},
                )
            )
        try:
            size = state_file.save()
        except OSError as exc:
            return Reply(
                500,
                {
                    "errors": [
                        {
                            "type": "StateFileError",
                            "description": f"could not write the state file {state_file.path}: "
                            f"{exc.strerror or exc}; the previous file is unchanged.",
                        }
                    ]
                },
            )
        return Reply(200, {"data": {"saved": True, "path": str(state_file.path), "bytes": size}})

    return {"sandbox.save": save}
