"""Key validation: the one gate every backend passes keys through."""

from __future__ import annotations

import pytest

from infra.blob import InvalidKey, validate_key, validate_prefix


@pytest.mark.parametrize(
    "key",
    ["a", "runs/2024-05-01/episode_000001.mp4", "with space/ünïcødé.txt", "a..b/c.d", ".hidden/x"],
)
def test_ordinary_keys_are_accepted_unchanged(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "non-empty"),
        ("../etc/passwd", "'..'"),
        ("a/../../b", "'..'"),
        ("a/./b", "'.'"),
        ("..", "'..'"),
        ("/etc/passwd", "absolute"),
        ("a\x00b", "NUL"),
        ("a\\..\\b", "backslash"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("a\nb", "control character"),
        ("x" * 1025, "longer than 1024"),
        ("a/" + "y" * 256, "segment longer"),
        ("\udcff", "UTF-8"),
    ],
)
def test_unsafe_keys_are_refused_with_the_reason(key: str, why: str) -> None:
    with pytest.raises(InvalidKey, match=why):
        validate_key(key)


@pytest.mark.parametrize("prefix", ["", "runs/", "runs/2024-", "a"])
def test_prefixes_may_end_mid_segment_or_at_a_slash(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["../", "/abs", "a//", "a/../"])
def test_unsafe_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(InvalidKey):
        validate_prefix(prefix)
