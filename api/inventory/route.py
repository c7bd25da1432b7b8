"""The inventory routes: list, get, create, update and delete for each of the five resources,
plus the contract's health check and the fallbacks that keep 404/405 in the contract's shape."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

import asyncpg
import msgspec
from litestar import Controller, Request, Response, delete, get, post, put, route
from litestar.di import NamedDependency
from litestar.enums import HttpMethod
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter, SkipValidation

from api.inventory.access import reader
from api.inventory.error import ERRORS
from api.inventory.schema import (
    Dataset,
    DatasetCreate,
    DatasetPage,
    DatasetUpdate,
    Health,
    Package,
    PackageCreate,
    PackagePage,
    PackageUpdate,
    Repository,
    RepositoryCreate,
    RepositoryPage,
    RepositoryUpdate,
    Scenario,
    ScenarioCreate,
    ScenarioPage,
    ScenarioUpdate,
    Simulator,
    SimulatorCreate,
    SimulatorPage,
    SimulatorUpdate,
)
from api.inventory.service import Records
from api.state import from_request
from domain.inventory.enumeration import RESOURCES
from domain.inventory.rule import (
    DEFAULT_LIMIT,
    MAX_ID,
    MAX_LIMIT,
    MAX_NAME,
    MAX_OFFSET,
    MAX_TAG,
    SORT_FIELDS,
    ListQuery,
)
from infra.db.engine import retrying, statement, transaction
from infra.security import Principal

log = logging.getLogger("switchyard.api.inventory")

V = TypeVar("V", bound=msgspec.Struct)
Caller = SkipValidation[Principal]
RecordId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="The record's id")]


# What each kind of route answers besides success (reads: 401 for a bad token, or for no
# token while anonymous reads are off).
LIST_ERRORS = ERRORS.responses(400, 401)
GET_ERRORS = ERRORS.responses(400, 401, 404)
CREATE_ERRORS = ERRORS.responses(400, 401, 409, 413)
UPDATE_ERRORS = ERRORS.responses(400, 401, 403, 404, 409, 413)
DELETE_ERRORS = ERRORS.responses(400, 401, 403, 404)


async def readable(request: Request[Any, Any, Any]) -> None:
    """Runs before every read: a valid bearer token, unless reads are open to anonymous
    clients. A `before_request` hook rather than a guard: Litestar copies the route handler
    for every guard call, which cost more than the check itself."""
    await reader(request)


class ListParams(msgspec.Struct, frozen=True):
    limit: int
    offset: int
    type: str | None
    tag: str | None
    q: str | None
    sort: str | None


_SORTS = ", ".join(f"`{f}` / `-{f}`" for f in SORT_FIELDS)


async def list_params(
    limit: Annotated[
        int, QueryParameter(ge=0, le=MAX_LIMIT, description="Items per page")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description="Items to skip")] = 0,
    kind: Annotated[
        str | None, QueryParameter(name="type", description="Only records of this type")
    ] = None,
    tag: Annotated[
        str | None, QueryParameter(max_length=MAX_TAG, description="Only records with this tag")
    ] = None,
    q: Annotated[
        str | None,
        QueryParameter(
            max_length=MAX_NAME, description="Case-insensitive search in name and description"
        ),
    ] = None,
    sort: Annotated[
        str | None, QueryParameter(description=f"Order: {_SORTS} (default `id`)")
    ] = None,
) -> ListParams:
    """The list query parameters every resource shares."""
    return ListParams(limit=limit, offset=offset, type=kind, tag=tag, q=q, sort=sort)


class RecordRoutes(Generic[V]):
    """A resource's operations as its routes run them: on which engine, retried when safe."""

    def __init__(self, records: Records[V]) -> None:
        self.records = records

    async def page(
        self, request: Request[Any, Any, Any], params: ListParams
    ) -> tuple[list[V], int, ListQuery]:
        args = msgspec.structs.asdict(params)
        return await retrying(
            statement, from_request(request).autocommit, lambda c: self.records.page(c, args)
        )

    async def one(self, request: Request[Any, Any, Any], record_id: int) -> V:
        return await retrying(
            statement, from_request(request).autocommit, lambda c: self.records.one(c, record_id)
        )

    async def create(
        self, request: Request[Any, Any, Any], body: msgspec.Struct, caller: Principal
    ) -> V:
        # Not retried: the insert may have committed before a dropped connection said so.
        async with statement(from_request(request).autocommit) as conn:
            return await self.records.create(conn, body, caller)

    async def update(
        self,
        request: Request[Any, Any, Any],
        record_id: int,
        body: msgspec.Struct,
        caller: Principal,
    ) -> V:
        return await retrying(
            transaction,
            from_request(request).engine,
            lambda c: self.records.update(c, record_id, body, caller),
        )

    async def delete(
        self, request: Request[Any, Any, Any], record_id: int, caller: Principal
    ) -> None:
        await retrying(
            transaction,
            from_request(request).engine,
            lambda c: self.records.delete(c, record_id, caller),
        )


REPOSITORIES = RecordRoutes(Records("repositories", Repository))
DATASETS = RecordRoutes(Records("datasets", Dataset))
PACKAGES = RecordRoutes(Records("packages", Package))
SCENARIOS = RecordRoutes(Records("scenarios", Scenario))
SIMULATORS = RecordRoutes(Records("simulators", Simulator))

# `str` in the path, `int` in the handler: a non-numeric id then fails validation inside the
# router (a 400 in the contract's shape) instead of failing route matching (the platform's 404).
ITEM = "/{id:str}"


class RepositoryController(Controller):
    path = "/api/v1/repositories"
    tags = ["inventory: repositories"]

    @get("/", before_request=readable, summary="List repositories", responses=LIST_ERRORS)
    async def list_repositories(
        self, request: Request[Any, Any, Any], page: NamedDependency[ListParams]
    ) -> RepositoryPage:
        items, total, q = await REPOSITORIES.page(request, page)
        return RepositoryPage(items=items, total=total, limit=q.limit, offset=q.offset)

    @get(ITEM, before_request=readable, summary="Get a repository", responses=GET_ERRORS)
    async def get_repository(self, request: Request[Any, Any, Any], id: RecordId) -> Repository:
        return await REPOSITORIES.one(request, id)

    @post("/", summary="Create a repository", responses=CREATE_ERRORS)
    async def create_repository(
        self, request: Request[Any, Any, Any], data: JSONBody[RepositoryCreate], principal: Caller
    ) -> Repository:
        return await REPOSITORIES.create(request, data, principal)

    @put(ITEM, summary="Update the fields sent of a repository", responses=UPDATE_ERRORS)
    async def update_repository(
        self,
        request: Request[Any, Any, Any],
        id: RecordId,
        data: JSONBody[RepositoryUpdate],
        principal: Caller,
    ) -> Repository:
        return await REPOSITORIES.update(request, id, data, principal)

    @delete(ITEM, summary="Delete a repository", responses=DELETE_ERRORS)
    async def delete_repository(
        self, request: Request[Any, Any, Any], id: RecordId, principal: Caller
    ) -> None:
        await REPOSITORIES.delete(request, id, principal)


class DatasetController(Controller):
    path = "/api/v1/datasets"
    tags = ["inventory: datasets"]

    @get("/", before_request=readable, summary="List datasets", responses=LIST_ERRORS)
    async def list_datasets(
        self, request: Request[Any, Any, Any], page: NamedDependency[ListParams]
    ) -> DatasetPage:
        items, total, q = await DATASETS.page(request, page)
        return DatasetPage(items=items, total=total, limit=q.limit, offset=q.offset)

    @get(ITEM, before_request=readable, summary="Get a dataset", responses=GET_ERRORS)
    async def get_dataset(self, request: Request[Any, Any, Any], id: RecordId) -> Dataset:
        return await DATASETS.one(request, id)

    @post("/", summary="Create a dataset", responses=CREATE_ERRORS)
    async def create_dataset(
        self, request: Request[Any, Any, Any], data: JSONBody[DatasetCreate], principal: Caller
    ) -> Dataset:
        return await DATASETS.create(request, data, principal)

    @put(ITEM, summary="Update the fields sent of a dataset", responses=UPDATE_ERRORS)
    async def update_dataset(
        self,
        request: Request[Any, Any, Any],
        id: RecordId,
        data: JSONBody[DatasetUpdate],
        principal: Caller,
    ) -> Dataset:
        return await DATASETS.update(request, id, data, principal)

    @delete(ITEM, summary="Delete a dataset", responses=DELETE_ERRORS)
    async def delete_dataset(
        self, request: Request[Any, Any, Any], id: RecordId, principal: Caller
    ) -> None:
        await DATASETS.delete(request, id, principal)


class PackageController(Controller):
    path = "/api/v1/packages"
    tags = ["inventory: packages"]

    @get("/", before_request=readable, summary="List packages", responses=LIST_ERRORS)
    async def list_packages(
        self, request: Request[Any, Any, Any], page: NamedDependency[ListParams]
    ) -> PackagePage:
        items, total, q = await PACKAGES.page(request, page)
        return PackagePage(items=items, total=total, limit=q.limit, offset=q.offset)

    @get(ITEM, before_request=readable, summary="Get a package", responses=GET_ERRORS)
    async def get_package(self, request: Request[Any, Any, Any], id: RecordId) -> Package:
        return await PACKAGES.one(request, id)

    @post("/", summary="Create a package", responses=CREATE_ERRORS)
    async def create_package(
        self, request: Request[Any, Any, Any], data: JSONBody[PackageCreate], principal: Caller
    ) -> Package:
        return await PACKAGES.create(request, data, principal)

    @put(ITEM, summary="Update the fields sent of a package", responses=UPDATE_ERRORS)
    async def update_package(
        self,
        request: Request[Any, Any, Any],
        id: RecordId,
        data: JSONBody[PackageUpdate],
        principal: Caller,
    ) -> Package:
        return await PACKAGES.update(request, id, data, principal)

    @delete(ITEM, summary="Delete a package", responses=DELETE_ERRORS)
    async def delete_package(
        self, request: Request[Any, Any, Any], id: RecordId, principal: Caller
    ) -> None:
        await PACKAGES.delete(request, id, principal)


class ScenarioController(Controller):
    path = "/api/v1/scenarios"
    tags = ["inventory: scenarios"]

    @get("/", before_request=readable, summary="List scenarios", responses=LIST_ERRORS)
    async def list_scenarios(
        self, request: Request[Any, Any, Any], page: NamedDependency[ListParams]
    ) -> ScenarioPage:
        items, total, q = await SCENARIOS.page(request, page)
        return ScenarioPage(items=items, total=total, limit=q.limit, offset=q.offset)

    @get(ITEM, before_request=readable, summary="Get a scenario", responses=GET_ERRORS)
    async def get_scenario(self, request: Request[Any, Any, Any], id: RecordId) -> Scenario:
        return await SCENARIOS.one(request, id)

    @post("/", summary="Create a scenario", responses=CREATE_ERRORS)
    async def create_scenario(
        self, request: Request[Any, Any, Any], data: JSONBody[ScenarioCreate], principal: Caller
    ) -> Scenario:
        return await SCENARIOS.create(request, data, principal)

    @put(ITEM, summary="Update the fields sent of a scenario", responses=UPDATE_ERRORS)
    async def update_scenario(
        self,
        request: Request[Any, Any, Any],
        id: RecordId,
        data: JSONBody[ScenarioUpdate],
        principal: Caller,
    ) -> Scenario:
        return await SCENARIOS.update(request, id, data, principal)

    @delete(ITEM, summary="Delete a scenario", responses=DELETE_ERRORS)
    async def delete_scenario(
        self, request: Request[Any, Any, Any], id: RecordId, principal: Caller
    ) -> None:
        await SCENARIOS.delete(request, id, principal)


class SimulatorController(Controller):
    path = "/api/v1/simulators"
    tags = ["inventory: simulators"]

    @get("/", before_request=readable, summary="List simulators", responses=LIST_ERRORS)
    async def list_simulators(
        self, request: Request[Any, Any, Any], page: NamedDependency[ListParams]
    ) -> SimulatorPage:
        items, total, q = await SIMULATORS.page(request, page)
        return SimulatorPage(items=items, total=total, limit=q.limit, offset=q.offset)

    @get(ITEM, before_request=readable, summary="Get a simulator", responses=GET_ERRORS)
    async def get_simulator(self, request: Request[Any, Any, Any], id: RecordId) -> Simulator:
        return await SIMULATORS.one(request, id)

    @post("/", summary="Create a simulator", responses=CREATE_ERRORS)
    async def create_simulator(
        self, request: Request[Any, Any, Any], data: JSONBody[SimulatorCreate], principal: Caller
    ) -> Simulator:
        return await SIMULATORS.create(request, data, principal)

    @put(ITEM, summary="Update the fields sent of a simulator", responses=UPDATE_ERRORS)
    async def update_simulator(
        self,
        request: Request[Any, Any, Any],
        id: RecordId,
        data: JSONBody[SimulatorUpdate],
        principal: Caller,
    ) -> Simulator:
        return await SIMULATORS.update(request, id, data, principal)

    @delete(ITEM, summary="Delete a simulator", responses=DELETE_ERRORS)
    async def delete_simulator(
        self, request: Request[Any, Any, Any], id: RecordId, principal: Caller
    ) -> None:
        await SIMULATORS.delete(request, id, principal)


CONTROLLERS = [
    RepositoryController,
    DatasetController,
    PackageController,
    ScenarioController,
    SimulatorController,
]


@get(
    "/health",
    summary="Inventory health: the service and its database answer",
    tags=["inventory"],
    security=[{}],
    responses={
        503: ResponseSpec(
            Health, description="The database is unreachable", generate_examples=False
        ),
        **ERRORS.responses(),
    },
)
async def health(request: Request[Any, Any, Any]) -> Response[Health]:
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")

    async def ping(conn: asyncpg.Connection) -> None:
        await conn.fetchval("SELECT 1")

    try:
        await retrying(statement, from_request(request).autocommit, ping)
    except Exception as exc:
        log.warning("inventory health: database unreachable: %s", exc)
        return Response(Health(status="unhealthy", timestamp=now), status_code=503)
    return Response(Health(status="healthy", timestamp=now))


# Litestar answers unknown paths and methods before any router sees the request, with the
# platform's error shape; these hidden routes catch them under /inventory so clients of the
# contract get `{"error", "code"}` there too.
_ANY: list[HttpMethod] = [
    HttpMethod.GET,
    HttpMethod.POST,
    HttpMethod.PUT,
    HttpMethod.PATCH,
    HttpMethod.DELETE,
    HttpMethod.HEAD,
]


@route(
    [
        "/",
        "/{rest:path}",
        "/api/{rest:path}",
        "/api/v1/{rest:path}",
        *(f"/api/v1/{r}{ITEM}/{{rest:path}}" for r in RESOURCES),
    ],
    http_method=_ANY,
    include_in_schema=False,
)
async def unknown_route(request: Request[Any, Any, Any]) -> None:
    raise NotFoundException(f"no inventory route {request.method} {request.url.path}")


@route(
    [f"/api/v1/{r}" for r in RESOURCES],
    http_method=[HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE, HttpMethod.HEAD],
    include_in_schema=False,
)
async def collection_method(request: Request[Any, Any, Any]) -> None:
    raise MethodNotAllowedException(
        f"{request.method} is not allowed here; use GET or POST", headers={"Allow": "GET, POST"}
    )


@route(
    [f"/api/v1/{r}{ITEM}" for r in RESOURCES],
    http_method=[HttpMethod.POST, HttpMethod.PATCH, HttpMethod.HEAD],
    include_in_schema=False,
)
async def item_method(request: Request[Any, Any, Any]) -> None:
    raise MethodNotAllowedException(
        f"{request.method} is not allowed here; use GET, PUT or DELETE",
        headers={"Allow": "GET, PUT, DELETE"},
    )
