"""Verification of Replicate's signed webhooks (the Standard Webhooks scheme).

Pure standard library, so the API process can check a delivery without the media extra.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

from domain.studio.error import StudioError


class WebhookRejected(StudioError):
    """A webhook whose headers, signature or timestamp do not check out."""


def verify_signature(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    tolerance_s: int = 300,
    now: float | None = None,
) -> str:
    """Check a delivery's signature and age; returns its `webhook-id` (same on retries)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not (msg_id and stamp and signatures):
        raise WebhookRejected("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(stamp)
    except ValueError as exc:
        raise WebhookRejected(f"webhook-timestamp {stamp!r} is not a number") from exc
    # Replay protection: a captured delivery stops verifying after the tolerance.
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        raise WebhookRejected(f"webhook timestamp is more than {tolerance_s} s away")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error as exc:
        raise WebhookRejected("the webhook secret is not base64 after 'whsec_'") from exc
    expected = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    # Several space-separated signatures appear while a secret is being rotated.
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except binascii.Error:
            continue
        if hmac.compare_digest(given, expected):
            return msg_id
    raise WebhookRejected("webhook signature is invalid")
