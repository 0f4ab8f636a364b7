"""Contract coverage: which operations and documented response statuses a test run exercised."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..engine.dispatch import Behaviour, Call, Reply
from ..engine.spec import Operation, Spec
from .journal import Entry, Journal


def documented_status(op_statuses: Iterable[str], status: int) -> str | None:
    """The response key ``status`` falls under: exact, then ``4XX``-style, then ``default``."""
    keys = set(op_statuses)
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in keys:
            return key
    return None


class ContractCoverage:
    """Counts of calls per operation and response key; mergeable across processes.

    ``as_data()`` is plain JSON-able data (what pytest-xdist workers send to the controller) and
    ``merge()`` adds such data in; ``report()`` is the JSON a CI job can gate on.
    """

    def __init__(self) -> None:
        #: operationId -> {"method", "path", "responses": [documented keys]}, in spec order.
        self.operations: dict[str, dict[str, Any]] = {}
        #: operationId -> response key (documented, or the bare status) -> calls.
        self.calls: dict[str, dict[str, int]] = {}
        #: Requests that matched no operation (unknown path, wrong method).
        self.unmatched = 0
        #: Requests dropped from the journal (beyond its cap) before they were counted.
        self.uncounted = 0
        #: (operationId, status) -> its response key, once worked out.
        self._keys: dict[tuple[str, int], str] = {}

    @classmethod
    def for_spec(cls, spec: Spec) -> ContractCoverage:
        coverage = cls()
        coverage.add_operations(spec.operations)
        return coverage

    def add_operations(self, operations: Iterable[Operation]) -> None:
        for op in operations:
            self.operations.setdefault(
                op.operation_id,
                {"method": op.method, "path": op.path, "responses": list(op.responses)},
            )

    def record(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self.count(entry)

    def count(self, entry: Entry) -> None:
        """Add one journaled call."""
        if entry.operation_id is None:
            self.unmatched += 1
            return
        if entry.status is None:  # a connection fault: no response was exercised
            return
        key = self._keys.get((entry.operation_id, entry.status))
        if key is None:
            known = self.operations.get(entry.operation_id)
            documented = known.get("responses", ()) if known else ()
            key = documented_status(documented, entry.status) or str(entry.status)
            if known:  # an operation's documented responses never change once added
                self._keys[(entry.operation_id, entry.status)] = key
        per_op = self.calls.setdefault(entry.operation_id, {})
        per_op[key] = per_op.get(key, 0) + 1

    def as_data(self) -> dict[str, Any]:
        return {
            "operations": self.operations,
            "calls": self.calls,
            "unmatched": self.unmatched,
            "uncounted": self.uncounted,
        }

    def merge(self, data: Mapping[str, Any]) -> None:
        for op_id, info in data.get("operations", {}).items():
            self.operations.setdefault(op_id, dict(info))
        for op_id, counts in data.get("calls", {}).items():
            per_op = self.calls.setdefault(op_id, {})
            for key, n in counts.items():
                per_op[key] = per_op.get(key, 0) + n
        self.unmatched += data.get("unmatched", 0)
        self.uncounted += data.get("uncounted", 0)

    def report(self) -> dict[str, Any]:
        """Exercised and never-exercised operations and documented responses, with counts."""
        operations: dict[str, Any] = {}
        exercised_responses: list[dict[str, str]] = []
        never_responses: list[dict[str, str]] = []
        for op_id, info in self.operations.items():
            counts = self.calls.get(op_id, {})
            documented = info["responses"]
            operations[op_id] = {
                "method": info["method"],
                "path": info["path"],
                "calls": sum(counts.values()),
                "responses": {key: counts.get(key, 0) for key in documented},
                "undocumented_responses": {
                    key: n for key, n in sorted(counts.items()) if key not in documented
                },
            }
            for key in documented:
                target = exercised_responses if counts.get(key) else never_responses
                target.append({"operation_id": op_id, "status": key})
        exercised_ops = [op_id for op_id, op in operations.items() if op["calls"]]
        never_ops = [op_id for op_id, op in operations.items() if not op["calls"]]
        return {
            "summary": {
                "operations": {
                    "total": len(operations),
                    "exercised": len(exercised_ops),
                    "never_exercised": len(never_ops),
                },
                "responses": {
                    "total": len(exercised_responses) + len(never_responses),
                    "exercised": len(exercised_responses),
                    "never_exercised": len(never_responses),
                },
                "requests_without_operation": self.unmatched,
                "requests_not_counted": self.uncounted,
            },
            "operations": operations,
            "exercised": {"operations": exercised_ops, "responses": exercised_responses},
            "never_exercised": {"operations": never_ops, "responses": never_responses},
        }


def summary_lines(report: Mapping[str, Any], path: str) -> list[str]:
    """A few lines for the terminal: totals, the operations never called, where the JSON is."""
    summary = report["summary"]
    ops, responses = summary["operations"], summary["responses"]
    lines = [
        f"operations exercised: {ops['exercised']}/{ops['total']}; "
        f"documented responses exercised: {responses['exercised']}/{responses['total']}"
    ]
    never = report["never_exercised"]["operations"]
    if never:
        lines.append(f"operations never called: {', '.join(never)}")
    if summary["requests_not_counted"]:
        lines.append(
            f"{summary['requests_not_counted']} request(s) left the journal before they were "
            "counted; raise the sandbox's journal_cap"
        )
    lines.append(f"report written to {path}")
    return lines


def behaviours(journal: Journal, spec: Spec) -> dict[str, Behaviour]:
    """``GET /_sandbox/coverage``: every call ``journal`` records from now on, counted as it is."""
    live = ContractCoverage.for_spec(spec)
    journal.subscribe(live.count)

    def coverage(call: Call) -> Reply:
        return Reply(200, {"data": live.report()})

    return {"sandbox.coverage.get": coverage}
