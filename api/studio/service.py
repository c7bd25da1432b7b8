"""Studio operations the routes share: session views with fresh links, and which stored file a
URL names (approved URLs and `audio_url` are matched by key, never by the URL's text)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from api.error import BadRequest, Forbidden, NotFound
from api.studio.schema import AssetView, SessionView
from infra.blob.error import InvalidKey
from infra.blob.key import validate_key
from infra.blob.store import BlobStore
from infra.db import studio as repo


def parse_session_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound("Session not found") from exc


async def owned_session(conn: AsyncConnection, session_id: str, owner: uuid.UUID) -> Row[Any]:
    """The caller's session; another user's is as missing as one that never was."""
    row = await repo.get_session(conn, parse_session_id(session_id), owner)
    if row is None:
        raise NotFound("Session not found")
    return row


def named_key(url: str) -> str | None:
    """The blob key a link to our own store names (a signed `/blobs/<key>` link or a
    path-style S3 link), or a bare key; None for anything else. Keys are under `users/`."""
    if url.startswith("users/"):
        return url
    try:
        path = unquote(urlsplit(url).path)
    except ValueError:
        return None
    at = path.find("/users/")
    return path[at + 1 :] if at >= 0 else None


def own_key(key: str, root: str) -> str:
    """`key` when it is a valid key under the caller's `root`: 400 when malformed or
    escaping (`..`, `//`, controls), 403 when another user's."""
    try:
        validate_key(key)
    except InvalidKey as exc:
        raise BadRequest(f"Invalid file key: {exc}") from exc
    if not key.startswith(root):
        raise Forbidden("Access denied: the file is not yours")
    return key


def match_assets(urls: Sequence[str], assets: Sequence[Row[Any]], kind: str) -> list[int]:
    """The ids of the session's `kind` assets the URLs name, in the URLs' order."""
    by_key = {a.key: a.id for a in assets if a.type == kind}
    ids = []
    for url in urls:
        key = named_key(url)
        if key is None or key not in by_key:
            raise BadRequest(f"Not one of this session's {kind}s: {url[:200]}")
        ids.append(by_key[key])
    return ids


async def session_view(
    store: BlobStore, row: Row[Any], assets: Sequence[Row[Any]], ws_url: str | None = None
) -> SessionView:
    views = [
        AssetView(
            id=a.id,
            type=a.type,
            url=await store.download_url(a.key),
            approved=a.approved,
            order_index=a.order_index,
            created_at=a.created_at,
        )
        for a in assets
    ]
    return SessionView(
        id=str(row.id),
        status=row.status,
        prompt=row.prompt,
        video_prompt=row.video_prompt,
        final_video_url=await store.download_url(row.final_key) if row.final_key else None,
        created_at=row.created_at,
        completed_at=row.completed_at,
        assets=views,
        error=row.error,
        ws_url=ws_url,
    )
