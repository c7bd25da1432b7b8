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
from pathlib import Path
from typing import Any

from infra.settings import POOLS, Settings, load_settings

API_FACTORY = "api.app:create_app"


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "data_dir", None):
        os.environ["SWITCHYARD_DATA_DIR"] = str(Path(args.data_dir).resolve())
    return load_settings()


# -- migrate / users -----------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> int:
    from infra.db.migrate import upgrade

    settings = _settings(args)
    upgrade(settings.db.url)
    print("database is at the latest revision")
    return 0


async def ensure_user(
    settings: Settings, username: str, password: str, roles: list[str], *, update: bool = False
) -> bool:
    """Create a user (True), or leave (or, with update, reset) an existing one (False)."""
    from infra.db import users
    from infra.db.engine import make_engine, make_sessionmaker
    from infra.security import hash_password

    engine = make_engine(settings.db)
    try:
        async with make_sessionmaker(engine).begin() as session:
            existing = await users.get_by_username(session, username)
            if existing is not None:
                if update:
                    await users.set_password(session, existing, hash_password(password))
                    existing.roles = roles
                return False
            await users.create_user(session, username, hash_password(password), roles)
            return True
    finally:
        await engine.dispose()


def cmd_user_create(args: argparse.Namespace) -> int:
    from infra.security import ROLES

    settings = _settings(args)
    roles = args.role or ["user"]
    bad = [r for r in roles if r not in ROLES]
    if bad:
        print(f"unknown role(s) {', '.join(bad)}; roles are {', '.join(ROLES)}", file=sys.stderr)
        return 2
    password = args.password or os.environ.get("SWITCHYARD_NEW_USER_PASSWORD")
    if not password:
        password = getpass.getpass(f"password for {args.username}: ")
    if len(password) < 8:
        print("password must have at least 8 characters", file=sys.stderr)
        return 2
    created = asyncio.run(ensure_user(settings, args.username, password, roles, update=True))
    print(("created" if created else "updated") + f" user {args.username} ({', '.join(roles)})")
    return 0


# -- api / worker / pools ------------------------------------------------------------------


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from infra import logs

    settings = _settings(args)
    logs.configure(settings.api.log_level)
    uvicorn.run(
        API_FACTORY,
        factory=True,
        host=args.host or settings.api.host,
        port=args.port or settings.api.port,
        log_config=None,
        access_log=False,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        # Events are small JSON messages: compressing each one costs both ends more CPU than
        # the bytes it saves (it was a tenth of the API's time relaying events).
        ws_per_message_deflate=False,
        loop="uvloop",
        http="httptools",
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from infra import logs

    settings = _settings(args)
    logs.configure(settings.api.log_level)
    pool_module: Any = importlib.import_module("workers.pool")
    try:
        pool_module.check_pool(args.pool)
    except pool_module.PoolUnavailable as exc:
        print(f"switchyard worker: {exc}", file=sys.stderr)
        return 3
    import uvloop

    uvloop.run(pool_module.serve(settings, args.pool, args.concurrency))
    return 0


def cmd_pools(args: argparse.Namespace) -> int:
    from infra.db.engine import make_engine
    from infra.pools import overview, render_table
    from infra.redis import make_redis, stream_keys

    settings = _settings(args)

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


def _wait_ready(url: str, procs: list[subprocess.Popen[bytes]], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{' '.join(map(str, p.args))} exited with {p.returncode}")
        try:
            with urllib.request.urlopen(url + "/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API did not become ready at {url} within {timeout_s:.0f} s")


def cmd_up(args: argparse.Namespace) -> int:
    """Everything in one command: servers (embedded when not configured), migrations, the API
    and a worker per pool; Ctrl-C or SIGTERM stops it all."""
    from infra.db.migrate import upgrade
    from infra.embedded import EmbeddedPostgres, EmbeddedRedis

    data_dir = Path(args.data_dir or os.environ.get("SWITCHYARD_DATA_DIR") or ".data").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["SWITCHYARD_DATA_DIR"] = str(data_dir)
    host, port = args.host, args.port
    stopping = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    embedded: list[Any] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if not os.environ.get("DATABASE_URL"):
            pg = EmbeddedPostgres(data_dir)
            embedded.append(pg)
            os.environ["DATABASE_URL"] = pg.start()
            print(f"embedded Postgres: {pg.path}", flush=True)
        if not os.environ.get("REDIS_URL"):
            rd = EmbeddedRedis(data_dir, port=_stable_port(data_dir))
            embedded.append(rd)
            os.environ["REDIS_URL"] = rd.start()
            print(f"embedded Redis: {rd.path} (port {rd.port})", flush=True)
        settings = load_settings()
        upgrade(settings.db.url)
        admin_password = os.environ.get("SWITCHYARD_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        created = asyncio.run(ensure_user(settings, "admin", admin_password, ["admin"]))
        exe = [sys.executable, "-m", "infra"]
        env = {**os.environ}
        procs.append(subprocess.Popen([*exe, "api", "--host", host, "--port", str(port)], env=env))
        for pool in POOLS:
            procs.append(
                subprocess.Popen(
                    [*exe, "worker", "--pool", pool, "--concurrency", str(args.concurrency)],
                    env=env,
                )
            )
        url = f"http://{host}:{port}"
        _wait_ready(url, procs)
        print(f"Switchyard API: {url}", flush=True)
        print(f"API docs: {url}/docs", flush=True)
        if created:
            print(f"Log in as admin with password: {admin_password}  (shown once)", flush=True)
        else:
            print("Log in as admin (password set on first start or with `switchyard user create`)")
        while not stopping:
            for p in procs:
                if p.poll() is not None:
                    print(f"a process exited ({p.returncode}): {' '.join(map(str, p.args))}")
                    stopping = True
            time.sleep(0.2)
        return 0
    except RuntimeError as exc:
        print(f"switchyard up: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping…", flush=True)
        for p in procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        for server in reversed(embedded):
            server.stop()
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


# -- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchyard", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run everything (embedded Postgres/Redis when not configured)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--data-dir")
    up.add_argument("--concurrency", type=int, default=4, help="jobs at a time per pool")
    up.set_defaults(func=cmd_up)

    api = sub.add_parser("api", help="run the API server")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.set_defaults(func=cmd_api)

    worker = sub.add_parser("worker", help="run one worker of a pool")
    worker.add_argument("--pool", required=True, choices=POOLS)
    worker.add_argument("--concurrency", type=int, default=4)
    worker.set_defaults(func=cmd_worker)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    create = user.add_parser("create", help="create a user (or reset its password and roles)")
    create.add_argument("username")
    create.add_argument("--role", action="append", help="admin, operator or user (repeatable)")
    create.add_argument("--password", help="prompted for when not given")
    create.set_defaults(func=cmd_user_create)

    sub.add_parser("pools", help="print the worker pools table").set_defaults(func=cmd_pools)

    robodata = sub.add_parser("robodata", help="robot dataset tools").add_subparsers(
        dest="action", required=True
    )
    show = robodata.add_parser("show", help="print a parsed LeRobot dataset as JSON")
    show.add_argument("path")
    show.set_defaults(func=cmd_robodata_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
