"""Tag dimensions: the keys a business tags its records with, and their defined values.

A dimension is stored once per business under ``tag_dimensions``; the business index
``tag_dimension_keys`` maps the key of each live (not deleted) dimension to its id, and
``render_tag`` reads it so that ``transaction_tags`` name the dimension's and its values' ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from ..engine.dispatch import Behaviour, Call, Reply, find_business
from ..engine.store import IdFactory, Record, Store
from ..errors import BadRequest, NotFound, Problem
from .balances import body_problem
from .render import tag_definition_id, tag_dimension_id

DEFAULT_STRICTNESS = "NON_BALANCING"


def render_dimension(dimension: Record) -> Record:
    return {
        "id": dimension["id"],
        "key": dimension["key"],
        "display_name": dimension["display_name"],
        "strictness": dimension["strictness"],
        "user_visible": dimension["user_visible"],
        "defined_values": [render_value(dimension, v) for v in dimension["defined_values"]],
        "created_at": dimension["created_at"],
        "updated_at": dimension["updated_at"],
        "deleted_at": dimension["deleted_at"],
    }


def render_value(dimension: Record, value: Record) -> Record:
    return {
        "id": value["id"],
        "dimension_id": dimension["id"],
        "key": dimension["key"],
        "value": value["value"],
        "display_name": value["display_name"],
        "archived_at": value["archived_at"],
    }


def _new_value(business_id: str, key: str, params: Mapping[str, Any]) -> Record:
    """A new value; its id is the ``definition_id`` tags with this key and value already showed."""
    return {
        "id": tag_definition_id(business_id, key, params["value"]),
        "value": params["value"],
        "display_name": params.get("display_name"),
        "archived_at": None,
    }


def stored_tags(ids: IdFactory, tags: Any) -> list[Record]:
    """A request's ``tags`` (on a credit, a document or a line) as the record keeps them: each with
    an id, the one it already has when an update starts from the stored record (``_id``)."""
    return [
        {
            "id": tag.get("_id") or ids.new(),
            "key": tag["key"],
            "value": tag["value"],
            "dimension_display_name": tag.get("dimension_display_name"),
            "value_display_name": tag.get("value_display_name"),
        }
        for tag in tags or ()
    ]


def store_dimension(business: Record, dimension: Record) -> None:
    """Add or replace a dimension; a live one holds its key in the business index."""
    business["tag_dimensions"][dimension["id"]] = dimension
    keys = business["index"].setdefault("tag_dimension_keys", {})
    if dimension["deleted_at"] is None:
        keys[dimension["key"]] = dimension["id"]
    elif keys.get(dimension["key"]) == dimension["id"]:
        del keys[dimension["key"]]


def _not_found(message: str, pointer: str) -> NotFound:
    return NotFound(Problem(message, {"location": "path", "pointer": pointer, "keyword": "exists"}))


def _by_id(business: Record, call: Call) -> Record:
    dimension_id = call.path["dimensionId"]
    dimension = business["tag_dimensions"].get(dimension_id)
    if dimension is None:
        raise _not_found(
            f"Tag dimension not found: no dimension {dimension_id} in this business; "
            "GET /tags/dimensions lists them.",
            "/dimensionId",
        )
    return dimension  # type: ignore[no-any-return]


def _by_key(business: Record, call: Call) -> Record:
    key = call.path["dimensionKey"]
    dimension_id = business["index"].get("tag_dimension_keys", {}).get(key)
    if dimension_id is None:
        raise _not_found(
            f"Tag dimension not found: no live dimension with key {key!r} in this business.",
            "/dimensionKey",
        )
    return business["tag_dimensions"][dimension_id]  # type: ignore[no-any-return]


def _live(dimension: Record, action: str) -> None:
    if dimension["deleted_at"] is not None:
        raise BadRequest(
            [
                Problem(
                    f"tag dimension {dimension['id']} ({dimension['key']!r}) was deleted at "
                    f"{dimension['deleted_at']}; a deleted dimension cannot {action}.",
                    {"location": "path", "pointer": "/dimensionId", "keyword": "deleted"},
                )
            ]
        )


def create(store: Store, call: Call) -> Reply:
    """POST: a new dimension (201), with its values; a key a live dimension holds is a 400."""
    with store.transaction():
        business = find_business(store, call)
        business_id = business["business"]["id"]
        params = call.body
        key = params["key"]
        holder = business["index"].get("tag_dimension_keys", {}).get(key)
        problems: list[Problem] = []
        if holder is not None:
            problems.append(
                body_problem(
                    "/key",
                    f"tag dimension {holder} already has key {key!r}; change it with PATCH "
                    f"/tags/dimensions/key/{key}, or add values with POST "
                    f"/tags/dimensions/{holder}/values.",
                    "unique",
                )
            )
        seen: dict[str, int] = {}
        for i, value in enumerate(params.get("values", [])):
            if value["value"] in seen:
                problems.append(
                    body_problem(
                        f"/values/{i}/value",
                        f"value {value['value']!r} is also /values/{seen[value['value']]}; "
                        "each value of a dimension is defined once.",
                        "unique",
                    )
                )
            seen.setdefault(value["value"], i)
        if problems:
            raise BadRequest(problems)
        dimension_id = tag_dimension_id(business_id, key)
        if dimension_id in business["tag_dimensions"]:  # a deleted one with this key
            dimension_id = store.ids.new()
        now = store.now()
        dimension: Record = {
            "id": dimension_id,
            "business_id": business_id,
            "key": key,
            "display_name": params.get("display_name"),
            "strictness": params.get("strictness", DEFAULT_STRICTNESS),
            "user_visible": params.get("user_visible", True),
            "defined_values": [],
            "created_at": now,
            "updated_at": now,
            "deleted_at": None,
        }
        dimension["defined_values"] = [
            _new_value(business_id, key, v) for v in params.get("values", [])
        ]
        store_dimension(business, dimension)
        return Reply(201, {"data": render_dimension(dimension)})


def list_dimensions(store: Store, call: Call) -> Reply:
    include_deleted = call.query.get("include_deleted", False)
    with store.transaction():
        business = find_business(store, call)
        dimensions = sorted(
            business["tag_dimensions"].values(), key=lambda d: (d["created_at"], d["id"])
        )
        data = [
            render_dimension(d) for d in dimensions if include_deleted or d["deleted_at"] is None
        ]
        meta = {"pagination": {"cursor": None, "has_more": False}}
        return Reply(200, {"data": data, "meta": meta})


def fetch(store: Store, call: Call) -> Reply:
    with store.transaction():
        business = find_business(store, call)
        return Reply(200, {"data": render_dimension(_by_id(business, call))})


def _patch(store: Store, business: Record, dimension: Record, params: Mapping[str, Any]) -> Reply:
    _live(dimension, "be updated")
    changed = dict(dimension)
    for name in ("display_name", "strictness", "user_visible"):
        if name in params:
            changed[name] = params[name]
    changed["updated_at"] = store.now()
    store_dimension(business, changed)
    return Reply(200, {"data": render_dimension(changed)})


def patch_by_id(store: Store, call: Call) -> Reply:
    with store.transaction():
        business = find_business(store, call)
        return _patch(store, business, _by_id(business, call), call.body)


def patch_by_key(store: Store, call: Call) -> Reply:
    with store.transaction():
        business = find_business(store, call)
        return _patch(store, business, _by_key(business, call), call.body)


def create_value(store: Store, call: Call) -> Reply:
    """POST a value: 201 new; 200 with the value as defined when the dimension has it."""
    with store.transaction():
        business = find_business(store, call)
        dimension = _by_id(business, call)
        _live(dimension, "take new values")
        for value in dimension["defined_values"]:
            if value["value"] == call.body["value"]:
                return Reply(200, {"data": render_value(dimension, value)})
        value = _new_value(business["business"]["id"], dimension["key"], call.body)
        changed = {
            **dimension,
            "defined_values": [*dimension["defined_values"], value],
            "updated_at": store.now(),
        }
        store_dimension(business, changed)
        return Reply(201, {"data": render_value(changed, value)})


def behaviours(store: Store) -> dict[str, Behaviour]:
    return {
        "business.tags.dimensions.post": partial(create, store),
        "business.tags.dimensions.get": partial(list_dimensions, store),
        "business.tags.dimensions.dimension.get": partial(fetch, store),
        "business.tags.dimensions.dimension.patch": partial(patch_by_id, store),
        "business.tags.dimensions.key.patch": partial(patch_by_key, store),
        "business.tags.dimensions.dimension.values.post": partial(create_value, store),
    }
