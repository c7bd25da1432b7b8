"""Replicate adapter: the studio's generation provider on Replicate's predictions API.

It drives the official `replicate` client (async). A prediction is created once, waited
for (a signed webhook when one is configured, polling otherwise or as a fallback), billed
from the price table, and its outputs downloaded at once: Replicate deletes them after an
hour. Rate limits and server errors are retried with backoff, except that a create is
resent only when it certainly never reached Replicate (429, connection refused): a second
create would be a second, paid, prediction.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import msgspec
from replicate.client import Client
from replicate.exceptions import ReplicateError
from replicate.helpers import FileOutput
from replicate.prediction import Prediction

from domain.studio.cost import (
    DEFAULT_PRICE_TABLE,
    PredictionOutcome,
    PriceTable,
    cost_line,
    load_price_table,
)
from domain.studio.error import (
    InvalidRequest,
    OutputUnavailable,
    PredictionCanceled,
    PredictionFailed,
    PredictionTimedOut,
    PredictionUncertain,
    ProviderUnavailable,
    StudioError,
)
from domain.studio.model import (
    Asset,
    ClipRequest,
    CostLine,
    Generation,
    ImageRequest,
    Progress,
)
from domain.studio.provider import CostSink, Provider
from domain.studio.webhook import WebhookRejected, verify_signature
from infra.settings import ReplicateSettings

T = TypeVar("T")
TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class PredictionState(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of a prediction this adapter reads."""

    id: str
    status: str
    output: Any = None
    error: str | None = None
    logs: str | None = None
    metrics: dict[str, Any] | None = None
    started_at: str | None = None

    @property
    def predict_time(self) -> float | None:
        value = (self.metrics or {}).get("predict_time")
        return float(value) if isinstance(value, int | float) else None


def _state(data: Mapping[str, Any]) -> PredictionState:
    return msgspec.convert(dict(data), PredictionState)


class WebhookInbox:
    """Verified completion webhooks, handed to the waiting prediction.

    Replicate delivers at least once and retries until acknowledged, so a delivery seen
    before (same `webhook-id`) is acknowledged and ignored. A payload that arrives before
    anyone waits is kept (bounded) so it is not lost. This in-process inbox serves a worker
    that receives its own webhooks; a deployment where the API receives them feeds the
    worker's inbox through the event bus.
    """

    def __init__(self, secret: str, *, tolerance_s: int = 300, keep: int = 1024) -> None:
        if not secret:
            raise ValueError("a webhook inbox needs the webhook signing secret")
        self._secret = secret
        self._tolerance = tolerance_s
        self._keep = keep
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._payloads: OrderedDict[str, PredictionState] = OrderedDict()
        self._waiters: dict[str, asyncio.Event] = {}

    def receive(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Verify and take one delivery; False when it is a retry of one already taken."""
        msg_id = verify_signature(headers, body, self._secret, tolerance_s=self._tolerance)
        if msg_id in self._seen:
            return False
        try:
            state = _state(msgspec.json.decode(body))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise WebhookRejected(f"webhook body is not a prediction: {exc}") from exc
        _remember(self._seen, msg_id, None, self._keep)
        _remember(self._payloads, state.id, state, self._keep)
        if (event := self._waiters.get(state.id)) is not None:
            event.set()
        return True

    async def wait(self, prediction_id: str, within: float) -> PredictionState | None:
        """The latest delivered state of a prediction, waiting up to `within` s for one."""
        if (state := self._payloads.pop(prediction_id, None)) is not None:
            return state
        event = self._waiters.setdefault(prediction_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), within)
        except TimeoutError:
            return None
        finally:
            self._waiters.pop(prediction_id, None)
        return self._payloads.pop(prediction_id, None)


def _remember(store: OrderedDict[str, T], key: str, value: T, keep: int) -> None:
    store[key] = value
    store.move_to_end(key)
    while len(store) > keep:
        store.popitem(last=False)


def normalise_output(output: Any, client: Client) -> list[FileOutput]:
    """Every file in a prediction's output, in order, whatever shape the model returns."""
    if output is None:
        return []
    if isinstance(output, FileOutput):
        return [output]
    if isinstance(output, str):
        if not output.startswith(("https://", "http://", "data:")):
            raise OutputUnavailable(f"output is not a file URL: {output[:80]!r}")
        return [FileOutput(output, client)]
    if isinstance(output, list | tuple):
        return [f for item in output for f in normalise_output(item, client)]
    if isinstance(output, Mapping):
        return [f for item in output.values() for f in normalise_output(item, client)]
    raise OutputUnavailable(f"unexpected output type {type(output).__name__}")


def sniff_content_type(data: bytes) -> str:
    """The media type of a generated file, from its first bytes."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    return "application/octet-stream"


def _seed(seed: int | None) -> int:
    """The request's seed, or a random one: Replicate would pick one anyway, and a random
    seed makes the input unique enough to find the prediction an unanswered create made."""
    return seed if seed is not None else random.randrange(2**31)


def _data_uri(data: bytes) -> str:
    return f"data:{sniff_content_type(data)};base64,{base64.b64encode(data).decode()}"


def _ambiguous(exc: BaseException) -> bool:
    """True when a failed create may still have reached Replicate."""
    if isinstance(exc, ReplicateError):
        return exc.status is None or exc.status >= 500
    return isinstance(exc, httpx.TransportError) and not isinstance(
        exc, httpx.ConnectError | httpx.ConnectTimeout
    )


class ReplicateProvider:
    """flux-schnell images and gen4-turbo clips on Replicate."""

    name: Literal["replicate"] = "replicate"

    def __init__(
        self,
        settings: ReplicateSettings,
        *,
        prices: PriceTable = DEFAULT_PRICE_TABLE,
        inbox: WebhookInbox | None = None,
        client: Client | None = None,
    ) -> None:
        if not settings.api_token:
            raise ValueError("the Replicate provider needs an API token")
        self.settings = settings
        self.prices = prices
        self.inbox = inbox
        self.client = client or Client(api_token=settings.api_token, base_url=settings.base_url)

    async def generate_images(
        self,
        request: ImageRequest,
        *,
        progress: Progress | None = None,
        on_cost: CostSink | None = None,
    ) -> Generation:
        """flux-schnell: one prediction for all the requested images."""
        payload: dict[str, Any] = {
            "prompt": request.prompt,
            "num_outputs": request.num_outputs,
            "aspect_ratio": request.aspect_ratio,
            "output_format": request.output_format,
        }
        payload["seed"] = _seed(request.seed)
        return await self._run(
            self.settings.image_model,
            payload,
            requested=float(request.num_outputs),
            per_output=1.0,
            progress=progress,
            on_cost=on_cost,
        )

    async def generate_clip(
        self,
        request: ClipRequest,
        *,
        progress: Progress | None = None,
        on_cost: CostSink | None = None,
    ) -> Generation:
        """gen4-turbo: a clip of `duration` seconds from the start image."""
        payload: dict[str, Any] = {
            "prompt": request.prompt,
            "image": request.image_url or _data_uri(request.image),
            "duration": request.duration,
            "aspect_ratio": request.aspect_ratio,
        }
        payload["seed"] = _seed(request.seed)
        return await self._run(
            self.settings.clip_model,
            payload,
            requested=float(request.duration),
            per_output=float(request.duration),
            progress=progress,
            on_cost=on_cost,
            duration=float(request.duration),
        )

    async def run_model(
        self,
        model: str,
        payload: dict[str, Any],
        *,
        hardware: str = "",
        progress: Progress | None = None,
        on_cost: CostSink | None = None,
    ) -> Generation:
        """Any model, billed from the table (community models by time on `hardware`)."""
        return await self._run(
            model,
            payload,
            requested=0.0,
            per_output=1.0,
            progress=progress,
            on_cost=on_cost,
            hardware=hardware,
        )

    async def _run(
        self,
        model: str,
        payload: dict[str, Any],
        *,
        requested: float,
        per_output: float,
        progress: Progress | None,
        on_cost: CostSink | None,
        hardware: str = "",
        duration: float | None = None,
    ) -> Generation:
        # Fail on an unpriced model before paying for a prediction.
        self.prices.price_for(model, hardware)
        report = progress or (lambda _p, _m: None)
        report(1.0, f"creating prediction on {model}")
        state = await self._create_cancellable(model, payload)

        def bill(final: PredictionState) -> CostLine:
            delivered = 0.0
            if final.status == "succeeded":
                delivered = len(normalise_output(final.output, self.client)) * per_output
            outcome = PredictionOutcome(
                model=model,
                prediction_id=final.id,
                status=final.status,  # type: ignore[arg-type]
                started=final.started_at is not None,
                requested_units=requested,
                delivered_units=delivered,
                predict_time=final.predict_time,
                hardware=hardware,
            )
            line = cost_line(self.prices, outcome)
            if on_cost is not None:
                on_cost(line)
            return line

        try:
            state = await self._wait(state, report)
        except (asyncio.CancelledError, PredictionTimedOut):
            bill(await self._cancel_quietly(state))
            raise
        line = bill(state)
        if state.status == "failed":
            raise PredictionFailed(
                f"{model} failed: {state.error or 'no error message'}", prediction_id=state.id
            )
        if state.status in ("canceled", "aborted"):
            raise PredictionCanceled(f"{model} prediction was {state.status}", state.id)

        files = normalise_output(state.output, self.client)
        if not files:
            raise OutputUnavailable(f"{model} succeeded without output", state.id)
        assets = []
        for i, file in enumerate(files):
            report(90.0 + 10.0 * i / len(files), f"downloading output {i + 1}/{len(files)}")
            data = await self._retry(file.aread, f"download of {file.url}", state.id)
            assets.append(
                Asset(
                    index=i, data=data, content_type=sniff_content_type(data), source_url=file.url
                )
            )
        report(100.0, "done")
        return Generation(
            assets=assets,
            provider="replicate",
            local=False,
            model=model,
            prediction_id=state.id,
            cost=line,
            duration=duration,
        )

    # -- create -----------------------------------------------------------------------

    async def _create_cancellable(self, model: str, payload: dict[str, Any]) -> PredictionState:
        task = asyncio.ensure_future(self._create(model, payload))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # The create may already be on Replicate: let it answer so the prediction can
            # be canceled instead of running (and billing) with nobody waiting for it.
            with contextlib.suppress(StudioError, TimeoutError):
                state = await asyncio.wait_for(task, self.settings.wait_s + 10.0)
                await self._cancel_quietly(state)
            raise

    async def _create(self, model: str, payload: dict[str, Any]) -> PredictionState:
        params: dict[str, Any] = {}
        if self.settings.wait_s > 0:
            params["wait"] = min(60, self.settings.wait_s)
        if self.settings.webhook_url:
            params["webhook"] = self.settings.webhook_url
            params["webhook_events_filter"] = ["completed"]
        attempt = 0
        while True:
            attempt += 1
            sent_at = time.time()
            try:
                prediction: Prediction = await self.client.models.predictions.async_create(
                    model=model, input=payload, **params
                )
                return _state(prediction.dict())
            except (ReplicateError, httpx.TransportError) as exc:
                if _ambiguous(exc):
                    found = await self._find_created(model, payload, sent_at)
                    if found is not None:
                        return found
                    raise PredictionUncertain(
                        f"creating a prediction on {model} failed after it may have reached "
                        f"Replicate ({_describe(exc)}); not resent so it is not paid twice"
                    ) from exc
                if isinstance(exc, ReplicateError) and exc.status != 429:
                    raise _client_error(model, exc) from exc
                if attempt >= self.settings.max_attempts:
                    raise ProviderUnavailable(
                        f"Replicate refused {attempt} creates on {model}: {_describe(exc)}"
                    ) from exc
                await asyncio.sleep(self._backoff(attempt))

    async def _find_created(
        self, model: str, payload: dict[str, Any], sent_at: float
    ) -> PredictionState | None:
        """The prediction an unanswered create made, if Replicate lists one.

        Adopting it means the job goes on (and is billed) instead of failing while the
        prediction runs unseen. Matched on model, input and creation time.
        """

        async def recent() -> list[dict[str, Any]]:
            response = await self.client._async_request("GET", "/v1/predictions")
            results: list[dict[str, Any]] = response.json().get("results") or []
            return results

        try:
            listed = await self._retry(recent, "listing recent predictions", "")
        except StudioError:
            return None
        for item in listed:
            created = _timestamp(item.get("created_at"))
            # Clocks differ: allow a little skew.
            if (
                item.get("model") == model
                and item.get("input") == payload
                and created is not None
                and created >= sent_at - 5
            ):
                return _state(item)
        return None

    # -- wait -------------------------------------------------------------------------

    async def _wait(self, state: PredictionState, report: Progress) -> PredictionState:
        deadline = time.monotonic() + self.settings.prediction_timeout_s
        while state.status not in TERMINAL:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PredictionTimedOut(
                    f"prediction {state.id} did not finish in "
                    f"{self.settings.prediction_timeout_s:g} s; canceled",
                    state.id,
                )
            _report_status(state, report)
            delivered = None
            if self.inbox is not None:
                delivered = await self.inbox.wait(
                    state.id, min(left, self.settings.webhook_fallback_poll_s)
                )
            else:
                await asyncio.sleep(min(left, self.settings.poll_interval_s))
            state = delivered or await self._get(state.id)
        return state

    async def _get(self, prediction_id: str) -> PredictionState:
        async def get() -> PredictionState:
            # Read raw: client 1.0's Prediction model rejects the "aborted" status.
            response = await self.client._async_request("GET", f"/v1/predictions/{prediction_id}")
            return _state(response.json())

        return await self._retry(get, f"reading prediction {prediction_id}", prediction_id)

    async def _cancel_quietly(self, state: PredictionState) -> PredictionState:
        """Cancel, shielded from the caller's own cancellation.

        If the cancel cannot be confirmed the prediction is taken as canceled, so it is
        billed as one rather than forgotten.
        """
        try:
            prediction = await asyncio.shield(self.client.predictions.async_cancel(state.id))
            state = _state(prediction.dict())
        except (ReplicateError, httpx.TransportError, asyncio.CancelledError):
            pass
        if state.status in TERMINAL:
            return state
        return msgspec.structs.replace(state, status="canceled")

    # -- retries ----------------------------------------------------------------------

    async def _retry(self, call: Callable[[], Awaitable[T]], what: str, prediction_id: str) -> T:
        """Repeat a safe-to-repeat call on 429, 5xx and network errors."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except (ReplicateError, httpx.HTTPStatusError, httpx.TransportError) as exc:
                status = _status(exc)
                if status is not None and status not in _RETRY_STATUS:
                    raise OutputUnavailable(f"{what}: {_describe(exc)}", prediction_id) from exc
                if attempt >= self.settings.max_attempts:
                    raise ProviderUnavailable(
                        f"{what} failed {attempt} times: {_describe(exc)}"
                    ) from exc
                await asyncio.sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        base = min(self.settings.backoff_max_s, self.settings.backoff_s * 2 ** (attempt - 1))
        # Full jitter, so workers throttled together do not retry together.
        return random.uniform(base / 2, base)


def _status(exc: BaseException) -> int | None:
    if isinstance(exc, ReplicateError):
        return exc.status
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    return None


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ReplicateError):
        return f"HTTP {exc.status}: {exc.detail or exc.title or 'no detail'}"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return f"{type(exc).__name__}: {exc}"


def _client_error(model: str, exc: ReplicateError) -> StudioError:
    if exc.status in (401, 403):
        return ProviderUnavailable(f"Replicate rejected the API token ({_describe(exc)})")
    return InvalidRequest(f"Replicate refused the input for {model}: {_describe(exc)}")


def _report_status(state: PredictionState, report: Progress) -> None:
    if state.status == "starting":
        report(5.0, "waiting for a Replicate worker")
        return
    parsed = Prediction.Progress.parse(state.logs or "")
    if parsed is not None:
        report(10.0 + 80.0 * parsed.percentage, f"{parsed.current}/{parsed.total} steps")
    else:
        report(10.0, "running on Replicate")


def load_prices(settings: ReplicateSettings) -> PriceTable:
    """The price table named in settings, or the built-in one."""
    if not settings.price_table:
        return DEFAULT_PRICE_TABLE
    return load_price_table(Path(settings.price_table).read_bytes())


def build_provider(settings: ReplicateSettings, *, inbox: WebhookInbox | None = None) -> Provider:
    """Replicate when a token is configured, else the offline local provider."""
    if not settings.api_token:
        from domain.studio.local import LocalProvider

        return LocalProvider()
    return ReplicateProvider(settings, prices=load_prices(settings), inbox=inbox)
