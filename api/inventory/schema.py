"""Request and response Structs of the inventory contract, one set per resource.

Responses omit optional fields that are not set (the contract types them `field?: T`) but
always carry `tags` as an array. Create bodies take the contract's fields; update bodies take
any subset of them (a `PUT` changes only the fields sent). Both accept and ignore the read-only
`id`, `created_at` and `updated_at`, so a client may send back an object it read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from domain.inventory.enumeration import (
    DatasetFormat,
    DatasetType,
    PackageType,
    RepositoryLanguage,
    RepositoryType,
    ScenarioType,
    SimulatorType,
)
from domain.inventory.rule import (
    MAX_CONFIG,
    MAX_NAME,
    MAX_SIZE,
    MAX_TAG,
    MAX_TAGS,
    MAX_TEXT,
    MAX_URL,
    MAX_VERSION,
)

Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME, description="Unique per resource")]
Description = Annotated[str, Meta(max_length=MAX_TEXT)]
Url = Annotated[str, Meta(min_length=1, max_length=MAX_URL)]
Version = Annotated[str, Meta(min_length=1, max_length=MAX_VERSION)]
SemVer = Annotated[
    str, Meta(min_length=1, max_length=MAX_VERSION, description="Semantic version, e.g. 1.0.0")
]
Config = Annotated[str, Meta(max_length=MAX_CONFIG, description="A JSON object, as a string")]
Size = Annotated[int, Meta(ge=0, le=MAX_SIZE, description="Size in bytes")]
Tags = Annotated[
    list[Annotated[str, Meta(min_length=1, max_length=MAX_TAG)]], Meta(max_length=MAX_TAGS)
]

READ_ONLY = frozenset({"id", "created_at", "updated_at"})


class Error(msgspec.Struct):
    """The contract's error body."""

    error: str
    code: str


class Health(msgspec.Struct):
    status: str
    timestamp: str


class _Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Read-only fields a client may echo back; they are ignored."""

    id: int | UnsetType | None = UNSET
    created_at: str | UnsetType | None = UNSET
    updated_at: str | UnsetType | None = UNSET


def written_fields(body: msgspec.Struct) -> dict[str, object]:
    """The fields a request body sets, without the ignored read-only ones."""
    return {
        name: value
        for name in body.__struct_fields__
        if name not in READ_ONLY and (value := getattr(body, name)) is not UNSET
    }


# --- repositories -------------------------------------------------------------------------


class Repository(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: int
    name: str
    url: str
    type: RepositoryType
    description: str | None = None
    language: RepositoryLanguage | None = None
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class RepositoryCreate(_Body, kw_only=True):
    name: Name
    url: Url
    type: RepositoryType
    description: Description | None = None
    language: RepositoryLanguage | None = None
    tags: Tags = msgspec.field(default_factory=list)


class RepositoryUpdate(_Body, kw_only=True):
    name: Name | UnsetType = UNSET
    url: Url | UnsetType = UNSET
    type: RepositoryType | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    language: RepositoryLanguage | UnsetType | None = UNSET
    tags: Tags | UnsetType = UNSET


class RepositoryPage(msgspec.Struct):
    items: list[Repository]
    total: int
    limit: int
    offset: int


# --- datasets -----------------------------------------------------------------------------


class Dataset(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: int
    name: str
    description: str | None = None
    type: DatasetType
    size: int | None = None
    location: str | None = None
    format: DatasetFormat | None = None
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class DatasetCreate(_Body, kw_only=True):
    name: Name
    description: Description | None = None
    type: DatasetType
    size: Size | None = None
    location: Url | None = None
    format: DatasetFormat | None = None
    tags: Tags = msgspec.field(default_factory=list)


class DatasetUpdate(_Body, kw_only=True):
    name: Name | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    type: DatasetType | UnsetType = UNSET
    size: Size | UnsetType | None = UNSET
    location: Url | UnsetType | None = UNSET
    format: DatasetFormat | UnsetType | None = UNSET
    tags: Tags | UnsetType = UNSET


class DatasetPage(msgspec.Struct):
    items: list[Dataset]
    total: int
    limit: int
    offset: int


# --- packages -----------------------------------------------------------------------------


class Package(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: int
    name: str
    version: str
    description: str | None = None
    type: PackageType
    repository: str | None = None
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class PackageCreate(_Body, kw_only=True):
    name: Name
    version: SemVer
    description: Description | None = None
    type: PackageType
    repository: Url | None = None
    tags: Tags = msgspec.field(default_factory=list)


class PackageUpdate(_Body, kw_only=True):
    name: Name | UnsetType = UNSET
    version: SemVer | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    type: PackageType | UnsetType = UNSET
    repository: Url | UnsetType | None = UNSET
    tags: Tags | UnsetType = UNSET


class PackagePage(msgspec.Struct):
    items: list[Package]
    total: int
    limit: int
    offset: int


# --- scenarios ----------------------------------------------------------------------------


class Scenario(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: int
    name: str
    description: str | None = None
    type: ScenarioType
    config: str | None = None
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class ScenarioCreate(_Body, kw_only=True):
    name: Name
    description: Description | None = None
    type: ScenarioType
    config: Config | None = None
    tags: Tags = msgspec.field(default_factory=list)


class ScenarioUpdate(_Body, kw_only=True):
    name: Name | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    type: ScenarioType | UnsetType = UNSET
    config: Config | UnsetType | None = UNSET
    tags: Tags | UnsetType = UNSET


class ScenarioPage(msgspec.Struct):
    items: list[Scenario]
    total: int
    limit: int
    offset: int


# --- simulators ---------------------------------------------------------------------------


class Simulator(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: int
    name: str
    description: str | None = None
    type: SimulatorType
    version: str | None = None
    config: str | None = None
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class SimulatorCreate(_Body, kw_only=True):
    name: Name
    description: Description | None = None
    type: SimulatorType
    version: Version | None = None
    config: Config | None = None
    tags: Tags = msgspec.field(default_factory=list)


class SimulatorUpdate(_Body, kw_only=True):
    name: Name | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    type: SimulatorType | UnsetType = UNSET
    version: Version | UnsetType | None = UNSET
    config: Config | UnsetType | None = UNSET
    tags: Tags | UnsetType = UNSET


class SimulatorPage(msgspec.Struct):
    items: list[Simulator]
    total: int
    limit: int
    offset: int
