"""The workflow with the blob store on S3 (a real SeaweedFS server): uploads, results and
downloads go through the bucket, and deleting the session empties it of that session's files."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import msgspec
import pytest

from infra.blob import S3BlobStore
from infra.blob.seaweed import SeaweedS3
from infra.settings import Settings
from tests.conftest import LiveApi
from tests.integration.rigging.conftest import Browser


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rigging_settings(settings: Settings, seaweed: SeaweedS3) -> Settings:
    blob = msgspec.structs.replace(
        settings.blob,
        backend="s3",
        s3_endpoint=seaweed.endpoint,
        s3_bucket=f"rig-{uuid.uuid4().hex[:12]}",
        s3_access_key=seaweed.access_key,
        s3_secret_key=seaweed.secret_key,
    )
    return msgspec.structs.replace(settings, blob=blob)


async def keys(settings: Settings) -> list[str]:
    store = S3BlobStore(
        bucket=settings.blob.s3_bucket,
        endpoint=settings.blob.s3_endpoint,
        access_key=settings.blob.s3_access_key,
        secret_key=settings.blob.s3_secret_key,
    )
    await store.open()
    try:
        return [entry.key async for entry in store.iter("")]
    finally:
        await store.close()


async def test_the_workflow_on_s3(
    browser: Callable[[], Browser], stack: LiveApi, small_obj: bytes, rigging_settings: Settings
) -> None:
    async with browser() as tab:
        path = await tab.uploaded("character.obj", small_obj)
        skeleton = await tab.finished("skeleton", {"input_file": path})
        skin = await tab.finished("skinning", {"input_file": skeleton["output_file"]})
        merged = await tab.finished(
            "merge",
            {
                "skeleton_file": skeleton["output_file"],
                "skinning_file": skin["output_file"],
                "output_format": "glb",
            },
        )
        assert merged["status"] == "completed", merged
        r = await tab.http.get(
            f"{stack.url}/rigging{merged['output_file']}", headers={"Range": "bytes=0-3"}
        )
        assert (r.status_code, r.content) == (206, b"glTF")
        assert len(await keys(rigging_settings)) == 4
        disk = (await tab.http.get("/disk-space")).json()
        assert disk["total"] > 0  # the data directory's volume: S3 reports no capacity
        r = await tab.http.delete(f"/sessions/{tab.session_id}", headers=tab.headers)
        assert r.status_code == 200 and r.json()["files_deleted"] == 4
        assert await keys(rigging_settings) == []
