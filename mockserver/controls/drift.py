"""The drift report: journaled violations grouped by operation, status and pointer.

``mockserver proxy`` journals every place the real API and the document disagree; this groups
them (same operation, status, side, location and pointer) with a count and the first example,
for ``GET /_sandbox/drift``, the inspector and ``mockserver drift``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..engine.dispatch import Behaviour, Call, Reply
from .journal import Journal


def drift_report(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The report over journal entries (``Entry.as_dict()`` form), biggest groups first."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    calls = with_violations = 0
    for entry in entries:
        calls += 1
        violations = entry.get("violations") or []
        if violations:
            with_violations += 1
        for v in violations:
            key = (
                entry.get("operation_id"),
                entry.get("status"),
                v.get("in"),
                v.get("location"),
                v.get("pointer"),
            )
            group = groups.get(key)
            if group is None:
                groups[key] = {
                    "operation_id": entry.get("operation_id"),
                    "status": entry.get("status"),
                    "in": v.get("in"),
                    "location": v.get("location"),
                    "pointer": v.get("pointer", ""),
                    "keywords": [v["keyword"]] if v.get("keyword") else [],
                    "count": 1,
                    "first": {
                        "seq": entry.get("seq"),
                        "method": entry.get("method"),
                        "path": entry.get("path"),
                        "message": v.get("message"),
                    },
                }
            else:
                group["count"] += 1
                if v.get("keyword") and v["keyword"] not in group["keywords"]:
                    group["keywords"].append(v["keyword"])
    ordered = sorted(
        groups.values(),
        key=lambda g: (
            -g["count"],
            str(g["operation_id"]),
            g["status"] or 0,
            str(g["in"]),
            str(g["pointer"]),
        ),
    )
    return {
        "summary": {
            "calls": calls,
            "calls_with_violations": with_violations,
            "violations": sum(g["count"] for g in ordered),
            "groups": len(ordered),
        },
        "groups": ordered,
    }


def render_text(report: Mapping[str, Any]) -> str:
    """The report for a terminal: one block per group."""
    summary = report["summary"]
    if not report["groups"]:
        return f"no drift: {summary['calls']} journaled call(s), no violation.\n"
    lines = [
        f"drift: {summary['violations']} violation(s) in {summary['groups']} group(s), from "
        f"{summary['calls_with_violations']} of {summary['calls']} journaled call(s)"
    ]
    for g in report["groups"]:
        first = g["first"]
        lines.append(
            f"  {g['count']:>4}x  {g['in']:<8} {g['operation_id'] or '(no operation)'} "
            f"{g['status'] if g['status'] is not None else '-'} {g['location']} "
            f"{g['pointer'] or '/'}" + (f" [{', '.join(g['keywords'])}]" if g["keywords"] else "")
        )
        lines.append(
            f"         first: entry {first['seq']} {first['method']} {first['path']}: "
            f"{first['message']}"
        )
    return "\n".join(lines) + "\n"


def behaviours(journal: Journal) -> dict[str, Behaviour]:
    def drift(call: Call) -> Reply:
        entries = journal.entries(since=call.query.get("after_seq", 0))
        return Reply(200, {"data": drift_report(e.as_dict() for e in entries)})

    return {"sandbox.drift.get": drift}
