"""The PatchCore inspection contract under /inspection: datasets, fit, calibration and
inference, with the backbone work as jobs on the gpu pool."""

from __future__ import annotations

from litestar.config.cors import CORSConfig
from litestar.di import Provide

from api.inspection.access import caller
from api.inspection.error import DOMAIN_ERRORS, ERRORS, JOB_ERRORS
from api.inspection.route import ROUTES
from api.inspection.state import NAME, InspectionState, lifespan
from api.service import Service
from infra.settings import Settings


def _cors(settings: Settings) -> CORSConfig | None:
    """A browser GUI on another origin, when the operator lists it."""
    origins = settings.inspection.cors_origins
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization", "Prefer", "X-Request-Id", "X-Recipe-Id"],
        expose_headers=["X-Request-Id"],
    )


SERVICE: Service[InspectionState] = Service(
    name=NAME,
    prefix="/inspection",
    routes=ROUTES,
    errors=ERRORS,
    domain_errors=DOMAIN_ERRORS,
    job_errors=JOB_ERRORS,
    # Every route's `principal` is the inspection caller: open networks need no token.
    dependencies={"principal": Provide(caller)},
    cors=_cors,
    lifespan=lifespan,
)
