"""The control API under the reserved ``/_sandbox`` prefix (not part of Layer's contract)."""

from __future__ import annotations

from typing import Any

from ..engine.dispatch import Behaviour, Call, Reply
from ..engine.store import RECORD_COLLECTIONS, Record, Store
from .kinds import KINDS
from .render import render_credit


def state_view(store: Store) -> dict[str, Any]:
    """Every collection as JSON: records as stored (current balances), credits as the API sends."""
    with store.lock:
        businesses = list(store.businesses.values())
        view: dict[str, Any] = {"businesses": [b["business"] for b in businesses]}
        for name in RECORD_COLLECTIONS:
            view[name] = [r for b in businesses for r in b[name].values()]
        for kind in KINDS:
            view[kind.collection] = [
                render_credit(b, kind, c) for b in businesses for c in b[kind.collection].values()
            ]
        resources: dict[str, list[Record]] = {}
        for key, records in store.resources.items():
            resources.setdefault(key.split(" ", 1)[0], []).extend(records.values())
        view["resources"] = resources  # records of resources inferred from the document
        return view


def behaviours(store: Store) -> dict[str, Behaviour]:
    def reset(call: Call) -> Reply:
        store.reset()
        return Reply(200, {"data": {"reset": True}})

    def state(call: Call) -> Reply:
        view: Record = state_view(store)
        return Reply(200, {"data": view})

    return {"sandbox.reset": reset, "sandbox.state": state}
