"""HMAC-signed, expiring `/blobs/{key}?exp=&sig=` URLs for the local backend."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote

from infra.blob.error import InvalidSignature, SignatureExpired

ROUTE = "/blobs/"


def sign(
    secret: str, method: str, key: str, exp: int, content_type: str = "", filename: str = ""
) -> str:
    """The signature binding method, key, expiry, an upload's type and a download's name."""
    if not secret:
        raise InvalidSignature("no signing secret configured")
    # HEAD reads what GET reads; one signature serves both.
    method = "GET" if method.upper() == "HEAD" else method.upper()
    message = f"{method}\n{key}\n{exp}\n{content_type}\n{filename}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_url(
    base_url: str,
    secret: str,
    method: str,
    key: str,
    ttl_s: int,
    content_type: str = "",
    filename: str = "",
) -> str:
    """A URL under `base_url` that allows `method` on `key` for `ttl_s` seconds.

    With `content_type`, the request must declare exactly that type (as S3 presigning does);
    with `filename`, the download is served as an attachment of that name.
    """
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    exp = int(time.time()) + ttl_s
    sig = sign(secret, method, key, exp, content_type, filename)
    url = f"{base_url.rstrip('/')}{ROUTE}{quote(key, safe='/')}?exp={exp}&sig={sig}"
    if content_type:
        url += f"&ct={quote(content_type, safe='')}"
    if filename:
        url += f"&dl={quote(filename, safe='')}"
    return url


def verify(
    secret: str,
    method: str,
    key: str,
    exp: str | None,
    sig: str | None,
    *,
    content_type: str = "",
    filename: str = "",
    now: float | None = None,
) -> None:
    """Raise InvalidSignature unless `sig` is ours for this request, SignatureExpired if late."""
    if not exp or not sig:
        raise InvalidSignature("the URL is not signed (exp and sig are required)")
    if not exp.isascii() or not exp.isdigit() or len(exp) > 12:
        raise InvalidSignature("the URL's expiry is malformed")
    expected = sign(secret, method, key, int(exp), content_type, filename)
    # The signature is checked before the expiry so an altered `exp` reads as tampering.
    if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
        raise InvalidSignature("the URL's signature does not match")
    if int(exp) < (time.time() if now is None else now):
        raise SignatureExpired("the URL has expired")
