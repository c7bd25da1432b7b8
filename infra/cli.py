"""The `switchyard` command line.

infra never imports api or workers (ARCHITECTURE.md); the commands that run them name them by
module path (uvicorn's app factory string, importlib for the worker), so this module stays below
both in the import graph.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections import deque
from pathlib import Path
from typing import Any, NoReturn, Protocol
from urllib.parse import urlsplit, urlunsplit

from infra.settings import POOLS, Settings, get_settings, load_settings

# uvicorn imports this in every API process; it builds the app named by APP_FACTORY.
API_FACTORY = "infra.cli:api_app"
APP_FACTORY = "api.app:create_app"
DEBUG_ENV = "SWITCHYARD_DEBUG"
# Errors raised by the servers' drivers and by the migration tool are about the environment (a
# server that does not answer, a wrong password, a revision that does not apply), not bugs.
SERVER_LIBRARIES = frozenset({"asyncpg", "redis", "sqlalchemy", "alembic"})


class CliError(Exception):
    """An expected failure: printed as one line; `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# -- defaults ------------------------------------------------------------------------------


def cores() -> int:
    """CPUs this process may run on (a container's or taskset's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity API
        return os.cpu_count() or 1


def default_api_workers() -> int:
    """API processes `api` and `up` run unless told: one per core, at most 4."""
    return max(1, min(4, cores()))


def default_concurrency(pool: str) -> int:
    """Jobs at a time one worker of the pool runs unless `--concurrency` says otherwise."""
    # media and indexing jobs mostly wait (Replicate, object-store and file reads), so many
    # share one process; rigging's are CPU-bound, one per core; gpu keeps a couple in flight
    # so one job's preparation overlaps another's batch on the device.
    return {"gpu": 2, "rigging": cores(), "media": 32, "indexing": 32}[pool]


# -- servers -------------------------------------------------------------------------------


def data_dir_of(args: argparse.Namespace) -> Path:
    """`--data-dir`, else SWITCHYARD_DATA_DIR, else ./.data (absolute)."""
    raw = getattr(args, "data_dir", None) or os.environ.get("SWITCHYARD_DATA_DIR") or ".data"
    return Path(raw).resolve()


def _settings(args: argparse.Namespace, *, redis: bool, signs: bool) -> Settings:
    """Settings whose servers answer: DATABASE_URL / REDIS_URL, else those of the `switchyard
    up` running on the data dir. `signs`: the command issues tokens or links."""
    from infra.embedded import read_instance

    data_dir = data_dir_of(args)
    # Processes this one starts (uvicorn's) read the same data dir from the environment.
    os.environ["SWITCHYARD_DATA_DIR"] = str(data_dir)
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        instance = read_instance(data_dir)
        if instance is not None:
            os.environ.setdefault("DATABASE_URL", instance.database_url)
            os.environ.setdefault("REDIS_URL", instance.redis_url)
    start_up = f"start `switchyard up` (data dir {data_dir})"
    if not os.environ.get("DATABASE_URL"):
        raise CliError(f"no database configured: set DATABASE_URL or {start_up}", 2)
    if redis and not os.environ.get("REDIS_URL"):
        raise CliError(f"no Redis configured: set REDIS_URL or {start_up}", 2)
    env: dict[str, str] = dict(os.environ)
    if not signs:
        # Loading settings creates the data dir's secrets when missing: a command that signs
        # nothing, run away from any instance, must not leave a stray `.data/secrets` behind.
        env.setdefault("SWITCHYARD_AUTH_JWT_SECRET", "unused")
        env.setdefault("SWITCHYARD_BLOB_SIGNING_SECRET", "unused")
    settings = load_settings(env)
    asyncio.run(_check_servers(settings, redis=redis))
    return settings


async def _check_servers(settings: Settings, *, redis: bool) -> None:
    """Fail with one line naming the server when Postgres (or Redis) does not answer."""
    import asyncpg
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    from infra.db.engine import plain_dsn

    try:
        conn = await asyncpg.connect(plain_dsn(settings.db.url), timeout=10)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = redact(settings.db.url)
        raise CliError(f"cannot connect to Postgres at {where}: {one_line(exc)}") from exc
    await conn.close()
    if not redis:
        return
    client = Redis.from_url(settings.redis.url, socket_connect_timeout=10, socket_timeout=10)
    try:
        await client.ping()
    except (OSError, RedisError) as exc:
        where = redact(settings.redis.url)
        raise CliError(f"cannot connect to Redis at {where}: {one_line(exc)}") from exc
    finally:
        await client.aclose()


def redact(url: str) -> str:
    """The URL with its password masked, for messages."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def one_line(exc: BaseException) -> str:
    """The first line of an error's message (its type when it has none)."""
    # SQLAlchemy wraps the driver's error in several lines of its own.
    orig = getattr(exc, "orig", None)
    text = str(orig if isinstance(orig, BaseException) else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _migrate(database_url: str) -> None:
    from infra.db.migrate import upgrade

    try:
        upgrade(database_url)
    except Exception as exc:
        raise CliError(f"migration failed: {one_line(exc)}") from exc


# -- migrate / users -----------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args, redis=False, signs=False)
    _migrate(settings.db.url)
    print("database is at the latest revision")
    return 0


async def ensure_user(
    settings: Settings,
    username: str,
    password: str,
    roles: list[str],
    *,
    update: bool = False,
    email: str | None = None,
) -> bool:
    """Create a user (True), or leave (or, with update, reset) an existing one (False).

    An email (optional; studio logs in by it) must not be another user's in any letter case."""
    from sqlalchemy.exc import IntegrityError

    from infra.db import user as user_repo
    from infra.db.engine import make_engine, make_sessionmaker
    from infra.security import hash_password

    engine = make_engine(settings.db)
    try:
        async with make_sessionmaker(engine).begin() as session:
            existing = await user_repo.get_by_username(session, username)
            if existing is not None:
                if update:
                    await user_repo.set_password(session, existing, hash_password(password))
                    existing.roles = roles
                    if email:
                        existing.email = email
                        await session.flush()
                return False
            await user_repo.create_user(
                session, username, hash_password(password), roles, email=email
            )
            return True
    except IntegrityError as exc:
        raise CliError(f"email {email} is already another user's", 2) from exc
    finally:
        await engine.dispose()


def cmd_user_create(args: argparse.Namespace) -> int:
    from infra.security import ROLES

    roles = args.role or ["user"]
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise CliError(f"unknown role(s) {', '.join(bad)}; roles are {', '.join(ROLES)}", 2)
    settings = _settings(args, redis=False, signs=False)
    password = args.password or os.environ.get("SWITCHYARD_NEW_USER_PASSWORD")
    if not password:
        password = getpass.getpass(f"password for {args.username}: ")
    if len(password) < 8:
        raise CliError("password must have at least 8 characters", 2)
    created = asyncio.run(
        ensure_user(settings, args.username, password, roles, update=True, email=args.email)
    )
    print(("created" if created else "updated") + f" user {args.username} ({', '.join(roles)})")
    return 0


# -- api / worker / pools ------------------------------------------------------------------


def api_app() -> Any:
    """The API app, built in each server process, whose logs then go through infra.log."""
    import infra.log

    settings = get_settings()
    module, _, name = APP_FACTORY.partition(":")
    app = getattr(importlib.import_module(module), name)(settings)
    # After the app: Litestar's default logging config, applied as the app is built, would
    # otherwise replace the root handler in every server process spawned for --workers.
    infra.log.configure(settings.api.log_level)
    return app


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    import infra.log

    settings = _settings(args, redis=True, signs=True)
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    # Every server process reads its settings again: signed links must name this address.
    os.environ["SWITCHYARD_API_HOST"] = host
    os.environ["SWITCHYARD_API_PORT"] = str(port)
    infra.log.configure(settings.api.log_level)
    # A broken app fails here with one line, not with a traceback from every server process.
    importlib.import_module(APP_FACTORY.partition(":")[0])
    # With workers > 1 uvicorn binds the port once and starts that many processes (spawned, so
    # each imports API_FACTORY and runs the app's lifespan: its own pools and WebSocket hub);
    # SIGINT / SIGTERM to this process stops them all.
    uvicorn.run(
        API_FACTORY,
        factory=True,
        workers=args.workers or default_api_workers(),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        # Events are small JSON messages: compressing each one costs both ends more CPU than
        # the bytes it saves.
        ws_per_message_deflate=False,
        loop="uvloop",
        http="httptools",
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import infra.log

    settings = _settings(args, redis=True, signs=True)
    infra.log.configure(settings.api.log_level)
    pool_module: Any = importlib.import_module("workers.pool")
    try:
        pool_module.check_pool(args.pool)
    except pool_module.PoolUnavailable as exc:
        raise CliError(str(exc), 3) from exc
    import uvloop

    concurrency = args.concurrency or default_concurrency(args.pool)
    uvloop.run(pool_module.serve(settings, args.pool, concurrency))
    return 0


def cmd_pools(args: argparse.Namespace) -> int:
    from infra.db.engine import make_engine
    from infra.pool import overview, render_table
    from infra.redis import make_redis, stream_keys

    settings = _settings(args, redis=True, signs=False)

    async def run() -> str:
        engine, redis = make_engine(settings.db), make_redis(settings.redis)
        try:
            return render_table(await overview(engine, redis, stream_keys(settings.redis)))
        finally:
            await redis.aclose()
            await engine.dispose()

    print(asyncio.run(run()))
    return 0


def cmd_robodata_show(args: argparse.Namespace) -> int:
    module: Any = importlib.import_module("domain.robodata.cli")
    return int(module.show(args.path))


# -- up ------------------------------------------------------------------------------------


class StopFlag:
    """Set by SIGINT / SIGTERM. A plain attribute: a lock taken in a signal handler can
    deadlock the very thread the handler interrupted."""

    def __init__(self) -> None:
        self.requested = False

    def wait(self, seconds: float) -> bool:
        """Sleep unless a stop was requested; whether one was."""
        if not self.requested:
            time.sleep(seconds)
        return self.requested


# A child that exits is started again after RESTART_FIRST_S, doubling up to RESTART_MAX_S; one
# that then stays up STABLE_AFTER_S is healthy again and its next exit starts the delay over.
RESTART_FIRST_S = 0.5
RESTART_MAX_S = 30.0
STABLE_AFTER_S = 30.0
# `up` gives up on a child (and stops everything) that crashes CRASH_LIMIT times within
# CRASH_WINDOW_S, or CRASH_LIMIT times in a row before it was stable.
CRASH_LIMIT = 5
CRASH_WINDOW_S = 60.0
# `SWITCHYARD_UP_<POOL>_<NAME>=v` in `up`'s environment is `SWITCHYARD_<NAME>=v` for that
# pool's worker only (a smaller database pool for one pool, say).
POOL_ENV_PREFIX = "SWITCHYARD_UP_"


class Process:
    """A command `up` runs as a child; `group`: in a process group of its own, killed whole
    when the command ends (uvicorn's server processes outlive a parent killed by SIGKILL and
    would keep the port from its replacement)."""

    def __init__(
        self, argv: list[str], env: dict[str, str] | None = None, group: bool = False
    ) -> None:
        self.argv, self.env, self.group = argv, env, group
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        self.proc = subprocess.Popen(
            self.argv, env=self.env, process_group=0 if self.group else None
        )
        return ""

    def ended(self) -> str | None:
        """How the command ended, or None while it runs (its leftovers are killed first)."""
        from infra.embedded import exit_text

        if self.proc is None:
            return "not started"
        code = self.proc.poll()
        if code is None:
            return None
        self._kill_group()
        return exit_text(code)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def stop(self, deadline: float) -> None:
        """Wait for the command until the deadline (after terminate), then kill it."""
        if self.proc is not None:
            try:
                self.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self._kill_group()

    def _kill_group(self) -> None:
        if self.group and self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Server(Protocol):
    """An embedded server (infra.embedded) as `up` supervises it."""

    def start(self) -> str: ...
    def ended(self) -> str | None: ...
    def stop(self) -> None: ...


class Child:
    """One thing `up` keeps running, its restart schedule and its crash record."""

    def __init__(self, name: str, label: str, runs: Process | Server) -> None:
        self.name = name  # in /metrics: `process="worker-media"`
        self.label = label  # in messages: "the media worker"
        self.runs = runs
        self.restarts = 0
        self.started_at = 0.0
        self.due: float | None = None  # when to start it again; None while it runs
        self.delay = RESTART_FIRST_S
        self.in_a_row = 0
        self.crashes: deque[float] = deque()

    def start(self, now: float) -> str:
        url = self.runs.start()
        self.started_at, self.due = now, None
        return url

    def crashed(self, now: float, how: str) -> None:
        """Schedule the next start after an exit (or a failed start); CliError when it keeps
        crashing."""
        if now - self.started_at >= STABLE_AFTER_S:
            self.delay, self.in_a_row = RESTART_FIRST_S, 0
        self.in_a_row += 1
        self.crashes.append(now)
        while self.crashes and self.crashes[0] < now - CRASH_WINDOW_S:
            self.crashes.popleft()
        if len(self.crashes) >= CRASH_LIMIT:
            raise CliError(
                f"{self.label} crashed {len(self.crashes)} times in {CRASH_WINDOW_S:.0f} s; "
                "stopping"
            )
        if self.in_a_row >= CRASH_LIMIT:
            raise CliError(
                f"{self.label} exited {self.in_a_row} times in a row, each within "
                f"{STABLE_AFTER_S:.0f} s of starting; stopping"
            )
        print(
            f"switchyard up: {self.label} {how}; restarting it in {self.delay:g} s",
            file=sys.stderr,
            flush=True,
        )
        self.due = now + self.delay
        self.delay = min(RESTART_MAX_S, self.delay * 2)


class RestartLog:
    """Restart counts in Redis (a hash, child name → count) where /metrics reads them: the API
    is another process. Written after each restart; a write that fails (Redis itself is
    coming back) is retried on the next tick."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        from redis import Redis

        from infra.redis import restarts_key

        self.client = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.key = restarts_key(prefix)
        self.counts: dict[str, int] = {}
        self.dirty = True  # the first write replaces a previous run's counts

    def note(self, child: Child) -> None:
        self.counts[child.name] = child.restarts
        self.dirty = True

    def flush(self) -> None:
        from redis.exceptions import RedisError

        if not self.dirty:
            return
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(self.key)
                if self.counts:
                    pipe.hset(self.key, mapping=self.counts)
                pipe.execute()
            self.dirty = False
        except (RedisError, OSError):
            pass

    def close(self) -> None:
        self.client.close()


def _supervise(children: list[Child], log: RestartLog | None, now: float) -> None:
    """One tick: notice children that ended, start those whose delay has passed."""
    for child in children:
        if child.due is None:
            how = child.runs.ended()
            if how is not None:
                child.crashed(now, how)
        elif now >= child.due:
            try:
                url = child.start(now)
            except Exception as exc:
                child.crashed(now, f"did not start ({describe(exc)[1]})")
                continue
            if url and url != os.environ.get(
                "REDIS_URL" if child.name == "redis" else "DATABASE_URL"
            ):
                # Every other child was given the first address.
                raise CliError(f"{child.label} came back at another address ({redact(url)})")
            child.restarts += 1
            print(
                f"switchyard up: restarted {child.label} (restart {child.restarts})",
                file=sys.stderr,
                flush=True,
            )
            if log is not None:
                log.note(child)
    if log is not None:
        log.flush()


def _pool_env(pool: str) -> dict[str, str] | None:
    """The worker's environment: `up`'s, with the pool's SWITCHYARD_UP_<POOL>_* overrides."""
    own = f"{POOL_ENV_PREFIX}{pool.upper()}_"
    extra = {"SWITCHYARD_" + k[len(own) :]: v for k, v in os.environ.items() if k.startswith(own)}
    return {**os.environ, **extra} if extra else None


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/ready", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _banner(url: str, workers: str, admin_password: str | None) -> None:
    """What `up` prints once the API answers; the admin password when it was just created."""
    print(f"Switchyard API: {url}")
    print(f"API docs: {url}/docs")
    if admin_password:
        print(f"Log in as admin with password: {admin_password}  (shown once)")
    else:
        print("Log in as admin (password set on first start or with `switchyard user create`)")
    print(f"API processes: {workers}; operator commands find this instance by its data dir")
    sys.stdout.flush()


def _stop(children: list[Child]) -> None:
    """SIGTERM to every command, SIGKILL to what is left after 20 s; then the servers."""
    commands = [c.runs for c in children if isinstance(c.runs, Process)]
    for p in commands:
        p.terminate()
    deadline = time.monotonic() + 20
    for p in commands:
        p.stop(deadline)
    for c in reversed(children):
        if not isinstance(c.runs, Process):
            c.runs.stop()


def cmd_up(args: argparse.Namespace) -> int:
    """Everything in one command: servers (embedded when not configured), migrations, the API
    and a worker per pool, each restarted when it exits; Ctrl-C or SIGTERM stops it all."""
    from infra.embedded import (
        EmbeddedPostgres,
        EmbeddedRedis,
        Instance,
        read_instance,
        remove_instance,
        write_instance,
    )

    data_dir = data_dir_of(args)
    data_dir.mkdir(parents=True, exist_ok=True)
    running = read_instance(data_dir)
    if running is not None:
        raise CliError(
            f"already running on {data_dir} (pid {running.pid}, API {running.api_url})", 2
        )
    host, port = args.host, args.port
    os.environ["SWITCHYARD_DATA_DIR"] = str(data_dir)
    # The children read their settings from the environment: signed links name this address.
    os.environ["SWITCHYARD_API_HOST"] = host
    os.environ["SWITCHYARD_API_PORT"] = str(port)
    stop = StopFlag()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.requested = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    url = f"http://{host}:{port}"
    children: list[Child] = []
    log: RestartLog | None = None
    try:
        if not os.environ.get("DATABASE_URL"):
            pg = EmbeddedPostgres(data_dir)
            children.append(Child("postgres", "the embedded Postgres", pg))
            os.environ["DATABASE_URL"] = children[-1].start(time.monotonic())
            print(f"embedded Postgres: {pg.path}", flush=True)
        if not os.environ.get("REDIS_URL"):
            rd = EmbeddedRedis(data_dir, port=_stable_port(data_dir))
            children.append(Child("redis", "the embedded Redis", rd))
            os.environ["REDIS_URL"] = children[-1].start(time.monotonic())
            print(f"embedded Redis: {rd.path} (port {rd.port})", flush=True)
        settings = load_settings()
        _migrate(settings.db.url)
        admin_password = os.environ.get("SWITCHYARD_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        created = asyncio.run(ensure_user(settings, "admin", admin_password, ["admin"]))
        write_instance(
            data_dir,
            Instance(settings.db.url, settings.redis.url, url, os.getpid()),
        )
        if stop.requested:
            return 0
        log = RestartLog(settings.redis.url, settings.redis.prefix)
        exe = [sys.executable, "-m", "infra"]
        workers = str(args.api_workers or default_api_workers())
        api = [*exe, "api", "--host", host, "--port", str(port), "--workers", workers]
        children.append(Child("api", "the API", Process(api, group=True)))
        for pool in POOLS:
            concurrency = ["--concurrency", str(args.concurrency)] if args.concurrency else []
            worker = Process([*exe, "worker", "--pool", pool, *concurrency], _pool_env(pool))
            children.append(Child(f"worker-{pool}", f"the {pool} worker", worker))
        for child in children:
            if isinstance(child.runs, Process):
                child.start(time.monotonic())
        ready_by = time.monotonic() + 180
        while not stop.wait(0.2):
            now = time.monotonic()
            _supervise(children, log, now)
            if ready_by and _ready(url):
                ready_by = 0.0
                _banner(url, workers, admin_password if created else None)
            elif ready_by and now > ready_by:
                raise CliError(f"the API did not become ready at {url} within 180 s")
        return 0
    finally:
        print("stopping…", flush=True)
        remove_instance(data_dir, os.getpid())
        _stop(children)
        if log is not None:
            log.close()
        print("stopped", flush=True)


def _stable_port(data_dir: Path) -> int:
    """The embedded Redis keeps its port across restarts (remembered under the data dir)."""
    from infra.embedded import free_port

    path = data_dir / "redis" / "port"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return int(path.read_text())
    port = free_port()
    path.write_text(str(port))
    return port


# -- parser / main -------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """Bad arguments end in one line naming the command, like every other failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="switchyard", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    data = Parser(add_help=False)
    data.add_argument(
        "--data-dir", help="embedded servers, secrets, blobs ($SWITCHYARD_DATA_DIR, else .data)"
    )
    api_workers = f"API processes (default: one per core, at most 4; here {default_api_workers()})"

    up = sub.add_parser(
        "up", parents=[data], help="run everything (embedded Postgres/Redis when not configured)"
    )
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--api-workers", type=int, help=api_workers)
    up.add_argument(
        "--concurrency",
        type=int,
        help="jobs at a time per worker of every pool (default: per pool)",
    )
    up.set_defaults(func=cmd_up)

    api = sub.add_parser("api", parents=[data], help="run the API server")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.add_argument("--workers", type=int, help=api_workers)
    api.set_defaults(func=cmd_api)

    worker = sub.add_parser("worker", parents=[data], help="run one worker of a pool")
    worker.add_argument("--pool", required=True, choices=POOLS)
    defaults = ", ".join(f"{p} {default_concurrency(p)}" for p in POOLS)
    worker.add_argument("--concurrency", type=int, help=f"jobs at a time (default: {defaults})")
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", parents=[data], help="apply database migrations")
    migrate.set_defaults(func=cmd_migrate)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    create = user.add_parser(
        "create", parents=[data], help="create a user (or reset its password and roles)"
    )
    create.add_argument("username")
    create.add_argument("--role", action="append", help="admin, operator or user (repeatable)")
    create.add_argument("--password", help="prompted for when not given")
    create.add_argument(
        "--email", help="optional, unique in any letter case (studio logs in by it)"
    )
    create.set_defaults(func=cmd_user_create)

    pools = sub.add_parser("pools", parents=[data], help="print the worker pools table")
    pools.set_defaults(func=cmd_pools)

    robodata = sub.add_parser("robodata", help="robot dataset tools").add_subparsers(
        dest="action", required=True
    )
    show = robodata.add_parser("show", help="print a parsed LeRobot dataset as JSON")
    show.add_argument("path")
    show.set_defaults(func=cmd_robodata_show)
    return parser


def describe(exc: Exception) -> tuple[int, str]:
    """Exit status and the one line printed for a failure."""
    from infra.embedded import EmbeddedUnavailable

    if isinstance(exc, CliError):
        return exc.code, str(exc)
    library = type(exc).__module__.partition(".")[0]
    if isinstance(exc, OSError | EmbeddedUnavailable) or library in SERVER_LIBRARIES:
        return 1, one_line(exc)
    return 1, (
        f"unexpected error: {type(exc).__name__}: {one_line(exc)}"
        f" (run with {DEBUG_ENV}=1 for the traceback)"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = " ".join(w for w in ("switchyard", args.command, getattr(args, "action", None)) if w)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        code, message = describe(exc)
        print(f"{command}: {message}", file=sys.stderr)
        return code
