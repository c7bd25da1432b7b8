"""The Replicate provider, driven by the official client against the local stand-in."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import av
import httpx
import pytest
from PIL import Image
from replicate.client import Client
from replicate.helpers import FileOutput

from domain.studio.error import (
    OutputUnavailable,
    PredictionCanceled,
    PredictionFailed,
    PredictionTimedOut,
    PredictionUncertain,
    ProviderUnavailable,
)
from domain.studio.local import LocalProvider
from domain.studio.model import ClipRequest, CostLine, ImageRequest
from infra.replicate import (
    ReplicateProvider,
    WebhookInbox,
    WebhookRejected,
    _ambiguous,
    build_provider,
    normalise_output,
)
from infra.settings import ReplicateSettings
from tests.replicate_standin import Plan, ReplicateStandIn
from tests.unit.studio.test_webhook import signed

START_IMAGE = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def settings(server: ReplicateStandIn, **overrides: Any) -> ReplicateSettings:
    base: dict[str, Any] = {
        "api_token": server.token,
        "base_url": server.url,
        "webhook_secret": server.secret,
        "wait_s": 0,
        "poll_interval_s": 0.02,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
        "prediction_timeout_s": 10.0,
    }
    return ReplicateSettings(**(base | overrides))


def provider(server: ReplicateStandIn, **overrides: Any) -> ReplicateProvider:
    return ReplicateProvider(settings(server, **overrides))


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Let the servers' threads catch up until `condition` holds (or give up)."""
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)


def latest(server: ReplicateStandIn) -> Any:
    return max(server.predictions.values(), key=lambda p: p.created)


async def test_images_are_generated_downloaded_and_billed(replicate_server) -> None:
    costs: list[CostLine] = []
    seen: list[tuple[float, str]] = []
    result = await provider(replicate_server).generate_images(
        ImageRequest(prompt="man buys hat", num_outputs=3, aspect_ratio="16:9", seed=3),
        progress=lambda p, m: seen.append((p, m)),
        on_cost=costs.append,
    )
    assert result.provider == "replicate" and result.local is False
    assert result.model == "black-forest-labs/flux-schnell"
    assert [a.index for a in result.assets] == [0, 1, 2]
    for asset in result.assets:
        assert asset.content_type == "image/png"
        assert Image.open(io.BytesIO(asset.data)).size == (64, 36)
    assert len({a.data for a in result.assets}) == 3
    assert result.cost == costs[0] and len(costs) == 1
    assert result.cost.service == "replicate_flux"
    assert result.cost.cost == pytest.approx(0.009)
    assert result.cost.details["num_images"] == 3
    assert result.cost.details["prediction_id"] == result.prediction_id
    # The model received flux-schnell's inputs.
    sent = replicate_server.predictions[result.prediction_id].input
    assert sent == {
        "prompt": "man buys hat",
        "num_outputs": 3,
        "aspect_ratio": "16:9",
        "output_format": "png",
        "seed": 3,
    }
    assert replicate_server.count("create") == 1
    assert seen[-1] == (100.0, "done")


async def test_prefer_wait_answers_fast_models_in_one_request(replicate_server) -> None:
    result = await provider(replicate_server, wait_s=5).generate_images(ImageRequest(prompt="hat"))
    assert len(result.assets) == 1
    assert replicate_server.count("create") == 1
    assert replicate_server.count("get") == 0


async def test_a_clip_given_as_a_single_url_is_downloaded_and_billed_per_second(
    replicate_server,
) -> None:
    replicate_server.reset(Plan(output_shape="single"))
    result = await provider(replicate_server).generate_clip(
        ClipRequest(prompt="pan", image=START_IMAGE, duration=10, aspect_ratio="16:9")
    )
    assert result.model == "runwayml/gen4-turbo"
    assert result.duration == 10.0
    (asset,) = result.assets
    assert asset.content_type == "video/mp4"
    with av.open(io.BytesIO(asset.data)) as box:
        assert box.streams.video[0].codec_context.name == "h264"
    assert result.cost.service == "replicate_luma"
    assert result.cost.details["duration_seconds"] == 10.0
    assert result.cost.cost == pytest.approx(0.5)
    sent = replicate_server.predictions[result.prediction_id].input
    assert sent["image"].startswith("data:image/png;base64,")
    assert sent["duration"] == 10


async def test_a_clip_uses_the_image_url_when_there_is_one(replicate_server) -> None:
    result = await provider(replicate_server).generate_clip(
        ClipRequest(prompt="pan", image=b"", image_url="https://blobs.example/a.png")
    )
    assert replicate_server.predictions[result.prediction_id].input["image"] == (
        "https://blobs.example/a.png"
    )


async def test_rate_limited_creates_are_retried(replicate_server) -> None:
    replicate_server.reset(Plan(create_errors=deque([429, 429])))
    result = await provider(replicate_server).generate_images(ImageRequest(prompt="hat"))
    assert len(result.assets) == 1
    assert replicate_server.count("create") == 3


async def test_rate_limits_that_never_lift_end_in_a_transient_error(replicate_server) -> None:
    replicate_server.reset(Plan(create_errors=deque([429] * 10)))
    with pytest.raises(ProviderUnavailable, match="refused 3 creates") as info:
        await provider(replicate_server, max_attempts=3).generate_images(ImageRequest(prompt="hat"))
    assert info.value.transient is True


async def test_creates_that_never_connected_are_retried(replicate_server) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    p = provider(replicate_server, base_url=closed, max_attempts=3)
    with pytest.raises(ProviderUnavailable, match=r"refused 3 creates.*ConnectError"):
        await p.generate_images(ImageRequest(prompt="hat"))


async def test_a_create_whose_answer_was_lost_is_found_not_resent(replicate_server) -> None:
    replicate_server.reset(Plan(create_then_fail=True))
    result = await provider(replicate_server).generate_images(ImageRequest(prompt="lost"))
    assert len(result.assets) == 1
    assert replicate_server.count("create") == 1
    assert replicate_server.count("list") == 1
    assert replicate_server.predictions[result.prediction_id].input["prompt"] == "lost"


async def test_a_create_that_may_have_reached_replicate_is_never_resent(replicate_server) -> None:
    # A 503 with no prediction listed afterwards: it may still appear, so nothing is resent.
    replicate_server.reset(Plan(create_errors=deque([503])))
    with pytest.raises(PredictionUncertain, match="not resent"):
        await provider(replicate_server).generate_images(ImageRequest(prompt="hat"))
    assert replicate_server.count("create") == 1
    assert replicate_server.count("list") == 1


def test_only_errors_before_the_request_left_count_as_never_sent() -> None:
    request = httpx.Request("POST", "http://x")
    assert not _ambiguous(httpx.ConnectError("refused", request=request))
    assert not _ambiguous(httpx.ConnectTimeout("slow", request=request))
    assert _ambiguous(httpx.ReadTimeout("no answer", request=request))
    assert _ambiguous(httpx.RemoteProtocolError("closed", request=request))


async def test_server_errors_while_waiting_and_downloading_are_retried(replicate_server) -> None:
    replicate_server.reset(
        Plan(
            get_errors=deque([500, 502, 429, 503]),
            download_errors=deque([503, 500]),
            run_s=0.1,
        )
    )
    result = await provider(replicate_server).generate_images(
        ImageRequest(prompt="hat", num_outputs=2)
    )
    assert len(result.assets) == 2
    assert replicate_server.count("create") == 1
    assert replicate_server.count("get") >= 5
    assert replicate_server.count("download") == 4


async def test_an_output_already_deleted_is_a_clear_error(replicate_server) -> None:
    replicate_server.reset(Plan(download_errors=deque([404])))
    with pytest.raises(OutputUnavailable, match="HTTP 404"):
        await provider(replicate_server).generate_images(ImageRequest(prompt="hat"))
    assert replicate_server.count("download") == 1


async def test_a_failed_prediction_reports_the_model_error_and_costs_nothing(
    replicate_server,
) -> None:
    replicate_server.reset(Plan(outcome="fail", error_message="NSFW content detected"))
    costs: list[CostLine] = []
    with pytest.raises(PredictionFailed, match="NSFW content detected") as info:
        await provider(replicate_server).generate_images(
            ImageRequest(prompt="hat"), on_cost=costs.append
        )
    assert info.value.transient is False
    assert [c.cost for c in costs] == [0.0]
    assert costs[0].details["status"] == "failed"


async def test_an_aborted_prediction_is_an_error_and_costs_nothing(replicate_server) -> None:
    replicate_server.reset(Plan(outcome="abort", start_s=0.1, run_s=0.1))
    costs: list[CostLine] = []
    with pytest.raises(PredictionCanceled, match="aborted"):
        await provider(replicate_server).generate_clip(
            ClipRequest(prompt="x", image=START_IMAGE), on_cost=costs.append
        )
    assert costs[0].cost == 0.0 and costs[0].details["status"] == "aborted"


async def test_a_prediction_that_never_finishes_is_canceled_and_charged(replicate_server) -> None:
    replicate_server.reset(Plan(outcome="never"))
    costs: list[CostLine] = []
    with pytest.raises(PredictionTimedOut, match="did not finish"):
        await provider(replicate_server, prediction_timeout_s=0.4).generate_clip(
            ClipRequest(prompt="x", image=START_IMAGE), on_cost=costs.append
        )
    assert replicate_server.count("cancel") == 1
    assert latest(replicate_server).status == "canceled"
    assert costs[0].details["status"] == "canceled"
    assert costs[0].cost == pytest.approx(0.25)


async def test_a_slow_prediction_reports_progress_while_it_runs(replicate_server) -> None:
    replicate_server.reset(Plan(start_s=0.15, run_s=0.6))
    seen: list[tuple[float, str]] = []
    await provider(replicate_server).generate_images(
        ImageRequest(prompt="hat"), progress=lambda p, m: seen.append((p, m))
    )
    messages = [m for _, m in seen]
    assert "waiting for a Replicate worker" in messages
    assert "running on Replicate" in messages
    percents = [p for p, _ in seen]
    assert percents == sorted(percents)


async def test_canceling_the_job_cancels_the_prediction(replicate_server) -> None:
    replicate_server.reset(Plan(outcome="never"))
    costs: list[CostLine] = []
    task = asyncio.create_task(
        provider(replicate_server).generate_clip(
            ClipRequest(prompt="x", image=START_IMAGE), on_cost=costs.append
        )
    )
    # Running on a worker (so billed when canceled) before the job is canceled.
    await eventually(
        lambda: (
            replicate_server.count("get") >= 1 and latest(replicate_server).status == "processing"
        )
    )
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert replicate_server.count("cancel") == 1
    assert latest(replicate_server).status == "canceled"
    assert costs[0].details["status"] == "canceled" and costs[0].cost == pytest.approx(0.25)


async def test_canceling_during_a_blocking_create_still_cancels_the_prediction(
    replicate_server,
) -> None:
    replicate_server.reset(Plan(outcome="never"))
    task = asyncio.create_task(
        provider(replicate_server, wait_s=1).generate_images(ImageRequest(prompt="hat"))
    )
    await asyncio.sleep(0.2)  # the create is being held open by `Prefer: wait`
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert replicate_server.count("create") == 1
    assert replicate_server.count("cancel") == 1
    assert latest(replicate_server).status == "canceled"


async def test_a_rejected_token_is_reported_as_such(replicate_server) -> None:
    bad = ReplicateProvider(settings(replicate_server, api_token="r8_wrong"))
    with pytest.raises(ProviderUnavailable, match="rejected the API token"):
        await bad.generate_images(ImageRequest(prompt="hat"))


def test_outputs_of_every_shape_become_file_outputs() -> None:
    client = Client(api_token="t", base_url="http://127.0.0.1:9")
    url = "https://replicate.delivery/a.png"
    assert [f.url for f in normalise_output(url, client)] == [url]
    assert [f.url for f in normalise_output([url, url + "2"], client)] == [url, url + "2"]
    assert [f.url for f in normalise_output(FileOutput(url, client), client)] == [url]
    assert [f.url for f in normalise_output({"video": url}, client)] == [url]
    assert normalise_output(None, client) == []
    with pytest.raises(OutputUnavailable, match="not a file URL"):
        normalise_output("just text", client)


async def test_file_outputs_made_by_the_client_are_read_too() -> None:
    client = Client(api_token="t", base_url="http://127.0.0.1:9")
    inline = FileOutput("data:image/png;base64," + base64.b64encode(b"png!").decode(), client)
    (file,) = normalise_output([inline], client)
    assert await file.aread() == b"png!"


def test_without_a_token_the_local_provider_is_used() -> None:
    assert isinstance(build_provider(ReplicateSettings()), LocalProvider)
    assert isinstance(build_provider(ReplicateSettings(api_token="r8_x")), ReplicateProvider)


# -- webhooks -------------------------------------------------------------------------


class Receiver:
    """Our webhook endpoint as a real HTTP server feeding an inbox on the test's loop."""

    def __init__(self, inbox: WebhookInbox, loop: asyncio.AbstractEventLoop) -> None:
        self.inbox, self.loop = inbox, loop
        self.fail_next = 0
        self.answers: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers.items())
                status = outer.answer(headers, body)
                outer.answers.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        if self.fail_next:
            self.fail_next -= 1
            return 500

        async def take() -> int:
            try:
                return 204 if self.inbox.receive(headers, body) else 200
            except WebhookRejected:
                return 401

        return asyncio.run_coroutine_threadsafe(take(), self.loop).result(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/studio/webhooks/replicate"


@pytest.fixture
async def receiver(replicate_server) -> Iterator[Receiver]:
    r = Receiver(WebhookInbox(replicate_server.secret), asyncio.get_running_loop())
    yield r
    r.server.shutdown()
    r.server.server_close()


async def test_a_signed_webhook_ends_the_wait_without_polling(replicate_server, receiver) -> None:
    replicate_server.reset(Plan(webhook_duplicates=2, run_s=0.2))
    receiver.fail_next = 1  # the first delivery fails; Replicate retries it
    p = ReplicateProvider(
        settings(replicate_server, webhook_url=receiver.url, webhook_fallback_poll_s=30.0),
        inbox=receiver.inbox,
    )
    result = await asyncio.wait_for(p.generate_images(ImageRequest(prompt="hat")), 10)
    assert len(result.assets) == 1
    assert replicate_server.count("get") == 0
    sent = replicate_server.predictions[result.prediction_id]
    assert sent.webhook == receiver.url and sent.webhook_filter == ["completed"]
    await eventually(lambda: len(receiver.answers) >= 4)
    # One failed delivery, the retry taken, two duplicate retries acknowledged and ignored.
    assert receiver.answers == [500, 204, 200, 200]


async def test_the_inbox_refuses_unsigned_deliveries_and_keeps_early_ones() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    inbox = WebhookInbox(secret)
    body = json.dumps({"id": "p1", "status": "succeeded", "output": []}).encode()
    with pytest.raises(WebhookRejected, match="invalid"):
        inbox.receive(signed(secret, body), body.replace(b"p1", b"p2"))
    assert await inbox.wait("p1", 0.05) is None
    # Delivered before anyone waits: kept for the waiter.
    assert inbox.receive(signed(secret, body), body) is True
    state = await inbox.wait("p1", 0.05)
    assert state is not None and state.status == "succeeded"
