"""One API server for the inventory tests, a clean database per test, and users with tokens.

The server is shared because starting one per test dominated the run time; every test still
starts from empty tables. Users are written straight to the users table and given an access
token signed by the server's issuer, which skips the deliberately slow password hashing; one
test logs in through `/auth/login` to cover that path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.settings import Settings
from tests.conftest import LiveApi, make_settings, truncate_all


@pytest.fixture(scope="session")
async def inventory_api(
    database_url: str, server_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveApi]:
    live = LiveApi(
        make_settings(database_url, server_urls["redis"], tmp_path_factory.mktemp("inv"))
    )
    await live.start()
    yield live
    await live.stop()


@pytest.fixture
async def client(inventory_api: LiveApi, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the shared server, on empty tables."""
    await truncate_all(database_url)
    async with httpx.AsyncClient(base_url=inventory_api.url, timeout=30) as http:
        yield http


async def add_member(settings: Settings, username: str, roles: list[str]) -> dict[str, Any]:
    """A user row and a real access token for it: {"id", "headers"}."""
    from infra.db import user as user_repo
    from infra.db.engine import make_engine, make_sessionmaker
    from infra.security import Principal, issue_access_token

    engine = make_engine(settings.db)
    try:
        async with make_sessionmaker(engine).begin() as session:
            user = await user_repo.create_user(session, username, "!no-password-login", roles)
    finally:
        await engine.dispose()
    token = issue_access_token(settings.auth, Principal(str(user.id), username, tuple(roles)))
    return {"id": str(user.id), "headers": {"Authorization": f"Bearer {token}"}}


@pytest.fixture
async def member(inventory_api: LiveApi, client: httpx.AsyncClient) -> Any:
    """member(username="alice", roles=["user"]) → {"id", "headers"} for the shared server."""

    async def _member(username: str = "alice", roles: list[str] | None = None) -> dict[str, Any]:
        return await add_member(inventory_api.settings, username, roles or ["user"])

    return _member


@pytest.fixture
def live_settings(
    inventory_api: LiveApi, database_url: str, server_urls: dict[str, str], tmp_path: Path
) -> Any:
    """settings(**env) → Settings for a server of a test's own (e.g. anonymous reads on) that
    accepts the tokens `member` hands out."""

    def _settings(**env: str) -> Settings:
        secret = inventory_api.settings.auth.jwt_secret
        return make_settings(
            database_url, server_urls["redis"], tmp_path, SWITCHYARD_AUTH_JWT_SECRET=secret, **env
        )

    return _settings
