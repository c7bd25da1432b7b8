"""Field rules and list queries for the five inventory resources."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from domain.inventory.enumeration import TYPES, Resource
from domain.inventory.error import InvalidInputError, NotPermittedError

# Sizes a browser form or a scripted import plausibly needs, small enough that a record always
# fits comfortably in one response page.
MAX_NAME = 200
MAX_TEXT = 10_000
MAX_URL = 2048
MAX_VERSION = 64
MAX_TAG = 64
MAX_TAGS = 50
MAX_CONFIG = 64 * 1024
MAX_SIZE = 2**63 - 1  # bytes; the largest value a bigint column holds
MAX_ID = 2**63 - 1

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
# Beyond this a page is certainly empty; the bound keeps the value inside a bigint.
MAX_OFFSET = 2**31 - 1

SortField = Literal["id", "name", "created_at", "updated_at"]
SORT_FIELDS: tuple[SortField, ...] = ("id", "name", "created_at", "updated_at")

_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
# Fields that hold a name, URL or version: a value of only spaces is as good as missing.
_NOT_BLANK = ("name", "url", "version")


@dataclass(frozen=True, slots=True)
class Sort:
    """Order of a list: one field, then id, so equal values keep a stable order across pages."""

    field: SortField
    descending: bool


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A validated page request with its filters; every filter also narrows `total`."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    type: str | None = None
    tag: str | None = None
    q: str | None = None
    sort: Sort = Sort("id", False)


def parse_sort(value: str) -> Sort:
    """`name`, `-created_at`, ...: a field of SORT_FIELDS, descending with a leading `-`."""
    field = value.removeprefix("-")
    for known in SORT_FIELDS:
        if field == known:
            return Sort(known, value.startswith("-"))
    allowed = ", ".join(f"{f}, -{f}" for f in SORT_FIELDS)
    raise InvalidInputError("sort", f"unknown sort {value!r}; use one of {allowed}")


def list_query(
    resource: Resource,
    *,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    type: str | None = None,
    tag: str | None = None,
    q: str | None = None,
    sort: str | None = None,
) -> ListQuery:
    """Check a list request's parameters against the contract and build its query."""
    if not 0 <= limit <= MAX_LIMIT:
        raise InvalidInputError("limit", f"must be between 0 and {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInputError("offset", f"must be between 0 and {MAX_OFFSET}")
    if type is not None and type not in TYPES[resource]:
        raise InvalidInputError(
            "type", f"unknown type {type!r}; use one of {', '.join(TYPES[resource])}"
        )
    return ListQuery(
        limit=limit,
        offset=offset,
        type=type,
        tag=tag or None,
        q=q.strip() or None if q is not None else None,
        sort=parse_sort(sort) if sort else Sort("id", False),
    )


def check_fields(resource: Resource, fields: Mapping[str, object]) -> None:
    """Rules a decoder's types cannot state; `fields` holds only the fields being written."""
    for name in _NOT_BLANK:
        value = fields.get(name)
        if isinstance(value, str) and not value.strip():
            raise InvalidInputError(name, "must not be blank")
    tags = fields.get("tags")
    if isinstance(tags, list):
        for i, tag in enumerate(tags):
            if not isinstance(tag, str) or not tag.strip():
                raise InvalidInputError(f"tags[{i}]", "must be a non-blank string")
    if resource == "packages" and isinstance(fields.get("version"), str):
        check_semver(str(fields["version"]))
    config = fields.get("config")
    if isinstance(config, str):
        check_config(config)


def check_semver(version: str) -> None:
    """A package version is a semantic version (`1.0.0`, `2.1.0-rc.1+build.5`)."""
    if not _SEMVER.fullmatch(version):
        raise InvalidInputError("version", f"{version!r} is not a semantic version like 1.0.0")


def check_config(config: str) -> None:
    """`config` is a string holding a JSON object, which clients parse before using it."""
    try:
        value = json.loads(config)
    except ValueError as exc:
        raise InvalidInputError("config", f"is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise InvalidInputError("config", "must hold a JSON object")


def check_may_change(owner_id: str | None, caller_id: str, caller_is_admin: bool) -> None:
    """Only the record's creator, or an admin, may change or delete it."""
    if caller_is_admin or (owner_id is not None and owner_id == caller_id):
        return
    raise NotPermittedError("only the user who created this record, or an admin, may change it")
