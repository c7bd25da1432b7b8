"""Settings, grouped by concern, read once from the environment.

Every variable is listed in README.md. Names are `SWITCHYARD_<GROUP>_<NAME>` except for the
two that every deployment tool already knows: `DATABASE_URL` and `REDIS_URL`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

import msgspec

POOLS: tuple[str, ...] = ("gpu", "rigging", "media", "indexing")

S = TypeVar("S", bound=msgspec.Struct)


class DatabaseSettings(msgspec.Struct, frozen=True):
    url: str = ""
    pool_size: int = 10
    echo: bool = False


class RedisSettings(msgspec.Struct, frozen=True):
    url: str = ""
    # Every key Switchyard writes starts with this prefix, so tests and deployments can share
    # one Redis without seeing each other.
    prefix: str = "sy"


class AuthSettings(msgspec.Struct, frozen=True):
    jwt_secret: str = ""
    access_ttl_s: int = 900
    refresh_ttl_s: int = 14 * 24 * 3600
    admin_password: str = ""
    issuer: str = "switchyard"


class ApiSettings(msgspec.Struct, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8000
    # Base URL clients reach the API on, used in signed blob links.
    public_url: str = ""
    log_level: str = "info"
    max_body_bytes: int = 1024 * 1024
    # Events queued per WebSocket before the client counts as too slow and is disconnected.
    ws_queue: int = 10_000
    # Browser origins allowed to call the platform's own routes (/auth, /jobs, ...); none by
    # default. Each service's prefix has its own policy.
    cors_origins: tuple[str, ...] = ()
    cors_methods: tuple[str, ...] = ("GET", "POST", "DELETE", "OPTIONS")
    cors_headers: tuple[str, ...] = ("Content-Type", "Authorization", "Prefer", "X-Request-Id")
    # Networks the `networks` access policy lets in (CIDR, comma separated in the env).
    open_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")


class JobSettings(msgspec.Struct, frozen=True):
    heartbeat_s: float = 5.0
    # A running job whose heartbeat is older than this is requeued (or failed after max tries).
    reap_after_s: float = 20.0
    # An outbox row older than this is re-published (Redis was down, or the API died).
    relay_after_s: float = 3.0
    maintenance_every_s: float = 1.0
    progress_min_interval_s: float = 0.25
    # Workers commit state transitions without waiting for the WAL flush (see README).
    async_state_commits: bool = True
    event_retention_s: int = 3600
    event_maxlen: int = 10_000
    fanout_maxlen: int = 100_000


class BlobSettings(msgspec.Struct, frozen=True):
    backend: str = "local"  # local | s3
    root: str = ""  # local directory; defaults to <data dir>/blobs
    signing_secret: str = ""
    url_ttl_s: int = 3600
    max_upload_bytes: int = 2 * 1024**3
    s3_endpoint: str = ""
    s3_public_endpoint: str = ""
    s3_bucket: str = "switchyard"
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_multipart_threshold: int = 16 * 1024 * 1024
    s3_part_size: int = 16 * 1024 * 1024


class InventorySettings(msgspec.Struct, frozen=True):
    anonymous_reads: bool = False
    cors_origins: tuple[str, ...] = ("http://localhost:3000", "http://localhost:8080")
    cors_methods: tuple[str, ...] = ("GET", "POST", "PUT", "DELETE", "OPTIONS")
    cors_headers: tuple[str, ...] = ("Content-Type", "Authorization")


class RobodataSettings(msgspec.Struct, frozen=True):
    # Folders clients may index and register datasets from (comma separated in the env);
    # empty: `<data dir>/robodata`. Any path a client gives must resolve inside one of them.
    roots: tuple[str, ...] = ()
    # Media (stream, thumbnail, timeseries) without a token, as the original page plays
    # `<video src>`; false: a bearer token or a signed link from an item payload.
    open_media: bool = True
    # Items per page when `page_size` is not sent (the original's default), and the most.
    page_size: int = 50
    max_page_size: int = 200
    # Seconds a media request waits for its job before answering 504 (the job keeps going).
    media_wait_s: float = 120.0
    # A folder `/robodata/static/{filename}` serves besides the built-in placeholder.png.
    static_dir: str = ""
    # Rerun web viewers run by media workers: the address they bind, the host their URLs
    # name (empty: the bound one, loopback for a wildcard), and how long an unused one lives.
    viewer_host: str = "127.0.0.1"
    viewer_public_host: str = ""
    viewer_idle_s: float = 600.0
    # Browser origins of the dataset browser page (its dev servers by default).
    cors_origins: tuple[str, ...] = (
        "http://localhost:5173",
        "http://127.0.0.1:5173",
        "http://localhost:3000",
    )


class InspectionSettings(msgspec.Struct, frozen=True):
    dinov2_weights: str = ""  # local file for vit_small_patch14_dinov2.lvd142m
    device: str = "auto"  # auto | cpu | cuda
    # The original's knobs: fit only from the stored dataset (uploads refused), the OK samples
    # such a fit needs, and the defaults of a fit's coreset rate and of calibration.
    train_dataset_only: bool = False
    min_ok_samples: int = 10
    coreset_rate: float = 0.1
    score_percentile: int = 99
    area_mm2_thr: float = 1.0
    # Callers on these networks need no token (the contract's GUI sends none); CIDR list.
    open_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    # Browser origins allowed under /inspection (none: no CORS headers).
    cors_origins: tuple[str, ...] = ()
    max_image_bytes: int = 32 * 1024 * 1024
    max_images: int = 1000  # per upload or fit request
    # Memory banks a gpu worker keeps loaded (LRU), and how long an /infer waits for others
    # on the same model to share one pass through the backbone.
    cache_size: int = 8
    batch: Literal["auto", "on", "off"] = "auto"  # auto: on CUDA only
    batch_wait_ms: float = 3.0
    # How long a synchronous route waits for its job before answering 504 (the job goes on).
    infer_deadline_s: float = 60.0
    fit_deadline_s: float = 600.0


class RiggingSettings(msgspec.Struct, frozen=True):
    max_faces: int = 2_000_000
    max_vertices: int = 2_000_000
    max_file_bytes: int = 512 * 1024 * 1024
    joint_budget: int = 50
    # The service's limits; the contract's figures by default.
    max_upload_bytes: int = 100 * 1024 * 1024
    uploads_per_hour: int = 10
    csrf_ttl_s: int = 3600
    # How long `POST /api/jobs/{id}/cancel` waits for a running job to stop.
    cancel_wait_s: float = 30.0
    # Disk-space thresholds of `/api/disk-space` (free GB below which it warns, is critical).
    disk_warning_gb: float = 10.0
    disk_critical_gb: float = 5.0
    # Browser origins of a UI served elsewhere (credentialed CORS); none: same origin only.
    cors_origins: tuple[str, ...] = ()


class ReplicateSettings(msgspec.Struct, frozen=True):
    api_token: str = ""
    base_url: str = "https://api.replicate.com"
    webhook_secret: str = ""
    price_table: str = ""  # path to a JSON price table; the built-in one is used when empty
    image_model: str = "black-forest-labs/flux-schnell"
    clip_model: str = "runwayml/gen4-turbo"
    # Public URL Replicate posts completed predictions to; empty: wait by polling only.
    webhook_url: str = ""
    # `Prefer: wait` seconds on create (fast models answer in one request); 0 polls at once.
    # Kept short: a job canceled mid-create waits for the create to return to cancel it.
    wait_s: int = 10
    poll_interval_s: float = 1.0
    # With webhooks, still poll this often in case a delivery is lost.
    webhook_fallback_poll_s: float = 30.0
    # A prediction not finished after this long is canceled and the job fails.
    prediction_timeout_s: float = 900.0
    # Retries of 429 / 5xx / network errors, with exponential backoff.
    max_attempts: int = 6
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    webhook_tolerance_s: int = 300


class StudioSettings(msgspec.Struct, frozen=True):
    # `/studio/api/auth/exchange` answers callers on these networks (CIDR, comma separated)
    # or sending this secret in `X-Exchange-Secret`; with neither set it is off.
    exchange_networks: tuple[str, ...] = ()
    exchange_secret: str = ""
    max_upload_bytes: int = 100 * 1024 * 1024
    # What the server fetches from a client's URL (audio_url): size and time limits, and
    # networks an operator allows beside public addresses (a private mirror), plus plain http.
    fetch_max_bytes: int = 200 * 1024 * 1024
    fetch_timeout_s: float = 60.0
    fetch_allow_networks: tuple[str, ...] = ()
    fetch_allow_http: bool = False
    # How long a step's request waits for its job before answering 504 (the job goes on).
    step_deadline_s: float = 1800.0
    # Frame rate of the offline provider's clips.
    local_fps: int = 24
    max_url_ttl_s: int = 7 * 24 * 3600
    socket_url_ttl_s: int = 300
    cors_origins: tuple[str, ...] = ("http://localhost:3000",)


class Settings(msgspec.Struct, frozen=True):
    data_dir: str
    db: DatabaseSettings
    redis: RedisSettings
    auth: AuthSettings
    api: ApiSettings
    jobs: JobSettings
    blob: BlobSettings
    inventory: InventorySettings
    robodata: RobodataSettings
    inspection: InspectionSettings
    rigging: RiggingSettings
    replicate: ReplicateSettings
    studio: StudioSettings = msgspec.field(default_factory=StudioSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


def _group(cls: type[S], env: Mapping[str, str], prefix: str) -> S:
    """Build one settings group from `SWITCHYARD_<PREFIX>_<FIELD>` variables."""
    raw: dict[str, object] = {}
    for name in cls.__struct_fields__:
        value = env.get(f"SWITCHYARD_{prefix}_{name}".upper())
        if value is None:
            continue
        default = getattr(cls(), name)
        if isinstance(default, tuple):
            raw[name] = tuple(v.strip() for v in value.split(",") if v.strip())
        else:
            raw[name] = value
    # strict=False turns "8000" into 8000 and "true" into True, with a clear error otherwise.
    return msgspec.convert(raw, cls, strict=False)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the environment (or the mapping given)."""
    env = os.environ if env is None else env
    data_dir = env.get("SWITCHYARD_DATA_DIR") or str(Path.cwd() / ".data")
    db = msgspec.structs.replace(
        _group(DatabaseSettings, env, "db"),
        url=env.get("DATABASE_URL", ""),
    )
    redis = msgspec.structs.replace(
        _group(RedisSettings, env, "redis"),
        url=env.get("REDIS_URL", ""),
    )
    auth: AuthSettings = _group(AuthSettings, env, "auth")
    if env.get("SWITCHYARD_ADMIN_PASSWORD"):
        auth = msgspec.structs.replace(auth, admin_password=env["SWITCHYARD_ADMIN_PASSWORD"])
    if not auth.jwt_secret:
        auth = msgspec.structs.replace(auth, jwt_secret=_persistent_secret(data_dir, "jwt"))
    blob: BlobSettings = _group(BlobSettings, env, "blob")
    if not blob.signing_secret:
        blob = msgspec.structs.replace(blob, signing_secret=_persistent_secret(data_dir, "blob"))
    if not blob.root:
        blob = msgspec.structs.replace(blob, root=str(Path(data_dir) / "blobs"))
    robodata: RobodataSettings = _group(RobodataSettings, env, "robodata")
    if not robodata.roots:
        robodata = msgspec.structs.replace(robodata, roots=(str(Path(data_dir) / "robodata"),))
    replicate: ReplicateSettings = _group(ReplicateSettings, env, "replicate")
    if env.get("REPLICATE_API_TOKEN") and not replicate.api_token:
        replicate = msgspec.structs.replace(replicate, api_token=env["REPLICATE_API_TOKEN"])
    return Settings(
        data_dir=data_dir,
        db=db,
        redis=redis,
        auth=auth,
        api=_group(ApiSettings, env, "api"),
        jobs=_group(JobSettings, env, "jobs"),
        blob=blob,
        inventory=_group(InventorySettings, env, "inventory"),
        robodata=robodata,
        inspection=_group(InspectionSettings, env, "inspection"),
        rigging=_group(RiggingSettings, env, "rigging"),
        replicate=replicate,
        studio=_group(StudioSettings, env, "studio"),
    )


def _persistent_secret(data_dir: str, name: str) -> str:
    """A random secret kept under the data directory, so tokens survive a restart.

    Several processes (API replicas, workers) started together must agree on it, so the file
    is created atomically and whoever loses the race reads the winner's secret.
    """
    path = Path(data_dir) / "secrets" / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Write aside, then link: the file appears whole or not at all, and link refuses to
    # replace a secret another process already published.
    tmp = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.write_text(secrets.token_urlsafe(48))
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings."""
    return load_settings()
