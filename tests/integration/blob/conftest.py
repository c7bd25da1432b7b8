"""Blob-store fixtures: every test here runs against the local directory and a real
SeaweedFS S3 server (started once per session, with SigV4 credentials it checks)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from infra.blob import LocalBlobStore, S3BlobStore
from infra.blob.seaweed import SeaweedS3
from infra.blob.store import StoreBase

PART = 5 * 1024 * 1024  # S3's smallest part, so multipart paths run on a few MiB


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    server.start()
    yield server
    server.stop()


def s3_store(seaweed: SeaweedS3, **kwargs: object) -> S3BlobStore:
    """A store on a bucket of its own, so tests never see each other's keys."""
    options: dict[str, object] = {
        "bucket": f"t-{uuid.uuid4().hex[:12]}",
        "endpoint": seaweed.endpoint,
        "access_key": seaweed.access_key,
        "secret_key": seaweed.secret_key,
        "multipart_threshold": PART,
        "part_size": PART,
    }
    options.update(kwargs)
    return S3BlobStore(**options)  # type: ignore[arg-type]


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreBase]:
    """The same store interface on each backend."""
    s: StoreBase
    if request.param == "local":
        s = LocalBlobStore(tmp_path / "blobs", signing_secret="test", base_url="http://unused")
    else:
        s = s3_store(request.getfixturevalue("seaweed"))
    await s.open()
    yield s
    await s.close()
