"""Every endpoint of the five resources, with the contract's own example bodies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from tests.integration.inventory.sample import (
    BASE,
    ENUM_ONLY,
    MINIMAL,
    RESOURCES,
    SAMPLES,
    assert_error,
    create,
)

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def assert_record(record: dict[str, Any], sent: dict[str, Any]) -> None:
    """The record holds what was sent, plus a server id and UTC timestamps."""
    assert isinstance(record["id"], int) and record["id"] >= 1
    assert ISO_UTC.match(record["created_at"]) and ISO_UTC.match(record["updated_at"])
    assert {k: v for k, v in record.items() if k not in ("id", "created_at", "updated_at")} == {
        "tags": [],
        **sent,
    }


@pytest.mark.parametrize("resource", RESOURCES)
async def test_create_get_list_update_delete(client: Any, member: Any, resource: str) -> None:
    alice = await member("alice")
    h, url = alice["headers"], f"{BASE}/{resource}"
    sample = SAMPLES[resource]

    r = await client.post(url, json=sample, headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert_record(created, sample)

    r = await client.get(f"{url}/{created['id']}", headers=h)
    assert r.status_code == 200 and r.json() == created

    r = await client.get(url, headers=h)
    assert r.status_code == 200
    assert r.json() == {"items": [created], "total": 1, "limit": 10, "offset": 0}

    r = await client.put(f"{url}/{created['id']}", json={"description": "changed"}, headers=h)
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated == {**created, "description": "changed", "updated_at": updated["updated_at"]}
    assert stamp(updated["updated_at"]) > stamp(created["updated_at"])
    r = await client.get(f"{url}/{created['id']}", headers=h)
    assert r.json() == updated

    r = await client.delete(f"{url}/{created['id']}", headers=h)
    assert r.status_code == 204 and r.content == b""
    assert_error(await client.get(f"{url}/{created['id']}", headers=h), 404, "NOT_FOUND")
    assert_error(await client.delete(f"{url}/{created['id']}", headers=h), 404, "NOT_FOUND")
    assert (await client.get(url, headers=h)).json()["total"] == 0


@pytest.mark.parametrize("resource", RESOURCES)
async def test_minimal_body_omits_unset_optionals_and_tags_are_an_array(
    client: Any, member: Any, resource: str
) -> None:
    alice = await member("alice")
    record = await create(client, alice["headers"], resource)
    assert_record(record, MINIMAL[resource])
    assert record["tags"] == []
    assert "description" not in record


@pytest.mark.parametrize("resource", sorted(ENUM_ONLY))
async def test_values_only_listed_under_type_enumerations_are_accepted(
    client: Any, member: Any, resource: str
) -> None:
    alice = await member("alice")
    field, value = ENUM_ONLY[resource]
    record = await create(client, alice["headers"], resource, **{field: value})
    assert record[field] == value


async def test_put_with_three_fields_keeps_the_others_like_the_contract_example(
    client: Any, member: Any
) -> None:
    alice = await member("alice")
    h = alice["headers"]
    dataset = (await client.post(f"{BASE}/datasets", json=SAMPLES["datasets"], headers=h)).json()
    r = await client.put(
        f"{BASE}/datasets/{dataset['id']}",
        json={"name": "updated-dataset", "type": "sensor", "format": "rosbag"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["name"] == "updated-dataset"
    for kept in ("description", "size", "location", "tags", "created_at", "id"):
        assert after[kept] == dataset[kept], kept


async def test_put_null_clears_an_optional_field_and_tags_can_be_replaced(
    client: Any, member: Any
) -> None:
    alice = await member("alice")
    h = alice["headers"]
    repo = (
        await client.post(f"{BASE}/repositories", json=SAMPLES["repositories"], headers=h)
    ).json()
    r = await client.put(
        f"{BASE}/repositories/{repo['id']}",
        json={"description": None, "language": None, "tags": ["nav"]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    after = r.json()
    assert "description" not in after and "language" not in after
    assert after["tags"] == ["nav"] and after["url"] == repo["url"]


async def test_read_only_fields_sent_back_are_ignored(client: Any, member: Any) -> None:
    alice = await member("alice")
    h = alice["headers"]
    body = {**SAMPLES["scenarios"], "id": 999, "created_at": "2000-01-01T00:00:00Z"}
    r = await client.post(f"{BASE}/scenarios", json=body, headers=h)
    assert r.status_code == 201, r.text
    scenario = r.json()
    assert scenario["id"] != 999 and not scenario["created_at"].startswith("2000")
    # A client that PUTs back the whole object it read changes nothing it may not change.
    r = await client.put(
        f"{BASE}/scenarios/{scenario['id']}",
        json={**scenario, "id": 5, "updated_at": "2000-01-01T00:00:00Z", "type": "hybrid"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["id"] == scenario["id"] and after["type"] == "hybrid"
    assert after["created_at"] == scenario["created_at"]
    assert_error(await client.get(f"{BASE}/scenarios/5", headers=h), 404, "NOT_FOUND")


async def test_records_of_one_resource_do_not_show_in_another(client: Any, member: Any) -> None:
    alice = await member("alice")
    h = alice["headers"]
    await create(client, h, "packages", name="same-name")
    # Names are unique per resource, not across them.
    await create(client, h, "repositories", name="same-name")
    for resource, total in (("packages", 1), ("repositories", 1), ("datasets", 0)):
        assert (await client.get(f"{BASE}/{resource}", headers=h)).json()["total"] == total
