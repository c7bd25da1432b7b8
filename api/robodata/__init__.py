"""The robodata contract (LeRobot dataset browser) under /robodata: routes, Structs and its
`{"detail"}` error shape; indexing and media run as jobs on the indexing and media pools."""

from __future__ import annotations

from typing import Any

from litestar.di import Provide

from api.robodata.access import caller
from api.robodata.error import DOMAIN_ERRORS, ERRORS, JOB_ERRORS
from api.robodata.route import ROUTES
from api.service import Service

SERVICE: Service[Any] = Service(
    name="robodata",
    prefix="/robodata",
    routes=ROUTES,
    errors=ERRORS,
    domain_errors=DOMAIN_ERRORS,
    job_errors=JOB_ERRORS,
    dependencies={"member": Provide(caller)},
)
