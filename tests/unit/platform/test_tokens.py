"""Access tokens: verified once per process, but never trusted past their expiry or under
another secret."""

from __future__ import annotations

import time

import msgspec
import pytest

from infra.security import InvalidToken, Principal, decode_access_token, issue_access_token
from infra.settings import AuthSettings

ALICE = Principal(id="7d2f7d8e-5d0a-4a53-9a55-0b1c7a0f1b11", username="alice", roles=("user",))


def _settings(**kw: object) -> AuthSettings:
    return msgspec.structs.replace(AuthSettings(), jwt_secret="s" * 40, **kw)


def test_a_verified_token_keeps_working_and_names_its_user() -> None:
    settings = _settings()
    token = issue_access_token(settings, ALICE)
    assert decode_access_token(settings, token) == ALICE
    assert decode_access_token(settings, token) == ALICE  # second time: from the cache


def test_a_cached_token_is_rejected_once_it_expires() -> None:
    settings = _settings(access_ttl_s=1)
    token = issue_access_token(settings, ALICE)
    assert decode_access_token(settings, token) == ALICE
    time.sleep(2.1)  # exp has a resolution of one second
    with pytest.raises(InvalidToken, match="expired"):
        decode_access_token(settings, token)


def test_a_cached_token_is_not_trusted_under_another_secret_or_issuer() -> None:
    settings = _settings()
    token = issue_access_token(settings, ALICE)
    assert decode_access_token(settings, token) == ALICE
    with pytest.raises(InvalidToken):
        decode_access_token(msgspec.structs.replace(settings, jwt_secret="t" * 40), token)
    with pytest.raises(InvalidToken):
        decode_access_token(msgspec.structs.replace(settings, issuer="someone-else"), token)


def test_a_tampered_token_is_rejected_even_when_the_original_is_cached() -> None:
    settings = _settings()
    token = issue_access_token(settings, ALICE)
    decode_access_token(settings, token)
    header, claims, signature = token.split(".")
    forged = f"{header}.{claims}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with pytest.raises(InvalidToken):
        decode_access_token(settings, forged)
