"""The studio contract (prompt → images → clips → final video) under /studio."""

from __future__ import annotations

from typing import Any

from litestar.config.cors import CORSConfig
from litestar.di import Provide

from api.service import Service
from api.studio.auth import current_user, exchange, login, me
from api.studio.error import DOMAIN_ERRORS, ERRORS, JOB_ERRORS
from api.studio.route import ROUTES
from api.studio.socket import SCOPE, may_read, session_socket
from infra.settings import Settings


def _cors(settings: Settings) -> CORSConfig:
    """The studio front end (a NextAuth app) by default; a setting replaces it."""
    return CORSConfig(
        allow_origins=list(settings.studio.cors_origins),
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization", "Prefer"],
        allow_credentials=True,
    )


SERVICE: Service[Any] = Service(
    name="studio",
    prefix="/studio",
    routes=[login, me, exchange, *ROUTES, session_socket],
    errors=ERRORS,
    domain_errors=DOMAIN_ERRORS,
    job_errors=JOB_ERRORS,
    dependencies={"user": Provide(current_user)},
    cors=_cors,
    topics={SCOPE: may_read},
)
