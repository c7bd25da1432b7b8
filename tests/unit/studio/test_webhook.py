"""Webhook signatures: our verifier agrees with Replicate's client on the same deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from replicate.webhook import Webhooks, WebhookSigningSecret

from domain.studio.webhook import WebhookRejected, verify_signature

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
BODY = b'{"id":"p1","status":"succeeded","output":["https://replicate.delivery/x.png"]}'


def signed(secret: str, body: bytes, *, msg_id: str = "msg_1", stamp: int | None = None):
    """Headers of a delivery signed as Replicate signs them."""
    stamp = int(time.time()) if stamp is None else stamp
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def test_a_genuine_delivery_verifies_here_and_with_the_official_client() -> None:
    headers = signed(SECRET, BODY, msg_id="msg_abc")
    assert verify_signature(headers, BODY, SECRET) == "msg_abc"
    Webhooks.validate(
        headers=headers, body=BODY.decode(), secret=WebhookSigningSecret(key=SECRET), tolerance=300
    )
    # Header names are case-insensitive.
    assert verify_signature({k.title(): v for k, v in headers.items()}, BODY, SECRET)


def test_one_valid_signature_among_several_is_enough() -> None:
    good = signed(SECRET, BODY)["webhook-signature"]
    headers = signed(SECRET, BODY) | {"webhook-signature": f"v1,AAAA {good}"}
    assert verify_signature(headers, BODY, SECRET) == "msg_1"


# Headers are signed when the test runs, not when it is collected: a long session must not
# turn a tampered delivery into a stale one.
@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        (lambda: signed(SECRET, BODY), BODY.replace(b"p1", b"p2"), "signature is invalid"),
        (lambda: signed("whsec_" + base64.b64encode(b"x" * 32).decode(), BODY), BODY, "invalid"),
        (lambda: {"webhook-id": "msg_1"}, BODY, "missing"),
        (lambda: signed(SECRET, BODY) | {"webhook-timestamp": "soon"}, BODY, "not a number"),
    ],
    ids=["tampered", "other-secret", "incomplete", "bad-timestamp"],
)
def test_tampered_or_incomplete_deliveries_are_rejected(headers, body, message) -> None:
    with pytest.raises(WebhookRejected, match=message):
        verify_signature(headers(), body, SECRET)


def test_old_deliveries_are_rejected_as_replays() -> None:
    old = int(time.time()) - 3600
    with pytest.raises(WebhookRejected, match="more than 300 s away"):
        verify_signature(signed(SECRET, BODY, stamp=old), BODY, SECRET)
    assert verify_signature(signed(SECRET, BODY, stamp=old), BODY, SECRET, now=old + 10)
