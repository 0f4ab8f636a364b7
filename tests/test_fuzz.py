"""Schemathesis fuzzes the sandbox in-process against the document it serves at /openapi.json.

Stateless (examples, coverage, fuzzing; positive and negative data) and stateful (driven by the
spec's links: create, then fetch, update and delete the created credit), with every check on.
The budget is bounded for CI; FUZZ_EXAMPLES raises it for a longer local run.
"""

import os
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from mockserver import Config, create_app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))

# A token map holding only the fuzz credentials, so that the ignored-auth check can tell an
# accepted token from a rejected one (by default any non-empty token is accepted).
app = create_app(
    Config(tokens={"fuzz-token": frozenset({"*"})}, clients={"fuzz-client": "fuzz-secret"})
)
config = SchemathesisConfig.from_path(str(ROOT / "schemathesis.toml"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck)
)


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_keeps_the_contract(case: schemathesis.Case) -> None:
    app.state.sandbox.store.reset()
    case.call_and_validate()


StatefulMachine = schema.as_state_machine()


class LinkedCalls(StatefulMachine):  # type: ignore[misc,valid-type]
    def setup(self) -> None:
        app.state.sandbox.store.reset()


TestStatefulLinks = LinkedCalls.TestCase
TestStatefulLinks.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
