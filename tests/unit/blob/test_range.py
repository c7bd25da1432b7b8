"""`Range` headers as the /blobs route reads them."""

from __future__ import annotations

import pytest

from api.blob import parse_range
from infra.blob import InvalidRange


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 10)),
        ("bytes=90-", 100, (90, 10)),
        ("bytes=90-200", 100, (90, 10)),  # clipped to the end
        ("bytes=-30", 100, (70, 30)),  # the last 30 bytes
        ("bytes=-300", 100, (0, 100)),
        ("bytes=99-99", 100, (99, 1)),
        (None, 100, None),
        ("bytes=0-1,5-6", 100, None),  # multi-range: served whole
        ("items=0-5", 100, None),
        ("bytes=9-3", 100, None),  # invalid: ignored
        ("bytes=-", 100, None),
    ],
)
def test_ranges(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=100-", 100), ("bytes=-0", 100), ("bytes=0-", 0)]
)
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(InvalidRange) as info:
        parse_range(header, size)
    assert info.value.size == size
