"""One storage interface for every file Switchyard keeps: a local directory or S3."""

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
