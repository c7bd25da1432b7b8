"""One storage interface for every file Switchyard keeps: a local directory or S3.

    store = make_blob_store(settings)          # settings.blob.backend: "local" | "s3"
    await store.open()
    meta = await store.put("rigging/42/model.glb", request.stream(), progress=report)
    async with await store.get(meta.key, offset=0, length=1024) as reader:
        async for chunk in reader: ...
    url = await store.download_url(meta.key)   # signed, expires after blob.url_ttl_s
    await store.close()

Keys are `/`-separated relative names (see `key.validate_key`); every failure is a
`BlobError` subclass with no HTTP in it; mapping them to statuses is the API's job.
"""

from infra.blob.error import (
    BackendUnavailable,
    BlobError,
    BlobNotFound,
    BlobTooLarge,
    InvalidKey,
    InvalidRange,
    InvalidSignature,
    KeyConflict,
    SignatureExpired,
)
from infra.blob.factory import make_blob_store
from infra.blob.key import validate_key, validate_prefix
from infra.blob.local import LocalBlobStore
from infra.blob.s3 import S3BlobStore
from infra.blob.store import BlobEntry, BlobMeta, BlobPage, BlobReader, BlobStore

__all__ = [
    "BackendUnavailable",
    "BlobEntry",
    "BlobError",
    "BlobMeta",
    "BlobNotFound",
    "BlobPage",
    "BlobReader",
    "BlobStore",
    "BlobTooLarge",
    "InvalidKey",
    "InvalidRange",
    "InvalidSignature",
    "KeyConflict",
    "LocalBlobStore",
    "S3BlobStore",
    "SignatureExpired",
    "make_blob_store",
    "validate_key",
    "validate_prefix",
]
