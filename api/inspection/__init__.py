"""The PatchCore inspection contract under /inspection: datasets, fit, calibration and
inference, with the backbone work as jobs on the gpu pool."""

from __future__ import annotations

from litestar.di import Provide

from api.inspection.access import caller
from api.inspection.error import DOMAIN_ERRORS, ERRORS, JOB_ERRORS
from api.inspection.route import ROUTES
from api.inspection.state import NAME, InspectionState, lifespan
from api.service import Service

SERVICE: Service[InspectionState] = Service(
    name=NAME,
    prefix="/inspection",
    routes=ROUTES,
    errors=ERRORS,
    domain_errors=DOMAIN_ERRORS,
    job_errors=JOB_ERRORS,
    # Every route's `principal` is the inspection caller: open networks need no token.
    dependencies={"principal": Provide(caller)},
    lifespan=lifespan,
)
