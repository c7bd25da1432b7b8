"""The robodata routes: auth, taxonomy and listing, index and registration, episode media."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Hashable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlencode

import asyncpg
import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import (
    FromPath,
    FromQuery,
    JSONBody,
    PathParameter,
    QueryParameter,
    SkipValidation,
)

from api.access import signed_url
from api.auth import LoginRequest, RefreshRequest, password_login, rotate_refresh
from api.auth import TokenResponse as PlatformTokens
from api.blob import serve_blob
from api.error import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    GatewayTimeout,
    NotFound,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from api.principal import bearer_token
from api.robodata import service
from api.robodata.access import caller, media_access
from api.robodata.error import ERRORS, JOB_ERRORS
from api.robodata.schema import (
    CreateRequest,
    CreateResponse,
    DatasetDeleted,
    Datasets,
    DatasetUpdated,
    IndexStatus,
    ItemChanged,
    ItemDetail,
    ItemPage,
    ItemUpdate,
    Parsed,
    ParseRequest,
    ParseResponse,
    RegisterRequest,
    RegisterResponse,
    RobodataDatasetUpdate,
    RobodataTokens,
    RobodataUser,
    Robots,
    RrdRequest,
    RrdResponse,
    ScanRequest,
    ScanStarted,
    TaskTypes,
    Timeseries,
    ViewerRequest,
    ViewerResponse,
)
from api.robodata.state import state
from api.robodata.static import static_file_bytes
from api.state import from_request
from api.submit import JobRequest, run, submit, wait, wants_async
from api.upload import UploadPolicy, discard_uploads, receive_uploads, safe_filename, upload_route
from domain.robodata.catalog import (
    DatasetInfo,
    EpisodeInfo,
    RobotInfo,
    TaskInfo,
    episode_id,
    media_key,
)
from domain.robodata.error import InvalidNameError, NotADatasetError
from domain.robodata.naming import parse_name
from domain.robodata.path import within_roots
from infra.db import robodata as repo
from infra.db import user as users_repo
from infra.db.engine import retrying, statement
from infra.db.model import User
from infra.security import Principal

T = TypeVar("T")
Caller = SkipValidation[Principal]
PREFIX = "/robodata"
# Ids are Postgres bigints; a larger number is a 400, never a failed statement.
MAX_ID = 2**63 - 1
ItemId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="The item's integer id")]
Page = Annotated[int, QueryParameter(description="Page, from 1 (clamped to ≥ 1)")]
PageSize = Annotated[
    int | None, QueryParameter(description="Items per page (default 50, clamped to 1..200)")
]
Resolution = Literal["360p", "480p", "720p", "1080p"]
_NO_AUTH: list[dict[str, list[str]]] = [{}]


async def read(
    request: Request[Any, Any, Any], work: Callable[[asyncpg.Connection], Awaitable[T]]
) -> T:
    """Run a read on a pooled autocommit connection, again if Postgres dropped it."""
    return await retrying(statement, from_request(request).autocommit, work)


def _user(user: User) -> RobodataUser:
    return RobodataUser(
        id=user.number,
        username=user.username,
        displayName=user.display_name or user.username,
        roles=list(user.roles),
    )


def _tokens(user: User, tokens: PlatformTokens) -> RobodataTokens:
    """The platform's tokens in the contract's shape (its user id an integer)."""
    return RobodataTokens(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        user=_user(user),
    )


# --- auth -----------------------------------------------------------------------------------


@post(
    "/auth/login",
    status_code=200,
    summary="Log in",
    security=_NO_AUTH,
    tags=["robodata: auth"],
    responses=ERRORS.responses(400, 401, 413, 429, 503),
)
async def login(request: Request[Any, Any, Any], data: JSONBody[LoginRequest]) -> RobodataTokens:
    try:
        return _tokens(*await password_login(request, data))
    except Unauthorized as exc:
        raise Unauthorized("Invalid credentials") from exc


@post(
    "/auth/refresh",
    status_code=200,
    summary="New tokens for a refresh token",
    security=_NO_AUTH,
    tags=["robodata: auth"],
    responses=ERRORS.responses(400, 401, 413),
)
async def refresh(
    request: Request[Any, Any, Any], data: JSONBody[RefreshRequest]
) -> RobodataTokens:
    try:
        return _tokens(*await rotate_refresh(request, data))
    except Unauthorized as exc:
        raise Unauthorized("Invalid refresh token") from exc


@get(
    "/auth/me",
    summary="The logged-in user",
    tags=["robodata: auth"],
    responses=ERRORS.responses(400, 401),
)
async def me(request: Request[Any, Any, Any], member: Caller) -> RobodataUser:
    async with from_request(request).sessions() as session:
        user = await users_repo.get_by_id(session, uuid.UUID(member.id))
    if user is None or user.disabled:
        raise Unauthorized("Unauthorized")
    return _user(user)


# --- taxonomy and listing -------------------------------------------------------------------


def _linker(request: Request[Any, Any, Any]) -> Callable[[str, dict[str, str]], str]:
    """Absolute links to open media: plain while media is open, signed once it is not. The
    base URL is worked out once per request, not once per link: a page of items has fifty."""
    if not from_request(request).settings.robodata.open_media:
        return lambda path, params: signed_url(request, path, params)
    base = _link_base(request)
    return lambda path, params: f"{base}{path}" + (f"?{urlencode(params)}" if params else "")


def _link_base(request: Request[Any, Any, Any]) -> str:
    """Where media links point: the public URL when set, else the address the request used."""
    return (from_request(request).settings.api.public_url or str(request.base_url)).rstrip("/")


def links(request: Request[Any, Any, Any]) -> service.Link:
    """Media links of items for payloads."""
    make = _linker(request)
    return lambda item_id, what, params: make(f"{PREFIX}/items/{item_id}/{what}", params)


def _paging(request: Request[Any, Any, Any], page: int, page_size: int | None) -> service.Paging:
    policy = from_request(request).settings.robodata
    return service.Paging.clamp(page, page_size, policy.page_size, policy.max_page_size)


LISTING = ["robodata: catalog"]


@get("/robots", summary="Robots", responses=ERRORS.responses(400, 401), tags=LISTING)
async def list_robots(request: Request[Any, Any, Any], member: Caller) -> Robots:
    rows = await read(request, repo.list_robots)
    return Robots(robots=[service.robot_view(r) for r in rows])


@get(
    "/robots/{name:str}/types",
    summary="Task types of a robot",
    responses=ERRORS.responses(400, 401, 404),
    tags=LISTING,
)
async def robot_types(
    request: Request[Any, Any, Any], member: Caller, name: FromPath[str]
) -> TaskTypes:
    async def work(conn: asyncpg.Connection) -> TaskTypes:
        rows = await repo.list_task_types(conn, await service.robot_id(conn, name))
        return TaskTypes(taskTypes=[service.task_type_view(r) for r in rows])

    return await read(request, work)


@get("/task-types", summary="Task types", responses=ERRORS.responses(400, 401, 404), tags=LISTING)
async def task_types(
    request: Request[Any, Any, Any], member: Caller, robot: FromQuery[str | None] = None
) -> TaskTypes:
    async def work(conn: asyncpg.Connection) -> TaskTypes:
        robot_id = None if robot is None else await service.robot_id(conn, robot)
        rows = await repo.list_task_types(conn, robot_id)
        return TaskTypes(taskTypes=[service.task_type_view(r) for r in rows])

    return await read(request, work)


@get("/datasets", summary="Datasets", responses=ERRORS.responses(400, 401), tags=LISTING)
async def list_datasets(
    request: Request[Any, Any, Any],
    member: Caller,
    robot: FromQuery[str | None] = None,
    task_type: Annotated[str | None, QueryParameter(name="type")] = None,
) -> Datasets:
    rows = await read(request, lambda c: repo.list_datasets(c, robot, task_type))
    return Datasets(datasets=[service.dataset_view(r) for r in rows])


@get(
    "/datasets/{dataset_id:str}/items",
    summary="A dataset's items, newest first",
    responses=ERRORS.responses(400, 401, 404),
    tags=LISTING,
)
async def dataset_items(
    request: Request[Any, Any, Any],
    member: Caller,
    dataset_id: Annotated[str, PathParameter(description="url-safe base64 of the dataset path")],
    page: Page = 1,
    page_size: PageSize = None,
) -> ItemPage:
    paging, link = _paging(request, page, page_size), links(request)
    return await _page(
        request,
        ("dataset", dataset_id, paging),
        lambda c: service.dataset_items_page(c, dataset_id, paging, link),
    )


@get(
    "/items", summary="Every item, newest first", responses=ERRORS.responses(400, 401), tags=LISTING
)
async def list_items(
    request: Request[Any, Any, Any],
    member: Caller,
    robot: FromQuery[str | None] = None,
    task_type: Annotated[str | None, QueryParameter(name="type")] = None,
    page: Page = 1,
    page_size: PageSize = None,
) -> ItemPage:
    paging, link = _paging(request, page, page_size), links(request)
    return await _page(
        request,
        ("items", robot, task_type, paging),
        lambda c: service.items_page(c, robot, task_type, paging, link),
    )


async def _page(
    request: Request[Any, Any, Any],
    key: Hashable,
    work: Callable[[asyncpg.Connection], Awaitable[ItemPage]],
) -> ItemPage:
    """A page of items, from this process's cache while the catalog has not changed.

    Pages with open media links are the same for every caller, so they are kept; signed
    links expire, so those pages are read each time.
    """
    res = from_request(request)
    cache = state(request).pages if res.settings.robodata.open_media else None

    async def render(conn: asyncpg.Connection) -> ItemPage:
        if cache is None:
            return await work(conn)
        # The links' base is part of the page (a proxy may call us under several names).
        versioned = (await repo.catalog_version(conn), _link_base(request), key)
        page = cache.get(versioned)
        if page is None:
            page = await work(conn)
            cache.put(versioned, page)
        return page

    return await read(request, render)


# `str` in the path, `int` in the handler: a non-numeric id is a 400 in the contract's shape.
ITEM = "/items/{item_id:str}"


@get(
    ITEM,
    summary="An item with its cameras",
    responses=ERRORS.responses(400, 401, 404),
    tags=LISTING,
)
async def get_item(request: Request[Any, Any, Any], member: Caller, item_id: ItemId) -> ItemDetail:
    row = await read(request, lambda c: service.item_row(c, item_id))
    return service.item_detail(row, links(request))


# --- index and registration -----------------------------------------------------------------

INDEXING = ["robodata: index"]


async def _start_index(
    request: Request[Any, Any, Any],
    member: Principal,
    path: Path,
    robot: FromQuery[str | None] = None,
    task_type: str | None = None,
    assets: RegisterRequest | CreateRequest | None = None,
) -> tuple[int, str]:
    """Record an index task and submit the job that does it; (task id, job id). With
    `materialize_assets` in `assets`, the index job asks for the media to be made after it."""
    res = from_request(request)
    owner = uuid.UUID(member.id)
    async with statement(res.autocommit) as conn:
        task_id = await repo.new_task(conn, owner, str(path))
    payload = {"task_id": task_id, "path": str(path), "robot": robot, "task_type": task_type}
    if assets is not None:
        payload["materialize_assets"] = assets.materialize_assets
        payload["overwrite_assets"] = assets.overwrite_assets
    (job,) = await submit(res, owner, [JobRequest(kind="robodata.index", payload=payload)])
    async with statement(res.autocommit) as conn:
        await repo.attach_job(conn, task_id, job.id)
    return task_id, str(job.id)


def _inside_roots(request: Request[Any, Any, Any], path: str) -> Path:
    return within_roots(from_request(request).settings.robodata.roots, path)


@post(
    "/index/scan",
    status_code=200,
    summary="Index every dataset below a folder (a job on the indexing pool)",
    responses=ERRORS.responses(400, 401, 403, 404, 413),
    tags=INDEXING,
)
async def scan(
    request: Request[Any, Any, Any], member: Caller, data: JSONBody[ScanRequest]
) -> ScanStarted:
    path = _inside_roots(request, data.path)
    if not path.is_dir():
        raise NotADatasetError(f"{data.path} is not a folder")
    task_id, job_id = await _start_index(request, member, path)
    return ScanStarted(taskId=task_id, status="running", message="Index task started", jobId=job_id)


@get(
    "/index/status",
    summary="Where an index task is",
    responses=ERRORS.responses(400, 401, 404),
    tags=INDEXING,
)
async def index_status(
    request: Request[Any, Any, Any],
    member: Caller,
    task_id: Annotated[int, QueryParameter(ge=1, le=MAX_ID)],
) -> IndexStatus:
    return await read(request, lambda c: service.index_status(c, task_id, member))


PARSE_DEADLINE_S = 120.0


async def _preview(
    request: Request[Any, Any, Any], member: Principal, path: Path, name: str | None
) -> dict[str, Any]:
    """The parse-lerobot preview of a dataset, parsed by a job on the indexing pool."""
    _synchronous(request)
    outcome = await run(
        request,
        member,
        "robodata.parse",
        {"path": str(path), "name": name},
        deadline_s=PARSE_DEADLINE_S,
        job_errors=JOB_ERRORS,
    )
    assert not isinstance(outcome, Response)  # _synchronous refused respond-async
    result: dict[str, Any] = outcome.result
    return result


def _synchronous(request: Request[Any, Any, Any]) -> None:
    """Routes that chain several jobs answer only when all are done."""
    if wants_async(request):
        raise BadRequest("this route answers synchronously; do not send Prefer: respond-async")


def _check_v3_name(preview: dict[str, Any], name: str) -> None:
    """LeRobot v3 names datasets `{robot_type}_{task_name}_{YYYY-MM-DD}`."""
    info = preview["dataset_info"]
    if info["codebase_version"] != "v3.0":
        return
    try:
        parse_name(name, info["robot_type"])
    except InvalidNameError as first:
        try:
            parse_name(name)
        except InvalidNameError:
            raise first from None


@post(
    "/datasets/register",
    status_code=200,
    summary="Register one dataset under a robot and task type, then index it",
    responses=ERRORS.responses(400, 401, 403, 404, 413, 504),
    tags=INDEXING,
)
async def register(
    request: Request[Any, Any, Any], member: Caller, data: JSONBody[RegisterRequest]
) -> RegisterResponse:
    path = _inside_roots(request, data.path)
    name = data.dataset_name or path.name
    preview = await _preview(request, member, path, name)
    _check_v3_name(preview, name)
    robot, task_type = data.robot or preview["mapping"][0], data.task_type or preview["mapping"][1]
    task_id, job_id = await _start_index(request, member, path, robot, task_type, data)
    return RegisterResponse(
        taskId=task_id,
        status="running",
        message="Dataset registered; index task started",
        mappedRobot=robot,
        mappedTaskType=task_type,
        jobId=job_id,
    )


@post(
    "/datasets/parse-lerobot",
    status_code=200,
    summary="Parse a LeRobot dataset folder into a metadata preview (a job)",
    responses=ERRORS.responses(400, 401, 403, 404, 413, 504),
    tags=INDEXING,
)
async def parse_lerobot(
    request: Request[Any, Any, Any], member: Caller, data: JSONBody[ParseRequest]
) -> ParseResponse:
    path = _inside_roots(request, data.dataset_path)
    preview = await _preview(request, member, path, data.dataset_name)
    return ParseResponse(
        success=True,
        message=f"Parsed {len(preview['episodes'])} episodes",
        dataset_info=msgspec.convert(preview["dataset_info"], DatasetInfo),
        robot_info=msgspec.convert(preview["robot_info"], RobotInfo),
        tasks=msgspec.convert(preview["tasks"], list[TaskInfo]),
        episodes=msgspec.convert(preview["episodes"], list[EpisodeInfo]),
    )


async def _create(
    request: Request[Any, Any, Any],
    member: Principal,
    data: CreateRequest,
    path: Path,
) -> CreateResponse:
    """Parse, map and (with `index_now`) index a dataset: create- and upload-lerobot."""
    name = data.dataset_name or path.name
    preview = await _preview(request, member, path, name)
    robot, task_type = data.robot or preview["mapping"][0], data.task_type or preview["mapping"][1]
    task_id: int | None = None
    job_id: str | None = None
    if data.index_now:
        task_id, job_id = await _start_index(request, member, path, robot, task_type, data)
    return CreateResponse(
        success=True,
        message="Index task started" if data.index_now else "Dataset parsed",
        taskId=task_id,
        status="running" if data.index_now else "parsed",
        datasetName=name,
        mappedRobot=robot,
        mappedTaskType=task_type,
        parsed=Parsed(
            dataset_name=name,
            dataset_info=msgspec.convert(preview["dataset_info"], DatasetInfo),
            robot_info=msgspec.convert(preview["robot_info"], RobotInfo),
            tasks=msgspec.convert(preview["tasks"], list[TaskInfo]),
            episode_count=len(preview["episodes"]),
        ),
        jobId=job_id,
        datasetPath=str(path),
    )


@post(
    "/datasets/create-lerobot",
    status_code=200,
    summary="Parse, map and (index_now) index a dataset folder",
    responses=ERRORS.responses(400, 401, 403, 404, 413, 504),
    tags=INDEXING,
)
async def create_lerobot(
    request: Request[Any, Any, Any], member: Caller, data: JSONBody[CreateRequest]
) -> CreateResponse:
    return await _create(request, member, data, _inside_roots(request, data.dataset_path))


UPLOADS = UploadPolicy(
    prefix="robodata/uploads",
    max_bytes=2 * 1024**3,
    file_fields=frozenset({"file"}),
    min_files=0,
    max_files=1,
)
MAX_JSON_BYTES = 64 * 1024
UNPACK_DEADLINE_S = 600.0


async def _json_body(request: Request[Any, Any, Any]) -> CreateRequest:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise TooLarge(f"a JSON body is at most {MAX_JSON_BYTES} bytes")
    try:
        return msgspec.json.decode(body, type=CreateRequest)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"request body: {exc}") from exc


def _form_request(fields: dict[str, str], archive_name: str) -> CreateRequest:
    """A multipart form's fields as a create request (its dataset_path is filled in later)."""
    flags = {"true": True, "1": True, "false": False, "0": False}
    values: dict[str, Any] = {"dataset_path": archive_name}
    for key in ("dataset_name", "robot", "task_type"):
        if fields.get(key):
            values[key] = fields[key]
    for key in ("index_now", "materialize_assets", "overwrite_assets"):
        if key in fields:
            if fields[key].lower() not in flags:
                raise BadRequest(f"{key} must be true or false")
            values[key] = flags[fields[key].lower()]
    try:
        return msgspec.convert(values, CreateRequest)
    except msgspec.ValidationError as exc:
        raise BadRequest(str(exc)) from exc


@upload_route(
    "/datasets/upload-lerobot",
    UPLOADS,
    status_code=200,
    summary="create-lerobot for a folder (JSON), or for an uploaded .zip/.tar (multipart `file`)",
    responses=ERRORS.responses(400, 401, 403, 404, 409, 413, 504),
    tags=INDEXING,
)
async def upload_lerobot(request: Request[Any, Any, Any], member: Caller) -> CreateResponse:
    _synchronous(request)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        data = await _json_body(request)
        return await _create(request, member, data, _inside_roots(request, data.dataset_path))
    res = from_request(request)
    store = await res.blobs()
    form = await receive_uploads(request, store, prefix=f"robodata/uploads/{member.id}")
    if not form.files:
        raise BadRequest("send the dataset archive in the form field `file`")
    upload = form.files[0]
    data = _form_request(form.fields, upload.filename)
    folder = safe_filename(data.dataset_name or upload.filename.split(".")[0], "dataset")
    inbox = Path(res.settings.robodata.roots[0]) / "uploads"
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox.resolve() / folder
    if target.exists():
        await discard_uploads(store, form.files)
        raise Conflict(f"{folder} already exists in the uploads folder")
    outcome = await run(
        request,
        member,
        "robodata.unpack",
        {"archive_key": upload.key, "target": str(target)},
        deadline_s=UNPACK_DEADLINE_S,
        job_errors=JOB_ERRORS,
    )
    assert not isinstance(outcome, Response)
    return await _create(request, member, data, Path(outcome.result["path"]))


# --- update and delete ----------------------------------------------------------------------

EDITING = ["robodata: edit"]
EDIT_DEADLINE_S = 300.0
Flag = Annotated[bool, QueryParameter(description="See the contract")]


def _not_empty(body: msgspec.Struct) -> None:
    for field in body.__struct_fields__:
        value = getattr(body, field)
        if isinstance(value, str) and not value.strip():
            raise BadRequest(f"{field} cannot be empty")


def _may_change(owner: uuid.UUID | None, member: Principal) -> None:
    """Records are their indexer's: only they (or an admin) change or delete them."""
    if not member.is_admin and str(owner) != member.id:
        raise Forbidden("Not allowed to change this dataset")


def _new_location(request: Request[Any, Any, Any], storage_path: str) -> Path:
    """Where a dataset may move: a new name in a folder inside the roots."""
    given = Path(storage_path)
    if given.name in ("", ".", ".."):
        raise BadRequest("storage_path must end with the dataset's folder name")
    return _inside_roots(request, str(given.parent)) / given.name


async def _edit(
    request: Request[Any, Any, Any], member: Principal, payload: dict[str, Any]
) -> dict[str, Any] | Response[Any]:
    """Run a local edit as a job and wait for it (202 with the job on `Prefer: respond-async`)."""
    outcome = await run(
        request,
        member,
        "robodata.edit",
        payload,
        deadline_s=EDIT_DEADLINE_S,
        job_errors=JOB_ERRORS,
    )
    if isinstance(outcome, Response):
        return outcome
    result: dict[str, Any] = outcome.result
    return result


@put(
    "/datasets/{dataset_id:str}",
    summary="Change a dataset's robot, task type or folder (locally as a job, and in records)",
    responses=ERRORS.responses(400, 401, 403, 404, 409, 413, 504),
    tags=EDITING,
)
async def update_dataset(
    request: Request[Any, Any, Any],
    member: Caller,
    dataset_id: FromPath[str],
    data: JSONBody[RobodataDatasetUpdate],
    update_local: Flag = True,
    force_local: Flag = True,
) -> Response[DatasetUpdated]:
    _not_empty(data)
    row = await read(request, lambda c: service.dataset_of(c, dataset_id))
    _may_change(row.owner_id, member)
    target = None if data.storage_path is None else _new_location(request, data.storage_path)
    if update_local:
        payload = {
            "action": "update",
            "dataset_id": row.id,
            "robot": data.robot,
            "task_type": data.task_type,
            "storage_path": None if target is None else str(target),
            "force_local": force_local,
        }
        result = await _edit(request, member, payload)
        if isinstance(result, Response):
            return result
        return Response(DatasetUpdated(success=True, **result))
    res = from_request(request)
    async with statement(res.autocommit) as conn:
        if target is not None:
            if not target.is_dir():
                raise NotFound("Path not found")
            await repo.move_dataset(conn, row.id, str(target), target.name)
        count = await repo.remap_dataset(conn, row.id, data.robot, data.task_type)
    return Response(
        DatasetUpdated(
            success=True,
            message="Dataset records updated",
            updatedCount=count,
            robot=data.robot or row.robot,
            taskType=data.task_type or row.task_type,
            storagePath=str(target or row.path),
        )
    )


@delete(
    "/datasets/{dataset_id:str}",
    status_code=200,
    summary="Remove a dataset's records (its folder stays)",
    responses=ERRORS.responses(400, 401, 403, 404),
    tags=EDITING,
)
async def delete_dataset(
    request: Request[Any, Any, Any], member: Caller, dataset_id: FromPath[str]
) -> DatasetDeleted:
    row = await read(request, lambda c: service.dataset_of(c, dataset_id))
    _may_change(row.owner_id, member)
    async with statement(from_request(request).autocommit) as conn:
        count = await repo.delete_dataset(conn, row.id)
    await _sweep_media(request, member)
    return DatasetDeleted(
        success=True, message=f"Deleted {count} items of {row.name}", deletedCount=count
    )


@put(
    ITEM,
    summary="Change an item's robot or task type (its records)",
    responses=ERRORS.responses(400, 401, 403, 404, 413),
    tags=EDITING,
)
async def update_item(
    request: Request[Any, Any, Any],
    member: Caller,
    item_id: ItemId,
    data: JSONBody[ItemUpdate],
    update_local: Flag = False,
    force_local: Flag = True,
) -> ItemChanged:
    _not_empty(data)
    row = await read(request, lambda c: service.item_row(c, item_id))
    _may_change(row.owner_id, member)
    fixed = {
        "episode_id": episode_id(row.episode_index),
        "file_path": row.file_path,
        "storage_path": row.storage_path,
    }
    for field, current in fixed.items():
        wanted = getattr(data, field)
        if wanted is not None and wanted != current:
            raise BadRequest(f"{field} of an item cannot be changed; update its dataset")
    async with statement(from_request(request).autocommit) as conn:
        await repo.remap_item(conn, row.id, data.robot, data.task_type)
    return ItemChanged(success=True, message="Item updated", itemId=row.id)


@delete(
    ITEM,
    status_code=200,
    summary="Delete an episode: its records, and its files (a job) with delete_local",
    responses=ERRORS.responses(400, 401, 403, 404, 409, 504),
    tags=EDITING,
)
async def delete_item(
    request: Request[Any, Any, Any],
    member: Caller,
    item_id: ItemId,
    delete_local: Flag = True,
    force_local: Flag = True,
) -> Response[ItemChanged]:
    row = await read(request, lambda c: service.item_row(c, item_id))
    _may_change(row.owner_id, member)
    if delete_local:
        payload = {
            "action": "delete",
            "dataset_id": row.dataset_id,
            "item_id": row.id,
            "force_local": force_local,
        }
        result = await _edit(request, member, payload)
        if isinstance(result, Response):
            return result
        return Response(ItemChanged(success=True, **result))
    async with statement(from_request(request).autocommit) as conn:
        await repo.delete_item(conn, row.id, renumber=False)
    await _sweep_media(request, member)
    return Response(ItemChanged(success=True, message="Item records deleted", itemId=row.id))


async def _sweep_media(request: Request[Any, Any, Any], member: Principal) -> None:
    """The deleted records' cached media goes in a job of the indexing pool, off this request."""
    res = from_request(request)
    await submit(res, uuid.UUID(member.id), [JobRequest(kind="robodata.sweep", payload={})])


# --- media ----------------------------------------------------------------------------------

MEDIA = ["robodata: media"]


def _media_responses(media_type: str) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            bytes,
            media_type=media_type,
            description="The media, or the range asked for",
            generate_examples=False,
        )
        for status in (200, 206)
    } | {
        304: ResponseSpec(None, description="If-None-Match matched"),
        **ERRORS.responses(400, 401, 403, 404, 416, 422, 503, 504),
    }


async def _optional_caller(request: Request[Any, Any, Any]) -> Principal | None:
    return await caller(request) if bearer_token(request) else None


async def _ensure_media(
    request: Request[Any, Any, Any], row: Any, key: str, payload: dict[str, Any]
) -> None:
    """Make sure the blob store holds `key`, running the media job that makes it when it does
    not. Concurrent first requests share one job (its idempotency key is the cache key); a
    cached request runs none."""
    res = from_request(request)
    store = await res.blobs()
    if await store.exists(key):
        return
    who = await _optional_caller(request)
    owner = row.owner_id or (uuid.UUID(who.id) if who else None)
    if owner is None:
        raise Unavailable("this dataset has no owner left to make its media; index it again")
    attempt = key
    for _ in range(3):
        (job,) = await submit(
            res,
            owner,
            [JobRequest(kind="robodata.media", payload=payload, idempotency_key=attempt)],
        )
        ended = job if job.status in ("completed", "failed", "cancelled") else None
        if ended is None:
            ended = await wait(request, job.id, res.settings.robodata.media_wait_s)
        if ended is None:
            raise GatewayTimeout(f"media for item {row.id} is still being made; retry shortly")
        if ended.status == "failed":
            error = ended.error or {"code": "FAILED", "detail": "the media job failed"}
            raise ApiError(
                error["detail"], code=error["code"], status_code=JOB_ERRORS.get(error["code"], 500)
            )
        if await store.exists(key):
            return
        # The job finished long ago and its file has since left the cache: make it again.
        attempt = f"{key}#{job.id}"
    raise Unavailable("the media could not be kept in the blob store; retry shortly")


async def _media(
    request: Request[Any, Any, Any],
    item_id: int,
    what: str,
    extension: str,
    camera: str | None = None,
    **params: Any,
) -> Response[Any]:
    """Serve one episode's media from the blob-store cache, made by a job the first time."""
    row = await read(request, lambda c: service.item_row(c, item_id))
    if what != "timeseries":
        params["camera"] = service.camera_key(row, camera)
    key = media_key(row.id, row.fingerprint, what, extension, params)
    await _ensure_media(request, row, key, {"item_id": row.id, "what": what, "key": key, **params})
    return await serve_blob(request, await from_request(request).blobs(), key)


@get(
    f"{ITEM}/thumbnail",
    summary="JPEG of an episode's camera frame (open unless robodata.open_media is off)",
    responses=_media_responses("image/jpeg"),
    tags=MEDIA,
    guards=[media_access],
    security=_NO_AUTH,
)
async def thumbnail(
    request: Request[Any, Any, Any],
    item_id: ItemId,
    camera: FromQuery[str | None] = None,
    frame: Annotated[int, QueryParameter(ge=0, le=10_000_000)] = 0,
) -> Response[Any]:
    return await _media(request, item_id, "thumbnail", "jpg", camera, frame=frame)


@get(
    f"{ITEM}/stream",
    summary="An episode's camera video as MP4 (stream copy, else H.264); Range and ETag",
    responses=_media_responses("video/mp4"),
    tags=MEDIA,
    guards=[media_access],
    security=_NO_AUTH,
)
async def stream(
    request: Request[Any, Any, Any],
    item_id: ItemId,
    camera: FromQuery[str | None] = None,
    resolution: FromQuery[Resolution | None] = None,
) -> Response[Any]:
    return await _media(request, item_id, "stream", "mp4", camera, resolution=resolution)


@get(
    f"{ITEM}/timeseries",
    summary="An episode's action and state, at most max_points rows",
    responses={
        **_media_responses("application/json"),
        200: ResponseSpec(Timeseries, description="The series"),
    },
    tags=MEDIA,
    guards=[media_access],
    security=_NO_AUTH,
)
async def timeseries(
    request: Request[Any, Any, Any],
    item_id: ItemId,
    max_points: Annotated[int, QueryParameter(ge=2, le=100_000)] = 500,
) -> Response[Any]:
    return await _media(request, item_id, "timeseries", "json", max_points=max_points)


# --- rerun and static files -----------------------------------------------------------------

RRD_PREFIX = "robodata/rrd/"
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def rrd_name(row: Any) -> str:
    """A recording's file name: its dataset, episode and content, in safe characters."""
    dataset = _UNSAFE.sub("_", Path(row.storage_path).name).strip("._") or "dataset"
    return f"{dataset}_episode_{row.episode_index:06d}_{row.fingerprint[:12]}.rrd"


def _file_name(filename: str, suffix: str = "") -> str:
    """A name that can only name a file in its folder: no separators, dots or odd bytes."""
    if not _FILE_NAME.fullmatch(filename) or ".." in filename or not filename.endswith(suffix):
        raise NotFound("File not found")
    return filename


@post(
    f"{ITEM}/visualize/rrd",
    status_code=200,
    summary="An episode as a Rerun .rrd recording (made by a media job, then cached)",
    responses=ERRORS.responses(400, 401, 404, 413, 422, 503, 504),
    tags=MEDIA,
)
async def visualize_rrd(
    request: Request[Any, Any, Any],
    member: Caller,
    item_id: ItemId,
    data: JSONBody[RrdRequest | None] = None,
) -> RrdResponse:
    row = await read(request, lambda c: service.item_row(c, item_id))
    name = rrd_name(row)
    key = RRD_PREFIX + name
    await _ensure_media(request, row, key, {"item_id": row.id, "what": "rrd", "key": key})
    meta = await (await from_request(request).blobs()).head(key)
    path = f"{PREFIX}/downloads/rrd/{name}"
    return RrdResponse(
        status="completed",
        downloadUrl=_linker(request)(path, {}),
        filePath=f"/downloads/rrd/{name}",
        fileSize=meta.size,
        duration=row.duration,
    )


VIEWER_DEADLINE_S = 60.0


async def _viewer_job(
    request: Request[Any, Any, Any], member: Principal, payload: dict[str, Any]
) -> ViewerResponse | Response[Any]:
    outcome = await run(
        request,
        member,
        "robodata.viewer",
        payload,
        deadline_s=VIEWER_DEADLINE_S,
        job_errors=JOB_ERRORS,
    )
    if isinstance(outcome, Response):
        return outcome
    return msgspec.convert(outcome.result, ViewerResponse)


@post(
    f"{ITEM}/visualize/server",
    status_code=200,
    summary="Serve an episode's recording in a Rerun web viewer (run by a media worker)",
    responses=ERRORS.responses(400, 401, 404, 409, 413, 422, 503, 504),
    tags=MEDIA,
)
async def visualize_server(
    request: Request[Any, Any, Any],
    member: Caller,
    item_id: ItemId,
    data: JSONBody[ViewerRequest | None] = None,
) -> Response[ViewerResponse]:
    asked = data or ViewerRequest()
    if asked.ws_port == asked.web_port:
        raise BadRequest("ws_port and web_port must differ")
    row = await read(request, lambda c: service.item_row(c, item_id))
    key = RRD_PREFIX + rrd_name(row)
    await _ensure_media(request, row, key, {"item_id": row.id, "what": "rrd", "key": key})
    payload = {"rrd_key": key, "ws_port": asked.ws_port, "web_port": asked.web_port}
    answer = await _viewer_job(request, member, payload)
    return answer if isinstance(answer, Response) else Response(answer)


@delete(
    f"{ITEM}/visualize/server",
    status_code=200,
    summary="Stop an episode's Rerun web viewer",
    responses=ERRORS.responses(400, 401, 404, 504),
    tags=MEDIA,
)
async def stop_visualize_server(
    request: Request[Any, Any, Any], member: Caller, item_id: ItemId
) -> Response[ViewerResponse]:
    row = await read(request, lambda c: service.item_row(c, item_id))
    payload = {"action": "stop", "rrd_key": RRD_PREFIX + rrd_name(row)}
    answer = await _viewer_job(request, member, payload)
    return answer if isinstance(answer, Response) else Response(answer)


@get(
    "/downloads/rrd/{filename:str}",
    summary="A generated .rrd recording (open unless robodata.open_media is off)",
    responses=_media_responses("application/x-rerun"),
    tags=MEDIA,
    guards=[media_access],
    security=_NO_AUTH,
)
async def download_rrd(request: Request[Any, Any, Any], filename: FromPath[str]) -> Response[Any]:
    key = RRD_PREFIX + _file_name(filename, ".rrd")
    store = await from_request(request).blobs()
    if not await store.exists(key):
        raise NotFound("File not found")
    return await serve_blob(request, store, key, filename)


@get(
    "/static/{filename:str}",
    summary="Static assets (a placeholder image at least)",
    responses={
        200: ResponseSpec(bytes, description="The file", media_type="*/*", generate_examples=False),
        **ERRORS.responses(400, 404),
    },
    tags=MEDIA,
    security=_NO_AUTH,
)
async def static_file(request: Request[Any, Any, Any], filename: FromPath[str]) -> Response[bytes]:
    name = _file_name(filename)
    found = await asyncio.to_thread(
        static_file_bytes, from_request(request).settings.robodata.static_dir, name
    )
    if found is None:
        raise NotFound("File not found")
    return Response(found[0], media_type=found[1])


ROUTES = [
    login,
    refresh,
    me,
    list_robots,
    robot_types,
    task_types,
    list_datasets,
    dataset_items,
    list_items,
    get_item,
    scan,
    index_status,
    register,
    parse_lerobot,
    create_lerobot,
    upload_lerobot,
    update_dataset,
    delete_dataset,
    update_item,
    delete_item,
    thumbnail,
    stream,
    timeseries,
    visualize_rrd,
    visualize_server,
    stop_visualize_server,
    download_rrd,
    static_file,
]
