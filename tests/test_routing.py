"""Routing: static segments beat templated ones; unknown paths 404; wrong methods 405."""

import pytest

from mockserver.engine.routing import Router
from mockserver.engine.spec import compile_spec
from mockserver.errors import MethodNotAllowed, NotFound

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/things/{thingId}": {
            "parameters": [
                {"name": "thingId", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {"operationId": "things.get_one", "responses": {"200": {"description": "ok"}}},
            "delete": {"operationId": "things.delete", "responses": {"200": {"description": "ok"}}},
        },
        "/things/special": {
            "get": {"operationId": "things.special", "responses": {"200": {"description": "ok"}}}
        },
    },
}


@pytest.fixture
def router() -> Router:
    return Router(compile_spec(SPEC).operations)


def test_static_segment_beats_template(router: Router) -> None:
    op, params = router.match("GET", "/things/special")
    assert op.operation_id == "things.special"
    assert params == {}


def test_template_captures_decoded_segment(router: Router) -> None:
    op, params = router.match("GET", "/things/a%2Fb")
    assert op.operation_id == "things.get_one"
    assert params == {"thingId": "a/b"}


def test_wrong_method_is_405_with_allow(router: Router) -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        router.match("PUT", "/things/42")
    assert caught.value.headers["Allow"] == "DELETE, GET"


def test_static_path_owns_its_methods(router: Router) -> None:
    # /things/special is its own path: a method it lacks is a 405, not the templated path's.
    with pytest.raises(MethodNotAllowed) as caught:
        router.match("DELETE", "/things/special")
    assert caught.value.headers["Allow"] == "GET"


def test_unknown_path_is_404(router: Router) -> None:
    with pytest.raises(NotFound):
        router.match("GET", "/nothing/here")
    with pytest.raises(NotFound):
        router.match("GET", "/things/1/extra")
