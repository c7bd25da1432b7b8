"""HMAC-signed local URLs: valid only for their key, method and lifetime."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from infra.blob import InvalidSignature, SignatureExpired
from infra.blob.signature import sign, signed_url, verify
from infra.blob.store import content_disposition

SECRET = "test-secret"


def _parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    q = parse_qs(split.query)
    return unquote(split.path.removeprefix("/blobs/")), q["exp"][0], q["sig"][0]


def test_a_signed_url_verifies_for_its_key_and_method() -> None:
    url = signed_url("http://api.example:8000/", SECRET, "GET", "runs/a b/ü.mp4", 60)
    assert url.startswith("http://api.example:8000/blobs/runs/a%20b/%C3%BC.mp4?exp=")
    key, exp, sig = _parts(url)
    assert key == "runs/a b/ü.mp4"
    verify(SECRET, "GET", key, exp, sig)
    verify(SECRET, "HEAD", key, exp, sig)  # HEAD reads what GET reads


@pytest.mark.parametrize(
    ("method", "key", "exp_delta", "sig_edit", "secret"),
    [
        ("GET", "other.bin", 0, None, SECRET),  # signed for another key
        ("PUT", "data.bin", 0, None, SECRET),  # a download link cannot upload
        ("GET", "data.bin", 3600, None, SECRET),  # expiry pushed out
        ("GET", "data.bin", 0, "flip", SECRET),  # signature altered
        ("GET", "data.bin", 0, None, "another-secret"),  # another deployment's key
    ],
)
def test_altered_urls_are_refused(
    method: str, key: str, exp_delta: int, sig_edit: str | None, secret: str
) -> None:
    _, exp, sig = _parts(signed_url("http://x", SECRET, "GET", "data.bin", 60))
    if sig_edit:
        sig = ("A" if sig[0] != "A" else "B") + sig[1:]
    with pytest.raises(InvalidSignature) as info:
        verify(secret, method, key, str(int(exp) + exp_delta), sig)
    assert not isinstance(info.value, SignatureExpired)


def test_an_expired_url_is_refused_as_expired() -> None:
    exp = int(time.time()) - 1
    with pytest.raises(SignatureExpired):
        verify(SECRET, "GET", "k", str(exp), sign(SECRET, "GET", "k", exp))


@pytest.mark.parametrize(("exp", "sig"), [(None, "x"), ("123", None), ("12a", "x"), ("", "")])
def test_unsigned_or_malformed_urls_are_refused(exp: str | None, sig: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify(SECRET, "GET", "k", exp, sig)


def test_without_a_secret_nothing_is_signed() -> None:
    with pytest.raises(InvalidSignature):
        signed_url("http://x", "", "GET", "k", 60)


def test_an_upload_signature_binds_its_content_type() -> None:
    url = signed_url("http://x", SECRET, "PUT", "in.png", 60, content_type="image/png")
    assert url.endswith("&ct=image%2Fpng")
    _, exp, sig = _parts(url)
    verify(SECRET, "PUT", "in.png", exp, sig, content_type="image/png")
    for other in ("", "text/html"):
        with pytest.raises(InvalidSignature):
            verify(SECRET, "PUT", "in.png", exp, sig, content_type=other)


def test_a_download_name_is_signed_and_made_header_safe() -> None:
    url = signed_url("http://x", SECRET, "GET", "k", 60, filename='a "b".txt')
    q = parse_qs(urlsplit(url).query)
    assert q["dl"] == ['a "b".txt']
    verify(SECRET, "GET", "k", q["exp"][0], q["sig"][0], filename='a "b".txt')
    with pytest.raises(InvalidSignature):
        verify(SECRET, "GET", "k", q["exp"][0], q["sig"][0], filename="other.txt")
    header = content_disposition('a "b"/ü.txt')
    assert header == "attachment; filename=\"a _b___.txt\"; filename*=UTF-8''a%20%22b%22_%C3%BC.txt"
    with pytest.raises(ValueError):
        content_disposition("bad\nname")
