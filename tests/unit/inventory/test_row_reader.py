"""The generated row readers build the same response a validating conversion would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from api.inventory.route import DATASETS, PACKAGES, REPOSITORIES, SCENARIOS, SIMULATORS
from api.inventory.schema import Dataset, Repository
from domain.inventory.enumeration import TYPES
from infra.db.inventory import _PUBLIC, row_reader

ALL = [r.records for r in (REPOSITORIES, DATASETS, PACKAGES, SCENARIOS, SIMULATORS)]
WHEN = datetime(2026, 11, 22, 6, 30, 1, 250000, tzinfo=UTC)
FULL: dict[str, Any] = {
    "url": "https://example.org/r.git",
    "description": "a record",
    "language": "Rust",
    "size": 1024,
    "location": "s3://bucket/set",
    "format": "parquet",
    "version": "1.2.3",
    "repository": "https://example.org/p.git",
    "config": '{"gravity": -9.81}',
}


def row(resource: str, optional: bool) -> tuple[Any, ...]:
    """A row in the resource's column order: every optional field set, or all left NULL."""
    values = {"id": 7, "name": "n", "type": TYPES[resource][-1], "tags": ["a", "b"]}
    values |= {"created_at": WHEN, "updated_at": WHEN}
    out = []
    for column in _PUBLIC[resource]:  # type: ignore[index]
        if column.name in values:
            out.append(values[column.name])
        elif column.nullable and not optional:
            out.append(None)
        else:
            out.append(FULL[column.name])
    return (*out, 99)  # a list row carries its page's total last


@pytest.mark.parametrize("records", ALL, ids=lambda r: r.resource)
@pytest.mark.parametrize("optional", [True, False], ids=["all-fields", "nulls"])
def test_reader_matches_a_validating_conversion(records: Any, optional: bool) -> None:
    r = row(records.resource, optional)
    names = [str(c.name) for c in _PUBLIC[records.resource]]
    expected = msgspec.convert(dict(zip(names, r, strict=False)), records.view)
    built = records._view(r)
    assert built == expected
    body = msgspec.json.decode(msgspec.json.encode(built))
    assert body["tags"] == ["a", "b"] and body["created_at"] == "2026-11-22T06:30:01.250000Z"
    assert ("description" in body) is optional  # unset optionals are left out, not null


def test_a_view_that_does_not_match_the_columns_is_refused() -> None:
    with pytest.raises(TypeError, match="are not the columns"):
        row_reader("repositories", Dataset)
    assert row_reader("repositories", Repository)(row("repositories", True)).id == 7
