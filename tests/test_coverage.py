"""Contract coverage counts calls per documented response and merges across processes."""

from mockserver.controls.coverage import ContractCoverage, documented_status
from mockserver.controls.journal import Journal


def test_a_status_counts_under_its_exact_then_range_then_default_response() -> None:
    assert documented_status(["200", "4XX", "default"], 200) == "200"
    assert documented_status(["200", "4XX", "default"], 404) == "4XX"
    assert documented_status(["200", "4XX", "default"], 503) == "default"
    assert documented_status(["200"], 503) is None


def test_merged_coverage_adds_calls_and_keeps_never_exercised_responses() -> None:
    journal = Journal()
    for status in (200, 404, 418):
        journal.record(
            method="GET",
            path="/things",
            query="",
            operation_id="things.get",
            business_id=None,
            status=status,
            request_body=None,
            response_body=None,
            off_contract=False,
            contract_violation=False,
        )
    worker = ContractCoverage()
    worker.operations["things.get"] = {
        "method": "GET",
        "path": "/things",
        "responses": ["200", "4XX", "500"],
    }
    worker.record(journal.entries())
    controller = ContractCoverage()
    controller.merge(worker.as_data())
    controller.merge(worker.as_data())
    report = controller.report()
    assert report["operations"]["things.get"] == {
        "method": "GET",
        "path": "/things",
        "calls": 6,
        "responses": {"200": 2, "4XX": 4, "500": 0},
        "undocumented_responses": {},
    }
    assert report["never_exercised"]["responses"] == [
        {"operation_id": "things.get", "status": "500"}
    ]
