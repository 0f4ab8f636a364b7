"""Tag dimensions over HTTP: create, list, fetch, update by id and by key, define values, and the
ids tags on credits show. The fixture dimensions are listed in the README's fixture tables.

Responses are checked against openapi/layer-credits.yaml by the sandbox and by openapi-core.
"""

from __future__ import annotations

from typing import Any

import httpx
from conftest import BUSINESS, OTHER_BUSINESS
from starlette.testclient import TestClient

ROOT = f"/v1/businesses/{BUSINESS}"
DIMENSIONS = f"{ROOT}/tags/dimensions"
CREDITS = f"{ROOT}/invoices/customer-credits"
DEPARTMENT = "7a000000-0000-4000-8000-000000000001"  # retail, warehouse, wholesale, online
LOCATION = "7a000000-0000-4000-8000-000000000002"  # BALANCING: portland, seattle
PROJECT = "7a000000-0000-4000-8000-000000000003"  # deleted
CHANNEL = "7a000000-0000-4000-8000-000000000011"  # OTHER_BUSINESS
RETAIL = "7b000000-0000-4000-8000-000000000001"
PORTLAND = "7b000000-0000-4000-8000-000000000005"
CREDIT_1 = "cc000000-0000-4000-8000-000000000001"  # tagged department=retail
SALES = {"type": "StableName", "stable_name": "SALES"}


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


def refused(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    return " | ".join(
        f"{e['meta']['pointer']}: {e['description']}" for e in response.json()["errors"]
    )


def credit_tags(client: TestClient, tags: list[dict[str, str]]) -> list[dict[str, Any]]:
    body = {
        "customer_external_id": "cust-002",
        "line_items": [{"amount": 100, "revenue_account_identifier": SALES}],
        "tags": tags,
    }
    return ok(client.post(CREDITS, json=body), 201)["transaction_tags"]  # type: ignore[no-any-return]


def test_the_list_holds_the_live_fixture_dimensions_and_deleted_ones_on_request(
    client: TestClient,
) -> None:
    listed = client.get(DIMENSIONS).json()
    assert [d["id"] for d in listed["data"]] == [DEPARTMENT, LOCATION]
    assert listed["meta"]["pagination"] == {"cursor": None, "has_more": False}
    everything = ok(client.get(DIMENSIONS, params={"include_deleted": "true"}))
    assert [d["key"] for d in everything] == ["department", "location", "project"]
    assert everything[2]["deleted_at"] == "2024-04-01T00:00:00Z"
    department = everything[0]
    assert department["strictness"] == "NON_BALANCING" and department["user_visible"] is True
    values = {v["value"]: v for v in department["defined_values"]}
    assert values["retail"] == {
        "id": RETAIL,
        "dimension_id": DEPARTMENT,
        "key": "department",
        "value": "retail",
        "display_name": "Retail",
        "archived_at": None,
    }
    assert values["online"]["archived_at"] == "2024-03-01T00:00:00Z"
    other = ok(client.get(f"/v1/businesses/{OTHER_BUSINESS}/tags/dimensions"))
    assert [d["id"] for d in other] == [CHANNEL]


def test_fetch_by_id_deleted_ones_included_and_unknown_or_foreign_ones_are_404(
    client: TestClient,
) -> None:
    assert ok(client.get(f"{DIMENSIONS}/{LOCATION}"))["strictness"] == "BALANCING"
    assert ok(client.get(f"{DIMENSIONS}/{PROJECT}"))["deleted_at"] is not None
    assert "no dimension" in refused(client.get(f"{DIMENSIONS}/{CHANNEL}"), 404)
    assert "/dimensionId" in refused(client.get(f"{DIMENSIONS}/not-a-uuid"))


def test_fixture_tags_show_the_fixture_dimension_and_value_ids(client: TestClient) -> None:
    [tag] = ok(client.get(f"{CREDITS}/{CREDIT_1}"))["transaction_tags"]
    assert (tag["key"], tag["value"]) == ("department", "retail")
    assert (tag["dimension_id"], tag["definition_id"]) == (DEPARTMENT, RETAIL)


def test_a_created_dimension_keeps_the_ids_its_tags_already_showed(client: TestClient) -> None:
    [before] = credit_tags(client, [{"key": "region", "value": "north"}])
    created = ok(
        client.post(
            DIMENSIONS,
            json={"key": "region", "display_name": "Region", "values": [{"value": "north"}]},
        ),
        201,
    )
    assert created["id"] == before["dimension_id"]
    assert created["defined_values"][0]["id"] == before["definition_id"]
    assert created["strictness"] == "NON_BALANCING" and created["user_visible"] is True
    assert created["deleted_at"] is None
    # A value defined later gets the id tags with it already show, and new tags show the same.
    [south_before] = credit_tags(client, [{"key": "region", "value": "south"}])
    value = ok(client.post(f"{DIMENSIONS}/{created['id']}/values", json={"value": "south"}), 201)
    assert value["id"] == south_before["definition_id"]
    [south_after] = credit_tags(client, [{"key": "region", "value": "south"}])
    assert south_after["definition_id"] == value["id"]
    fetched = ok(client.get(f"{DIMENSIONS}/{created['id']}"))
    assert fetched["defined_values"] == [*created["defined_values"], value]
    assert fetched["updated_at"] >= created["updated_at"] == created["created_at"]
    assert [d["key"] for d in ok(client.get(DIMENSIONS))][-1] == "region"


def test_a_key_held_by_a_live_dimension_or_a_repeated_value_is_refused(client: TestClient) -> None:
    errors = refused(client.post(DIMENSIONS, json={"key": "department"}))
    assert DEPARTMENT in errors and "PATCH /tags/dimensions/key/department" in errors
    twice = {"key": "size", "values": [{"value": "s"}, {"value": "m"}, {"value": "s"}]}
    assert "/values/2/value" in refused(client.post(DIMENSIONS, json=twice))
    # The deleted dimension's key is free again; the new one gets an id of its own.
    project = ok(client.post(DIMENSIONS, json={"key": "project", "strictness": "BALANCING"}), 201)
    assert project["id"] != PROJECT and project["strictness"] == "BALANCING"
    assert "/strictness" in refused(client.post(DIMENSIONS, json={"key": "x", "strictness": "NO"}))
    assert "/colour" in refused(client.post(DIMENSIONS, json={"key": "y", "colour": "red"}))


def test_patch_by_id_and_by_key_change_only_what_is_given(client: TestClient) -> None:
    patched = ok(client.patch(f"{DIMENSIONS}/{LOCATION}", json={"display_name": "Store"}))
    assert patched["display_name"] == "Store" and patched["strictness"] == "BALANCING"
    by_key = ok(client.patch(f"{DIMENSIONS}/key/location", json={"strictness": "NON_BALANCING"}))
    assert by_key["display_name"] == "Store" and by_key["strictness"] == "NON_BALANCING"
    cleared = ok(client.patch(f"{DIMENSIONS}/{LOCATION}", json={"display_name": None}))
    assert cleared["display_name"] is None and cleared["id"] == LOCATION
    assert cleared["defined_values"][0]["id"] == PORTLAND
    assert ok(client.get(f"{DIMENSIONS}/{LOCATION}")) == cleared
    assert refused(client.patch(f"{DIMENSIONS}/{LOCATION}", json={}))
    assert "/key" in refused(client.patch(f"{DIMENSIONS}/{LOCATION}", json={"key": "site"}))


def test_deleted_unknown_and_foreign_dimensions_are_refused(client: TestClient) -> None:
    assert "deleted" in refused(
        client.patch(f"{DIMENSIONS}/{PROJECT}", json={"user_visible": True})
    )
    assert "deleted" in refused(client.post(f"{DIMENSIONS}/{PROJECT}/values", json={"value": "v"}))
    assert "'project'" in refused(
        client.patch(f"{DIMENSIONS}/key/project", json={"user_visible": True}), 404
    )
    assert "'channel'" in refused(
        client.patch(f"{DIMENSIONS}/key/channel", json={"user_visible": True}), 404
    )
    assert refused(client.post(f"{DIMENSIONS}/{CHANNEL}/values", json={"value": "v"}), 404)


def test_a_value_already_defined_answers_200_unchanged(client: TestClient) -> None:
    url = f"{DIMENSIONS}/{LOCATION}/values"
    existing = ok(client.post(url, json={"value": "portland", "display_name": "PDX"}))
    assert existing["id"] == PORTLAND and existing["display_name"] == "Portland"
    created = ok(client.post(url, json={"value": "tacoma", "display_name": "Tacoma"}), 201)
    assert created["dimension_id"] == LOCATION and created["key"] == "location"
    again = ok(client.post(url, json={"value": "tacoma"}))
    assert again == created
    values = ok(client.get(f"{DIMENSIONS}/{LOCATION}"))["defined_values"]
    assert [v["value"] for v in values] == ["portland", "seattle", "tacoma"]
    assert "/value" in refused(client.post(url, json={"value": ""}))


def test_dimensions_are_in_the_state_survive_nothing_across_reset_and_can_be_seeded(
    client: TestClient,
) -> None:
    ok(client.post(DIMENSIONS, json={"key": "region"}), 201)
    assert "region" in [
        d["key"] for d in client.get("/_sandbox/state").json()["data"]["tag_dimensions"]
    ]
    client.post("/_sandbox/reset")
    assert "region" not in [d["key"] for d in ok(client.get(DIMENSIONS))]
    seeded = client.post(
        "/_sandbox/records/tag_dimensions",
        json={"key": "season", "strictness": "NON_BALANCING", "defined_values": []},
    )
    assert seeded.status_code == 201, seeded.text
    assert "season" in [d["key"] for d in ok(client.get(DIMENSIONS))]
    taken = client.post(
        "/_sandbox/records/tag_dimensions", json={"key": "department", "strictness": "BALANCING"}
    )
    assert taken.status_code == 400 and DEPARTMENT in taken.text


def test_a_seeded_dimension_names_the_ids_of_the_tags_with_its_key(client: TestClient) -> None:
    body = {
        "customer_external_id": "cust-002",
        "line_items": [{"amount": 100, "revenue_account_identifier": SALES}],
        "tags": [{"key": "season", "value": "summer"}],
    }
    credit = ok(client.post(CREDITS, json=body), 201)
    [before] = credit["transaction_tags"]
    season = "7a000000-0000-4000-8000-0000000000aa"
    record = {"id": season, "key": "season", "defined_values": [{"value": "summer"}]}
    seeded = client.post("/_sandbox/records/tag_dimensions", json=record)
    assert seeded.status_code == 201, seeded.text
    [after] = ok(client.get(f"{CREDITS}/{credit['id']}"))["transaction_tags"]
    assert after["dimension_id"] == season != before["dimension_id"]
    assert after["definition_id"] == before["definition_id"]  # the value's id was derived
    dimension = ok(client.get(f"{DIMENSIONS}/{season}"))
    assert dimension["strictness"] == "NON_BALANCING"
    assert dimension["defined_values"][0]["id"] == before["definition_id"]
