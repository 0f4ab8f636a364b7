"""``GET /_sandbox/health``: readiness, the package version and what is being served."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..config import package_version
from ..engine.dispatch import Behaviour, Call, Reply
from ..engine.spec import Spec
from ..engine.store import Store, format_time
from .journal import Journal


def summary(spec: Spec) -> dict[str, Any]:
    info = spec.document.get("info") or {}
    return {
        "title": str(info.get("title", "")),
        "version": str(info.get("version", "")),
        "operations": len(spec.operations),
    }


def behaviours(
    spec: Spec, control_spec: Spec, store: Store, journal: Journal
) -> dict[str, Behaviour]:
    static = {
        "ready": True,
        "version": package_version(),
        # The wall clock, not the sandbox's (a test may freeze that one in the past).
        "started_at": format_time(datetime.now(UTC)),
        "document": summary(spec),
        "control_document": summary(control_spec),
    }

    def health(call: Call) -> Reply:
        return Reply(
            200,
            {
                "data": {
                    **static,
                    "businesses": len(store.businesses),
                    "journal": {"last_seq": journal.last_seq, "cap": journal.cap},
                }
            },
        )

    return {"sandbox.health.get": health}
