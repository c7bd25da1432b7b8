"""Update and delete: local edits run as jobs through the engine's atomic rewrites, and the
records follow the files (ids of the remaining episodes kept, never dangling)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from domain.robodata.parser import parse_dataset
from tests.integration.robodata.conftest import V3_NAME, V21_NAME, Stack, lab
from tests.robodata_factory import episode_colour


async def dataset_id(stack: Stack, robot: str) -> str:
    listed = (await stack.get("/datasets", params={"robot": robot})).json()["datasets"]
    return str(listed[0]["id"])


async def test_a_local_update_renames_the_folder_and_keeps_item_ids(stack: Stack) -> None:
    await stack.index(lab(stack.settings))
    before = {i["episodeId"]: i["id"] for i in await stack.items(robot="so101_follower")}
    ident = await dataset_id(stack, "so101_follower")
    r = await stack.http.put(
        f"/robodata/datasets/{ident}",
        json={"robot": "so101", "task_type": "tidy"},
        headers=stack.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    renamed = lab(stack.settings).resolve() / "so101_tidy_2026-01-01"
    assert (body["success"], body["robot"], body["taskType"]) == (True, "so101", "tidy")
    assert (body["storagePath"], body["updatedCount"]) == (str(renamed), 4)
    assert not (lab(stack.settings) / V3_NAME).exists()
    assert json.loads((renamed / "meta/info.json").read_text())["robot_type"] == "so101"
    after = {i["episodeId"]: i["id"] for i in await stack.items(robot="so101", type="tidy")}
    assert after == before
    names = [r["name"] for r in (await stack.get("/robots")).json()["robots"]]
    assert names == ["koch", "so101"]
    # Media still plays from the moved folder.
    item = after["episode_000000"]
    assert (await stack.http.get(f"/robodata/items/{item}/stream")).status_code == 200


async def test_a_records_only_update_leaves_the_files(stack: Stack) -> None:
    await stack.index(lab(stack.settings))
    ident = await dataset_id(stack, "koch")
    r = await stack.http.put(
        f"/robodata/datasets/{ident}",
        params={"update_local": "false"},
        json={"task_type": "pour"},
        headers=stack.headers,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["updatedCount"], r.json()["taskType"]) == (2, "pour")
    assert (lab(stack.settings) / V21_NAME).is_dir()
    types = (await stack.get("/robots/koch/types")).json()["taskTypes"]
    assert [(t["name"], t["episodeCount"]) for t in types] == [("pour", 2)]


async def test_edits_refuse_empty_fields_and_strangers(stack: Stack) -> None:
    await stack.index(lab(stack.settings))
    ident = await dataset_id(stack, "koch")
    r = await stack.http.put(
        f"/robodata/datasets/{ident}", json={"robot": " "}, headers=stack.headers
    )
    assert (r.status_code, r.json()) == (400, {"detail": "robot cannot be empty"})
    r = await stack.http.put(
        f"/robodata/datasets/{ident}",
        json={"storage_path": "/etc/elsewhere"},
        headers=stack.headers,
    )
    assert r.status_code == 403
    item = (await stack.items(robot="koch"))[0]["id"]
    await stack.login("mallory")
    r = await stack.http.delete(f"/robodata/items/{item}", headers=stack.headers)
    assert r.status_code == 403
    r = await stack.http.delete(f"/robodata/datasets/{ident}", headers=stack.headers)
    assert r.status_code == 403
    assert (lab(stack.settings) / V21_NAME / "data/chunk-000/episode_000000.parquet").exists()


async def test_deleting_a_v3_episode_rewrites_the_files_and_keeps_the_others_ids(
    stack: Stack,
) -> None:
    await stack.index(lab(stack.settings))
    before = {i["episodeId"]: i["id"] for i in await stack.items(robot="so101_follower")}
    r = await stack.http.delete(
        f"/robodata/items/{before['episode_000001']}", headers=stack.headers
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "success": True,
        "message": "Episode deleted",
        "itemId": before["episode_000001"],
    }
    on_disk = parse_dataset(lab(stack.settings) / V3_NAME, probe_videos=False)
    assert [e.index for e in on_disk.episodes] == [0, 1, 2]
    after = {i["episodeId"]: i["id"] for i in await stack.items(robot="so101_follower")}
    # Episodes 2 and 3 moved down one index on disk; their items kept their ids.
    assert after == {
        "episode_000000": before["episode_000000"],
        "episode_000001": before["episode_000002"],
        "episode_000002": before["episode_000003"],
    }
    r = await stack.get(f"/items/{before['episode_000001']}")
    assert r.status_code == 404
    # The item that was episode 2 still shows episode 2's footage.
    r = await stack.http.get(f"/robodata/items/{before['episode_000002']}/thumbnail")
    pixel = Image.open(io.BytesIO(r.content)).convert("RGB").getpixel((32, 40))
    assert all(abs(a - b) < 24 for a, b in zip(pixel, episode_colour(2), strict=True))
    robots = {r["name"]: r["episodeCount"] for r in (await stack.get("/robots")).json()["robots"]}
    assert robots["so101_follower"] == 3


async def test_deleting_records_only_leaves_the_files(stack: Stack) -> None:
    await stack.index(lab(stack.settings))
    item = (await stack.items(robot="koch"))[0]
    r = await stack.http.delete(
        f"/robodata/items/{item['id']}", params={"delete_local": "false"}, headers=stack.headers
    )
    assert r.status_code == 200, r.text
    assert len(parse_dataset(Path(item["storagePath"]), probe_videos=False).episodes) == 2
    assert len(await stack.items(robot="koch")) == 1
    ident = await dataset_id(stack, "koch")
    r = await stack.http.delete(f"/robodata/datasets/{ident}", headers=stack.headers)
    assert (r.status_code, r.json()["deletedCount"]) == (200, 1)
    assert (lab(stack.settings) / V21_NAME / "meta/info.json").exists()
    assert await stack.items(robot="koch") == []
    r = await stack.http.delete(f"/robodata/datasets/{ident}", headers=stack.headers)
    assert (r.status_code, r.json()) == (404, {"detail": "Dataset not found"})
