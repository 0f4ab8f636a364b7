"""Schemathesis against real public documents nobody on the team wrote, served by the engine:
every operation answers examples and generated requests with no 5xx, and every response is
valid against the document (schema, content type, documented status)."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)
from schemathesis.config import SchemathesisConfig

from mockserver import Config, create_app

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
BASIC = "Basic " + base64.b64encode(b"user:secret").decode()
#: Credentials each document's security schemes take (any non-empty ones are accepted).
DOCUMENTS: dict[str, dict[str, str]] = {
    "swagger-petstore-v3.yaml": {"Authorization": "Bearer fuzz", "api_key": "fuzz"},
    "petstore-expanded.yaml": {},
    "redocly-museum.yaml": {"Authorization": BASIC},
    "twilio_messaging_v1.json": {"Authorization": BASIC},
    "link-example.yaml": {},
    "callback-example.yaml": {},
}
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck)
)

if not SPECS.is_dir():  # the team's sample documents sit beside the checkout
    pytest.skip("../shared/specs is not beside this checkout", allow_module_level=True)


def _fuzz(name: str, headers: dict[str, str]) -> Any:
    app = create_app(Config(spec=SPECS / name, seed=1))
    config = SchemathesisConfig.from_str('[generation]\nmode = "positive"\n')
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)

    @schema.parametrize()
    @FUZZ_SETTINGS
    def test(case: schemathesis.Case) -> None:
        app.state.sandbox.store.reset()
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    return test


test_petstore_v3 = _fuzz("swagger-petstore-v3.yaml", DOCUMENTS["swagger-petstore-v3.yaml"])
test_petstore_expanded = _fuzz("petstore-expanded.yaml", DOCUMENTS["petstore-expanded.yaml"])
test_museum_31 = _fuzz("redocly-museum.yaml", DOCUMENTS["redocly-museum.yaml"])
test_twilio = _fuzz("twilio_messaging_v1.json", DOCUMENTS["twilio_messaging_v1.json"])
test_link_example = _fuzz("link-example.yaml", DOCUMENTS["link-example.yaml"])
test_callback_example = _fuzz("callback-example.yaml", DOCUMENTS["callback-example.yaml"])
