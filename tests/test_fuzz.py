"""Schemathesis fuzzes the sandbox in-process against the document it serves at /openapi.json.

Stateless (examples, coverage, fuzzing; positive and negative data) and stateful (driven by the
spec's links: create, then fetch, update and delete the created credit), with every check on.
The budget is bounded for CI; FUZZ_EXAMPLES raises it for a longer local run. The statuses each
operation reached are printed at the end of the run (see conftest.pytest_terminal_summary).
"""

import os
from collections import Counter, defaultdict

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import overrides

from mockserver import Config, create_app
from mockserver.tools.fuzz import fuzz_config

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CREDENTIALS = {
    "LAYER_SANDBOX_TOKEN": "fuzz-token",
    "LAYER_SANDBOX_CLIENT_ID": "fuzz-client",
    "LAYER_SANDBOX_CLIENT_SECRET": "fuzz-secret",
}

#: operationId -> status -> count, for the end-of-run report.
REACHED: defaultdict[str, Counter[int]] = defaultdict(Counter)

# A token map holding only the fuzz credentials, so that the ignored-auth check can tell an
# accepted token from a rejected one (by default any non-empty token is accepted).
app = create_app(
    Config(
        tokens={CREDENTIALS["LAYER_SANDBOX_TOKEN"]: frozenset({"*"})},
        clients={
            CREDENTIALS["LAYER_SANDBOX_CLIENT_ID"]: CREDENTIALS["LAYER_SANDBOX_CLIENT_SECRET"]
        },
    )
)
# schemathesis.toml with these credentials, as `mockserver fuzz` runs it.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    app,
    config=SchemathesisConfig.from_str(
        fuzz_config(
            CREDENTIALS["LAYER_SANDBOX_TOKEN"],
            CREDENTIALS["LAYER_SANDBOX_CLIENT_ID"],
            CREDENTIALS["LAYER_SANDBOX_CLIENT_SECRET"],
        )
    ),
)
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck)
)


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_keeps_the_contract(case: schemathesis.Case) -> None:
    app.state.sandbox.store.reset()
    response = case.call()
    REACHED[case.operation.definition.raw["operationId"]][response.status_code] += 1
    case.validate_response(response)


class LinkedCalls(schema.as_state_machine()):  # type: ignore[misc]
    def setup(self) -> None:
        app.state.sandbox.store.reset()

    def before_call(self, case: schemathesis.Case) -> None:
        # The configured [parameters] (businessId pinned to the fixture business), applied as
        # `schemathesis run` applies them in its stateful phase; the Python API's state machine
        # leaves them out of the calls that start a scenario, which then mostly answer 404.
        overrides.for_operation(schema.config, operation=case.operation).apply_to(case)

    def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
        REACHED[case.operation.definition.raw["operationId"]][response.status_code] += 1


TestStatefulLinks = LinkedCalls.TestCase
TestStatefulLinks.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
