"""The pytest plugin, as a user meets it: test files that only name ``layer_sandbox``."""

import json
from importlib.metadata import entry_points

# In-process pytester runs drop the modules they imported first. httpx imports httpcore lazily
# and maps its errors by class, so httpcore is imported here, once for the whole session.
import httpcore  # noqa: F401
import pytest
import yaml

from mockserver.config import BUILTIN_SPEC

pytest_plugins = ["pytester"]
#: How many operations the coverage report counts: every one of the public document.
OPERATIONS = sum(
    1
    for item in yaml.safe_load(BUILTIN_SPEC.read_text(encoding="utf-8"))["paths"].values()
    for method in item
    if method in {"get", "put", "post", "delete", "patch"}
)


def assert_lines(result: pytest.RunResult, *expected: str) -> None:
    """Each expected text starts one output line, in order (runs of spaces count as one)."""
    lines = iter(" ".join(line.split()) for line in result.outlines)
    for text in expected:
        if not any(line.startswith(" ".join(text.split())) for line in lines):
            pytest.fail(f"{text!r} is not in the output (in order):\n{result.stdout.str()}")


# A user's test file: no imports from the package, no conftest.
CRUD_TESTS = """
import pytest

SALES = {"type": "StableName", "stable_name": "SALES"}
EXPENSES = {"type": "StableName", "stable_name": "OPERATING_EXPENSES"}


def test_customer_credit_lifecycle(layer_sandbox):
    client = layer_sandbox.client()
    credits = f"/v1/businesses/{layer_sandbox.business_id}/invoices/customer-credits"
    created = client.post(credits, json={
        "customer_external_id": "cust-002",
        "line_items": [{"amount": 1500, "revenue_account_identifier": SALES}],
        "allocations": [{"amount": 1500, "invoice_id": "e0000000-0000-4000-8000-000000000003"}],
    })
    assert created.status_code == 201, created.text
    url = f"{credits}/{created.json()['data']['id']}"
    listed = client.get(credits, params={"customer_id": "c0000000-0000-4000-8000-000000000002"})
    assert url.rsplit("/", 1)[1] in [c["id"] for c in listed.json()["data"]]
    assert client.patch(url, json={"memo": "Returned goods"}).json()["data"]["memo"] == "Returned goods"
    assert client.delete(url).json()["data"]["deleted_at"]
    assert url.rsplit("/", 1)[1] not in [c["id"] for c in client.get(credits).json()["data"]]
    layer_sandbox.assert_called("business.invoices.customer-credits.post", times=1, status=201)
    assert [r.method for r in layer_sandbox.requests] == ["POST", "GET", "PATCH", "DELETE", "GET"]


def test_vendor_credit_lifecycle(layer_sandbox):
    client = layer_sandbox.client()
    credits = f"/v1/businesses/{layer_sandbox.business_id}/bills/vendor-credits"
    created = client.post(credits, json={
        "vendor_external_id": "vend-002",
        "received_at": "2024-03-01T12:00:00Z",
        "line_items": [{"amount": 700, "expense_account_identifier": EXPENSES}],
    })
    assert created.status_code == 201, created.text
    url = f"{credits}/{created.json()['data']['id']}"
    assert client.patch(url, json={"memo": "Short shipment"}).status_code == 200
    assert client.delete(url).status_code == 200
    assert client.get(url).json()["data"]["deleted_at"]


@pytest.mark.parametrize("run", range(4))
def test_every_test_starts_from_the_fixtures(layer_sandbox, run):
    # A credit left over from another test would make this create an idempotent update (200).
    state = layer_sandbox.state
    assert len(state["customer_credits"]) == 5
    assert not [c for c in state["customers"] if c["external_id"] == "seeded-once"]
    layer_sandbox.add_customer(external_id="seeded-once", company_name="Initrode")
    created = layer_sandbox.client().post(
        f"/v1/businesses/{layer_sandbox.business_id}/invoices/customer-credits",
        json={"external_id": "isolation", "customer_external_id": "seeded-once",
              "line_items": [{"amount": 100, "revenue_account_identifier": SALES}]},
    )
    assert created.status_code == 201, created.text
"""


def test_installing_the_package_registers_the_plugin() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("layer_sandbox") == "mockserver.plugin.pytest_plugin", (
        "the pytest11 entry point is missing: install the package (pip install -e '.[test]')"
    )


@pytest.mark.parametrize("mode", ["socket", "inprocess"])
def test_a_user_suite_passes_in_both_modes(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(test_credits=CRUD_TESTS)
    result = pytester.runpytest_inprocess(f"--layer-sandbox-mode={mode}")
    result.assert_outcomes(passed=6)


def test_a_user_suite_passes_under_xdist_with_merged_coverage(pytester: pytest.Pytester) -> None:
    # A subprocess, as a user runs it: the plugin comes from the installed entry point.
    pytester.makepyfile(test_credits=CRUD_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--layer-sandbox-report", "coverage.json"
    )
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "*layer sandbox contract coverage*",
            f"operations exercised: 8/{OPERATIONS}; documented responses exercised: 8/*",
            "report written to coverage.json",
        ]
    )
    report = json.loads((pytester.path / "coverage.json").read_text())
    calls = {op_id: op["calls"] for op_id, op in report["operations"].items() if op["calls"]}
    # Both workers' requests are in the report, each counted once: 5 + 4 + 4 requests.
    assert sum(calls.values()) == 13
    assert calls["business.invoices.customer-credits.post"] == 5


def test_the_coverage_report_lists_what_was_and_was_never_exercised(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_list(layer_sandbox):
            client = layer_sandbox.client()
            client.get(f"/v1/businesses/{layer_sandbox.business_id}/invoices/customer-credits")
            client.get("/v1/businesses/b0000000-0000-4000-8000-00000000ffff/invoices/customer-credits")
            client.get("/whoami")
            client.get("/no/such/path")
        """
    )
    result = pytester.runpytest_inprocess(
        "--layer-sandbox-mode=inprocess", "--layer-sandbox-report", "out/report.json"
    )
    result.assert_outcomes(failed=1)  # the unknown path is off-contract
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    listing = report["operations"]["business.invoices.customer-credits.get"]
    assert listing["method"] == "GET"
    assert listing["path"] == "/v1/businesses/{businessId}/invoices/customer-credits"
    assert listing["calls"] == 2
    assert listing["responses"]["200"] == 1
    assert listing["responses"]["404"] == 1
    assert listing["responses"]["401"] == 0
    assert report["exercised"]["operations"] == [
        "business.invoices.customer-credits.get",
        "whoami.get",
    ]
    assert {"operation_id": "whoami.get", "status": "200"} in report["exercised"]["responses"]
    assert {"operation_id": "whoami.get", "status": "401"} in report["never_exercised"]["responses"]
    assert "business.bills.vendor-credits.post" in report["never_exercised"]["operations"]
    assert report["summary"]["operations"] == {
        "total": OPERATIONS,
        "exercised": 2,
        "never_exercised": OPERATIONS - 2,
    }
    assert report["summary"]["requests_without_operation"] == 1
    result.stdout.fnmatch_lines(
        [
            f"operations exercised: 2/{OPERATIONS}; *",
            "operations never called: *",
            "report written to *",
        ]
    )


def test_an_off_contract_request_fails_the_test_naming_the_violation(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        def post_bad_credit(layer_sandbox):
            return layer_sandbox.client().post(
                f"/v1/businesses/{layer_sandbox.business_id}/bills/vendor-credits",
                json={"line_items": [], "colour": "red"},
            )

        def test_bad_request(layer_sandbox):
            assert post_bad_credit(layer_sandbox).status_code == 400

        def test_expected_bad_request(layer_sandbox):
            with layer_sandbox.expect_off_contract():
                assert post_bad_credit(layer_sandbox).status_code == 400

        @pytest.mark.layer_sandbox(contract_failures=False)
        def test_bad_request_allowed_by_marker(layer_sandbox):
            post_bad_credit(layer_sandbox)

        def test_expected_but_none_sent(layer_sandbox):
            with layer_sandbox.expect_off_contract():
                layer_sandbox.client().get("/whoami")
        """
    )
    result = pytester.runpytest_inprocess("--layer-sandbox-mode=inprocess")
    result.assert_outcomes(passed=2, failed=2)
    assert_lines(
        result,
        "layer_sandbox: 1 request(s) in this test broke the contract:",
        "1. POST /v1/businesses/b0000000-0000-4000-8000-000000000001/bills/vendor-credits"
        " -> 400 (business.bills.vendor-credits.post): the request is off-contract",
        "   - body /colour: unknown field(s) 'colour'; allowed fields are: allocations, "
        "external_id, line_items, memo, metadata, received_at, reference_number, tags, "
        "vendor_external_id, vendor_id. [location body, pointer /colour, keyword "
        "additionalProperties]",
        "   - body /line_items: must have at least 1 item(s). [location body, pointer "
        "/line_items, keyword minItems]",
        "Sending such requests on purpose? Wrap them in `with layer_sandbox.expect_off_contract():`"
        ", mark the test `@pytest.mark.layer_sandbox(contract_failures=False)`, or turn the "
        "check off with --layer-sandbox-no-contract-failures.",
        "E       AssertionError: expected an off-contract request inside expect_off_contract(),"
        " but the 1 request(s) made in it were on contract:",
        "E           GET /whoami -> 200 (whoami.get)",
    )
    # Switched off in the ini file, the same requests pass.
    pytester.makeini("[pytest]\nlayer_sandbox_contract_failures = false\n")
    result = pytester.runpytest_inprocess("--layer-sandbox-mode=inprocess", "-k", "not none_sent")
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("lenient", [False, True])
def test_a_contract_violation_by_the_sandbox_fails_the_test(
    pytester: pytest.Pytester, lenient: bool
) -> None:
    # A contract whose whoami clientId must start with 5a: the example does, the sandbox's
    # answer for the default token does not.
    spec = BUILTIN_SPEC.read_text(encoding="utf-8")
    anchor = "              format: uuid\n              description: UUID of the API client.\n"
    assert anchor in spec
    pytester.path.joinpath("contract.yaml").write_text(
        spec.replace(anchor, anchor + "              pattern: '^5a'\n"), encoding="utf-8"
    )
    pytester.makepyfile(
        """
        def test_whoami(layer_sandbox):
            layer_sandbox.client().get("/whoami")
        """
    )
    args = ["--layer-sandbox-mode=inprocess", "--layer-sandbox-spec=contract.yaml"]
    result = pytester.runpytest_inprocess(*args, *(["--layer-sandbox-lenient"] if lenient else []))
    result.assert_outcomes(failed=1)
    assert_lines(
        result,
        "layer_sandbox: 1 request(s) in this test broke the contract:",
        f"1. GET /whoami -> {200 if lenient else 500} (whoami.get): the sandbox's response"
        " broke the contract",
        "   - The sandbox's 200 response to whoami.get breaks the OpenAPI document at"
        " /data/clientId: must match the pattern ^5a. [pointer /data/clientId, keyword pattern]",
    )


def test_assert_called_shows_what_was_called_instead(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_calls(layer_sandbox):
            client = layer_sandbox.client()
            credits = f"/v1/businesses/{layer_sandbox.business_id}/invoices/customer-credits"
            client.get(credits, params={"limit": 2})
            client.get(f"{credits}/cc000000-0000-4000-8000-000000000099")
            layer_sandbox.assert_not_called("business.invoices.customer-credits.post")
            layer_sandbox.assert_called("business.invoices.customer-credits.get_one", status=404)
            layer_sandbox.assert_called("business.invoices.customer-credits.get_one", times=1, status=200)

        def test_typo(layer_sandbox):
            layer_sandbox.assert_called("business.invoice.customer-credits.post")
        """
    )
    result = pytester.runpytest_inprocess("--layer-sandbox-mode=inprocess")
    result.assert_outcomes(failed=2)
    assert_lines(
        result,
        "E   AssertionError: expected business.invoices.customer-credits.get_one to be called"
        " 1 time(s) with status 200, but it was called 0 time(s) with status 200.",
        "E   Requests this test made (2):",
        "E         1. GET /v1/businesses/b0000000-0000-4000-8000-000000000001/invoices/customer-credits?limit=2 -> 200"
        " (business.invoices.customer-credits.get)",
        "E     <-- 2. GET /v1/businesses/b0000000-0000-4000-8000-000000000001/invoices/customer-credits/cc000000-0000-4000-8000-000000000099"
        " -> 404 (business.invoices.customer-credits.get_one)",
        "E   Calls to business.invoices.customer-credits.get_one by status: 404 x1.",
        "E   ValueError: 'business.invoice.customer-credits.post' is not an operationId of the"
        " contract. Did you mean 'business.invoices.customer-credits.post'? Known: ",
    )


def test_options_come_from_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nlayer_sandbox_mode = inprocess\nlayer_sandbox_seed = 7\n"
        "layer_sandbox_report = reports/contract.json\n"
    )
    pytester.makepyfile(
        """
        IDS = []

        def create(layer_sandbox):
            response = layer_sandbox.client().post(
                f"/v1/businesses/{layer_sandbox.business_id}/invoices/customer-credits",
                json={"customer_id": "c0000000-0000-4000-8000-000000000001", "line_items": [
                    {"amount": 100, "revenue_account_identifier": {"type": "StableName", "stable_name": "SALES"}}]},
            )
            return response.json()["data"]["id"]

        def test_first(layer_sandbox):
            assert layer_sandbox.mode == "inprocess"
            assert layer_sandbox.url == "http://layer-sandbox.test"
            IDS.append(create(layer_sandbox))

        def test_second_gets_the_same_id(layer_sandbox):
            IDS.append(create(layer_sandbox))
            assert IDS[0] == IDS[1]
        """
    )
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=2)
    assert (pytester.path / "reports" / "contract.json").is_file()
    result = pytester.runpytest_inprocess("--layer-sandbox-mode=banana")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--layer-sandbox-mode: invalid choice: 'banana'*"])


def test_a_sandbox_that_cannot_start_says_why(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_anything(layer_sandbox):\n    pass\n")
    result = pytester.runpytest_inprocess("--layer-sandbox-fixtures=no-such-dir")
    result.assert_outcomes(errors=1)
    assert_lines(
        result,
        "layer_sandbox: the sandbox cannot start: "
        f"{pytester.path / 'no-such-dir'}: the fixtures directory does not exist",
    )
