"""What only the S3 backend has to get right, checked against the SeaweedFS server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from infra.blob import BackendUnavailable, BlobTooLarge
from infra.blob.seaweed import SeaweedS3
from tests.integration.blob.conftest import PART, s3_store


def _admin(seaweed: SeaweedS3) -> Any:
    """A plain boto3 client to look at the server's state independently of the store."""
    return boto3.client(
        "s3",
        endpoint_url=seaweed.endpoint,
        aws_access_key_id=seaweed.access_key,
        aws_secret_access_key=seaweed.secret_key,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


async def test_wrong_credentials_are_refused_by_the_server(seaweed: SeaweedS3) -> None:
    store = s3_store(seaweed, secret_key="not-the-secret")
    with pytest.raises(BackendUnavailable):
        await store.open()
    await store.close()


async def test_the_bucket_is_created_once_and_reused(seaweed: SeaweedS3) -> None:
    first = s3_store(seaweed)
    await first.open()
    await first.put("k", b"v")
    second = s3_store(seaweed, bucket=first.bucket)
    await second.open()  # already there: reused, not an error
    assert await second.read("k") == b"v"
    await first.close()
    await second.close()


async def test_an_aborted_multipart_upload_leaves_no_parts(seaweed: SeaweedS3) -> None:
    store = s3_store(seaweed)
    await store.open()

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield os.urandom(PART)

    with pytest.raises(BlobTooLarge):
        await store.put("huge.bin", stream(), max_bytes=3 * PART)
    await store.close()
    admin = _admin(seaweed)
    assert admin.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
    assert admin.list_objects_v2(Bucket=store.bucket).get("KeyCount", 0) == 0


async def test_presigned_urls_use_the_public_endpoint(seaweed: SeaweedS3) -> None:
    public = f"http://localhost:{seaweed.port}"
    store = s3_store(seaweed, public_endpoint=public)
    await store.open()
    await store.put("p.txt", b"public view")
    url = await store.download_url("p.txt", ttl_s=60)
    await store.close()
    assert url.startswith(f"{public}/{store.bucket}/p.txt?")
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).content == b"public view"
        # SigV4 signs the Host: the same link reached under another name is refused.
        internal = url.replace(public, seaweed.endpoint)
        assert (await client.get(internal)).status_code == 403
