"""The robodata contract (LeRobot dataset browser) under /robodata: routes, Structs and its
`{"detail"}` error shape; indexing and media run as jobs on the indexing and media pools."""

from __future__ import annotations

from litestar.config.cors import CORSConfig
from litestar.di import Provide

from api.robodata.access import caller
from api.robodata.error import DOMAIN_ERRORS, ERRORS, JOB_ERRORS
from api.robodata.route import ROUTES
from api.robodata.state import NAME, RobodataState, lifespan
from api.service import Service
from infra.settings import Settings


def _cors(settings: Settings) -> CORSConfig:
    """The browser page's origins (a setting); bearer tokens, so no cookies are allowed."""
    return CORSConfig(
        allow_origins=list(settings.robodata.cors_origins),
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization", "Range", "Prefer"],
        expose_headers=["Content-Range", "Accept-Ranges", "ETag", "Content-Length"],
    )


SERVICE: Service[RobodataState] = Service(
    name=NAME,
    prefix="/robodata",
    routes=ROUTES,
    errors=ERRORS,
    domain_errors=DOMAIN_ERRORS,
    job_errors=JOB_ERRORS,
    dependencies={"member": Provide(caller)},
    cors=_cors,
    lifespan=lifespan,
)
