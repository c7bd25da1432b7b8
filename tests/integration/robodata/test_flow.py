"""The original page's flow through HTTP: login → robots → types → items → detail →
thumbnail → stream with Range → timeseries, after a scan that runs on the indexing pool."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import asyncpg
import av
from PIL import Image

from infra.db.engine import async_url
from tests.integration.robodata.conftest import V3_NAME, V21_NAME, Stack, lab
from tests.robodata_factory import FRONT, WRIST, DatasetSpec, episode_colour, write_dataset


async def test_the_original_pages_flow(stack: Stack) -> None:
    me = (await stack.get("/auth/me")).json()
    assert isinstance(me["id"], int) and me["username"] == "alice"
    assert stack.user["user"] == me

    status = await stack.index(lab(stack.settings))
    assert status["status"] == "completed", status
    assert (status["progress"], status["totalEpisodes"], status["processedEpisodes"]) == (100, 6, 6)

    robots = (await stack.get("/robots")).json()["robots"]
    assert [(r["name"], r["episodeCount"], r["typeCount"]) for r in robots] == [
        ("koch", 2, 1),
        ("so101_follower", 4, 1),
    ]
    types = (await stack.get("/robots/so101_follower/types")).json()["taskTypes"]
    assert [(t["name"], t["episodeCount"]) for t in types] == [("cleandesk", 4)]

    page = (
        await stack.get("/items", params={"robot": "so101_follower", "type": "cleandesk"})
    ).json()
    assert (page["total"], page["page"], page["pageSize"]) == (4, 1, 50)
    ids = [i["id"] for i in page["items"]]
    assert ids == sorted(ids, reverse=True)
    first = page["items"][-1]
    assert first["episodeId"] == "episode_000000"
    assert (first["totalFrames"], first["fps"], first["resolution"]) == (12, 30.0, "64x48")
    assert first["cameraCount"] == 2 and first["storagePath"].endswith(V3_NAME)

    detail = (await stack.get(f"/items/{first['id']}")).json()
    assert detail["robot"]["name"] == "so101_follower"
    assert detail["taskType"]["name"] == "cleandesk"
    assert [c["cameraKey"] for c in detail["cameras"]] == [FRONT, WRIST]
    assert detail["totalSizeBytes"] > 0

    # The thumbnail link of the list opens as a plain <img src>: no token.
    r = await stack.http.get(first["thumbnailUrl"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    pixel = Image.open(io.BytesIO(r.content)).convert("RGB").getpixel((32, 40))
    assert all(abs(a - b) < 24 for a, b in zip(pixel, episode_colour(0), strict=True))

    stream_url = f"/robodata/items/{first['id']}/stream"
    whole = await stack.http.get(stream_url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["etag"]
    with av.open(io.BytesIO(whole.content)) as video:
        assert video.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in video.decode(video=0)) == 12
    part = await stack.http.get(stream_url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert part.content == whole.content[100:200]
    same = await stack.http.get(stream_url, headers={"If-None-Match": whole.headers["etag"]})
    assert same.status_code == 304

    series = (await stack.http.get(detail["timeseriesUrl"], params={"max_points": 300})).json()
    assert len(series["timestamps"]) == 12 and len(series["action"][0]) == 6
    assert series["actionNames"][0] == "shoulder_pan"
    # The spike in the middle frame (100 + episode) survives.
    assert max(row[0] for row in series["action"]) == 100.0


async def test_an_av1_camera_streams_as_h264_and_resolutions_scale(stack: Stack) -> None:
    await stack.index(lab(stack.settings))
    item = (await stack.items(robot="so101_follower"))[-1]
    r = await stack.http.get(f"/robodata/items/{item['id']}/stream", params={"camera": "wrist"})
    assert r.status_code == 200, r.text
    with av.open(io.BytesIO(r.content)) as video:
        assert video.streams.video[0].codec_context.name == "h264"
    v21 = (await stack.items(robot="koch"))[-1]
    r = await stack.http.get(f"/robodata/items/{v21['id']}/stream", params={"resolution": "360p"})
    assert r.status_code == 200, r.text


async def test_a_v21_dataset_lists_and_plays(stack: Stack) -> None:
    await stack.index(lab(stack.settings) / V21_NAME)
    items = await stack.items()
    assert [i["episodeId"] for i in items] == ["episode_000001", "episode_000000"]
    assert {i["robot"] for i in items} == {"koch"}
    r = await stack.http.get(items[0]["thumbnailUrl"])
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
    series = (await stack.http.get(f"/robodata/items/{items[0]['id']}/timeseries")).json()
    assert len(series["timestamps"]) == 6


async def test_a_reindex_of_unchanged_datasets_keeps_item_ids(stack: Stack) -> None:
    await stack.index(lab(stack.settings))
    before = {(i["storagePath"], i["episodeId"]): i["id"] for i in await stack.items()}
    await stack.index(lab(stack.settings))
    after = {(i["storagePath"], i["episodeId"]): i["id"] for i in await stack.items()}
    assert before == after and len(after) == 6
    robots = (await stack.get("/robots")).json()["robots"]
    assert sum(r["episodeCount"] for r in robots) == 6


async def test_a_rescan_follows_a_changed_dataset_and_keeps_the_rest(stack: Stack) -> None:
    """Datasets parsed by the time the last write ends go to Postgres as one batch: an
    episode gone from one of them leaves, and nothing else of the batch moves."""
    await stack.index(lab(stack.settings))
    before = {(i["storagePath"], i["episodeId"]): i["id"] for i in await stack.items()}
    v21 = lab(stack.settings) / V21_NAME
    shutil.rmtree(v21)
    spec = DatasetSpec(
        version="v2.1",
        robot_type="koch",
        lengths=(8,),
        cameras={"observation.images.top": "libx264"},
    )
    write_dataset(v21, spec)
    status = await stack.index(lab(stack.settings))
    assert (status["status"], status["processedEpisodes"]) == ("completed", 5)
    after = {(i["storagePath"], i["episodeId"]): i["id"] for i in await stack.items()}
    gone = (str(v21), "episode_000001")
    assert gone in before and gone not in after
    assert after == {k: v for k, v in before.items() if k != gone}
    robots = {r["name"]: r["episodeCount"] for r in (await stack.get("/robots")).json()["robots"]}
    assert robots == {"koch": 1, "so101_follower": 4}


async def test_a_listed_page_follows_any_write_to_the_catalog(
    stack: Stack, database_url: str
) -> None:
    """Pages are kept per API process by catalog version: a write by any means (here plain
    SQL, no code of ours) is seen by the next request, on every list that shows it."""
    await stack.index(lab(stack.settings))
    listed = await stack.items()
    v3 = (await stack.get("/datasets", params={"robot": "so101_follower"})).json()["datasets"][0]
    assert len((await stack.get(f"/datasets/{v3['id']}/items")).json()["items"]) == 4
    assert await stack.items() == listed  # the same again, now from the process's cache
    gone = next(i for i in listed if i["storagePath"] == v3["path"])
    conn = await asyncpg.connect(async_url(database_url).replace("+asyncpg", ""))
    try:
        await conn.execute("DELETE FROM robodata_items WHERE id = $1", gone["id"])
    finally:
        await conn.close()
    assert await stack.items() == [i for i in listed if i["id"] != gone["id"]]
    page = (await stack.get(f"/datasets/{v3['id']}/items")).json()["items"]
    assert gone["id"] not in [i["id"] for i in page] and len(page) == 3


async def test_datasets_list_with_base64_ids_that_page_their_items(stack: Stack) -> None:
    await stack.index(lab(stack.settings))
    listed = (await stack.get("/datasets", params={"robot": "so101_follower"})).json()["datasets"]
    assert [(d["name"], d["robot"], d["taskType"], d["episodeCount"]) for d in listed] == [
        (V3_NAME, "so101_follower", "cleandesk", 4)
    ]
    dataset_id = listed[0]["id"]
    page = (await stack.get(f"/datasets/{dataset_id}/items", params={"page_size": 3})).json()
    assert (page["total"], page["pageSize"], len(page["items"])) == (4, 3, 3)
    page2 = (
        await stack.get(f"/datasets/{dataset_id}/items", params={"page_size": 3, "page": 2})
    ).json()
    assert [i["episodeId"] for i in page2["items"]] == ["episode_000000"]


async def test_a_broken_episode_does_not_fail_the_scan(stack: Stack) -> None:
    v21 = Path(lab(stack.settings) / V21_NAME)
    (v21 / "data/chunk-000/episode_000001.parquet").unlink()
    status = await stack.index(v21)
    assert status["status"] == "completed"
    assert "episode_000001.parquet is missing" in status["errorMessage"]


async def test_a_dataset_with_its_videos_under_video_plays(stack: Stack) -> None:
    v3 = lab(stack.settings) / V3_NAME
    (v3 / "videos").rename(v3 / "video")
    status = await stack.index(v3)
    assert "missing" not in (status["errorMessage"] or "")
    assert "the videos are under video/" in status["errorMessage"]
    item = (await stack.items())[-1]
    r = await stack.http.get(f"/robodata/items/{item['id']}/stream")
    assert r.status_code == 200 and len(r.content) > 0
