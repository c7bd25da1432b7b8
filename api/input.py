"""Checks every request's input passes before any route sees it, one place per kind of input.

Postgres refuses NUL in text and integers beyond 64 bits, msgspec's JSON decoder recurses once
per nesting level, and Litestar reads query and path integers leniently (`1e3` as 1000): left
to each route, every one of these was a 500 or a wrong answer. `input_middleware` checks paths
and query strings, `JsonRequest.json` the JSON bodies every `JSONBody` argument is decoded
from. Both raise `ValidationException`, so each router's `ErrorShape` writes the 400.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.enums import ParamType, ScopeType
from litestar.exceptions import ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.params import ParameterKwarg
from litestar.types import ASGIApp, Receive, Scope, Send

# The most levels a JSON body may nest: far below the decoder's recursion limit, so nothing
# that walks a decoded body (validation, encoding, Postgres's jsonb) can run out of stack.
MAX_JSON_DEPTH = 64
# Postgres's bigint, the widest integer a query parameter can reach a statement as.
MIN_BIGINT, MAX_BIGINT = -(2**63), 2**63 - 1

_INTEGER = re.compile(r"-?[0-9]+")
_JSON_STRING = re.compile(rb'"[^"]*"')
# Brackets become +1 / -1 (as signed bytes); everything else is dropped.
_BRACKET_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")


def json_depth(body: bytes) -> int:
    """How deep a valid JSON document nests (strings may hold brackets, so they go first)."""
    # Escapes pair backslashes left to right, as these replacements do; what stays of each
    # string is then quote to quote (all C loops: a pattern with escapes in it is far slower).
    body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    steps = _JSON_STRING.sub(b"", body).translate(_BRACKET_STEP, _NOT_BRACKET)
    return max(itertools.accumulate(memoryview(steps).cast("b")), default=0)


def nul_field(value: Any, path: str = "") -> str | None:
    """Where in a decoded JSON value text (a string or a key) first holds a NUL, if anywhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            if "\x00" in key:
                return here
            if (found := nul_field(item, here)) is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if (found := nul_field(item, f"{path}[{i}]")) is not None:
                return found
    return None


def _too_deep() -> ValidationException:
    return ValidationException(f"request body: JSON nested deeper than {MAX_JSON_DEPTH} levels")


class JsonRequest(Request[Any, Any, Any]):
    """The app's request: its JSON body is refused (400) when too deep or holding a NUL."""

    async def json(self) -> Any:
        body = await self.body()
        try:
            value = await super().json()
        except RecursionError:
            raise _too_deep() from None
        # Counting brackets is cheap and almost every body has fewer than the limit in all.
        if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and (
            json_depth(body) > MAX_JSON_DEPTH
        ):
            raise _too_deep()
        # JSON spells a NUL only as this escape; walking the decoded body finds which field.
        if b"\\u0000" in body and (field := nul_field(value)) is not None:
            raise ValidationException(
                f"{field or 'request body'}: must not contain a NUL character (\\u0000)"
            )
        return value


def _integer_params(handler: BaseRouteHandler) -> dict[str, ParamType]:
    """The query and path parameters a handler, or a dependency it can use, reads as `int`."""
    dependencies = handler.resolve_dependencies()
    signatures = [handler.parsed_fn_signature]
    signatures += [provide.parsed_fn_signature for provide in dependencies.values()]
    found: dict[str, ParamType] = {}
    for signature in signatures:
        for name, field in signature.parameters.items():
            kwarg = field.kwarg_definition
            source = ParamType.QUERY
            if isinstance(kwarg, ParameterKwarg):
                name, source = kwarg.name or name, kwarg.param_type
            elif kwarg is not None or name in dependencies:
                continue
            types = (field, *field.inner_types)
            if source in (ParamType.QUERY, ParamType.PATH) and any(
                t.is_subclass_of(int) and not t.is_subclass_of(bool) for t in types
            ):
                found[name] = source
    return found


def _integer_error(name: str, value: str) -> ValidationException | None:
    if not _INTEGER.fullmatch(value):
        return ValidationException(f"{name}: must be an integer, got {value[:40]!r}")
    # A length check first: int() of thousands of digits is refused (and slow).
    if len(value) > 20 or not MIN_BIGINT <= int(value) <= MAX_BIGINT:
        return ValidationException(f"{name}: must be between {MIN_BIGINT} and {MAX_BIGINT}")
    return None


def input_middleware(app: ASGIApp) -> ASGIApp:
    """Refuse a NUL in the path or a query parameter, and a query or path integer that is not
    written as one or does not fit a bigint, naming the parameter."""
    integers: dict[BaseRouteHandler, dict[str, ParamType]] = {}

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in (ScopeType.HTTP, ScopeType.WEBSOCKET):
            await app(scope, receive, send)
            return
        if "\x00" in scope["path"]:
            raise ValidationException("path: must not contain a NUL character")
        qs = scope["query_string"]
        # Parsed once: Litestar keeps the parse in the scope for the handler's parameters.
        query = (
            list(ASGIConnection[Any, Any, Any, Any](scope).query_params.multi_items()) if qs else []
        )
        if b"%00" in qs or b"\x00" in qs:
            for name, value in query:
                if "\x00" in name or "\x00" in value:
                    raise ValidationException(f"{name}: must not contain a NUL character")
        handler = scope["route_handler"]
        if (params := integers.get(handler)) is None:
            params = integers[handler] = _integer_params(handler)
        if params:
            path_params = scope["path_params"].items()
            values = [
                *((n, v) for n, v in query if params.get(n) is ParamType.QUERY),
                *((n, v) for n, v in path_params if params.get(n) is ParamType.PATH),
            ]
            for name, value in values:
                if isinstance(value, str) and (error := _integer_error(name, value)):
                    raise error
        await app(scope, receive, send)

    return middleware
