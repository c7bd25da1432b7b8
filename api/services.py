"""The service routers mounted under their contract prefixes. One line per service."""

from __future__ import annotations

from typing import Any

SERVICE_ROUTERS: list[Any] = []
