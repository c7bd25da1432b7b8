"""Build the configured blob store from settings."""

from __future__ import annotations

from infra.blob.local import LocalBlobStore
from infra.blob.s3 import S3BlobStore
from infra.blob.store import BlobStore
from infra.settings import ApiSettings, BlobSettings, Settings


def make_blob_store(settings: Settings | BlobSettings, api: ApiSettings | None = None) -> BlobStore:
    """The store `settings.blob.backend` names (`local` or `s3`), not yet opened."""
    if isinstance(settings, Settings):
        blob, api = settings.blob, settings.api
    else:
        blob = settings
    api = api or ApiSettings()
    if blob.backend == "local":
        if not blob.root:
            raise ValueError("SWITCHYARD_BLOB_ROOT is empty")
        return LocalBlobStore(
            blob.root,
            signing_secret=blob.signing_secret,
            base_url=api.public_url or f"http://{api.host}:{api.port}",
            url_ttl_s=blob.url_ttl_s,
            max_upload_bytes=blob.max_upload_bytes,
        )
    if blob.backend == "s3":
        return S3BlobStore(
            bucket=blob.s3_bucket,
            endpoint=blob.s3_endpoint,
            public_endpoint=blob.s3_public_endpoint,
            region=blob.s3_region,
            access_key=blob.s3_access_key,
            secret_key=blob.s3_secret_key,
            url_ttl_s=blob.url_ttl_s,
            max_upload_bytes=blob.max_upload_bytes,
            multipart_threshold=blob.s3_multipart_threshold,
            part_size=blob.s3_part_size,
        )
    raise ValueError(f"unknown blob backend {blob.backend!r} (expected 'local' or 's3')")
