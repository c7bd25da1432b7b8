"""A local stand-in for Replicate's predictions API, for tests (the one allowed stand-in).

It is a real HTTP server on 127.0.0.1 that speaks what the official `replicate` client
calls: create a prediction for an official model (`Prefer: wait` honoured), get, cancel,
list; it serves the output files, signs webhooks the way Replicate does (Standard Webhooks)
and retries them until they are acknowledged. Tests script its failures with `Plan`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

Outcome = Literal["succeed", "fail", "never", "abort"]


@dataclass
class Plan:
    """What the stand-in does next; tests change it between calls."""

    # Status codes answered, in turn, to the next create / get / download requests.
    create_errors: deque[int] = field(default_factory=deque)
    get_errors: deque[int] = field(default_factory=deque)
    download_errors: deque[int] = field(default_factory=deque)
    # Create the prediction, then answer 500 as if the response were lost on the way.
    create_then_fail: bool = False
    outcome: Outcome = "succeed"
    # Seconds in "starting" then in "processing" before the outcome.
    start_s: float = 0.05
    run_s: float = 0.2
    # "list" as flux-schnell answers, "single" (one URL string) as gen4-turbo does.
    output_shape: Literal["list", "single"] = "list"
    # Every webhook is also delivered this many extra times (at-least-once delivery).
    webhook_duplicates: int = 0
    error_message: str = "CUDA out of memory"


@dataclass
class _Prediction:
    id: str
    model: str
    input: dict[str, Any]
    created: float
    outcome: Outcome
    start_s: float
    run_s: float
    output_shape: str
    error_message: str
    webhook: str | None
    webhook_filter: list[str]
    status: str = "starting"
    started: float | None = None
    completed: float | None = None
    output: Any = None
    error: str | None = None
    sent_webhook: bool = False


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _png(prompt: str, index: int, aspect: str) -> bytes:
    from PIL import Image

    w, h = (64, 36) if aspect == "16:9" else (48, 48)
    colour = hashlib.sha256(f"{prompt}/{index}".encode()).digest()[:3]
    buf = io.BytesIO()
    Image.new("RGB", (w, h), tuple(colour)).save(buf, format="PNG")
    return buf.getvalue()


def _mp4(seconds: float) -> bytes:
    import tempfile

    from tests.unit.studio.media import make_clip

    with tempfile.TemporaryDirectory() as tmp:
        path = make_clip(Path(tmp) / "out.mp4", seconds=seconds, size=(128, 72), fps=12)
        return path.read_bytes()


class ReplicateStandIn:
    """The server, its state and its counters."""

    def __init__(self, token: str = "r8_standin") -> None:
        self.token = token
        self.secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        self.plan = Plan()
        self.predictions: dict[str, _Prediction] = {}
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.webhook_attempts: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._clip_bytes: bytes | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ReplicateStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self, plan: Plan | None = None) -> None:
        """Forget counters and apply a new plan (state of earlier predictions is kept)."""
        with self._lock:
            self.plan = plan or Plan()
            self.requests.clear()
            self.webhook_attempts.clear()

    def count(self, kind: str) -> int:
        """How many requests of a kind (create, get, cancel, list, download) arrived."""
        with self._lock:
            return sum(1 for k, _ in self.requests if k == kind)

    # -- prediction lifecycle ---------------------------------------------------------

    def _advance(self, p: _Prediction) -> None:
        """Move a prediction along its timeline; called under the lock."""
        if p.status in ("succeeded", "failed", "canceled", "aborted"):
            return
        now = time.time()
        if p.outcome == "abort":
            if now - p.created >= p.start_s + p.run_s:
                p.status, p.completed = "aborted", now
            return
        if p.started is None and now - p.created >= p.start_s:
            p.status, p.started = "processing", p.created + p.start_s
        if p.started is not None and p.outcome != "never" and now - p.started >= p.run_s:
            p.completed = p.started + p.run_s
            if p.outcome == "fail":
                p.status, p.error = "failed", p.error_message
            else:
                p.status, p.output = "succeeded", self._outputs(p)

    def _outputs(self, p: _Prediction) -> Any:
        urls = []
        if "flux" in p.model:
            for i in range(int(p.input.get("num_outputs", 1))):
                name = f"{p.id}/out-{i}.png"
                self.files[name] = _png(str(p.input.get("prompt")), i, p.input.get("aspect_ratio"))
                urls.append(f"{self.url}/files/{name}")
        else:
            if self._clip_bytes is None:
                self._clip_bytes = _mp4(1.0)
            name = f"{p.id}/output.mp4"
            self.files[name] = self._clip_bytes
            urls.append(f"{self.url}/files/{name}")
        return urls if p.output_shape == "list" else urls[0]

    def _json(self, p: _Prediction) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        if p.started is not None:
            end = p.completed or time.time()
            metrics["predict_time"] = round(end - p.started, 4)
        return {
            "id": p.id,
            "model": p.model,
            "version": "hidden",
            "status": p.status,
            "input": p.input,
            "output": p.output,
            "logs": "",
            "error": p.error,
            "metrics": metrics,
            "created_at": _iso(p.created),
            "started_at": _iso(p.started),
            "completed_at": _iso(p.completed),
            "urls": {
                "get": f"{self.url}/v1/predictions/{p.id}",
                "cancel": f"{self.url}/v1/predictions/{p.id}/cancel",
            },
        }

    def _watch(self, p: _Prediction) -> None:
        """Deliver the completion webhook once the prediction ends (a thread per prediction)."""
        while True:
            with self._lock:
                self._advance(p)
                done = p.completed is not None
                body = json.dumps(self._json(p)).encode() if done else b""
                if done and p.sent_webhook:
                    return
                if done:
                    p.sent_webhook = True
                duplicates = self.plan.webhook_duplicates
            if done:
                break
            time.sleep(0.01)
        if p.webhook and ("completed" in p.webhook_filter or not p.webhook_filter):
            msg_id = "msg_" + secrets.token_hex(12)
            for _ in range(1 + duplicates):
                self._deliver(p.webhook, msg_id, body)

    def _deliver(self, url: str, msg_id: str, body: bytes) -> None:
        """POST a signed webhook, retrying (same id) until it is answered 2xx."""
        for attempt in range(6):
            stamp = str(int(time.time()))
            key = base64.b64decode(self.secret.removeprefix("whsec_"))
            mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={
                    "content-type": "application/json",
                    "webhook-id": msg_id,
                    "webhook-timestamp": stamp,
                    "webhook-signature": "v1," + base64.b64encode(mac).decode(),
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
            with self._lock:
                self.webhook_attempts.append((msg_id, status))
            if 200 <= status < 300:
                return
            time.sleep(0.05 * (attempt + 1))

    # -- request handling -------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        if path.startswith("/files/"):
            with self._lock:
                self.requests.append(("download", path))
                if self.plan.download_errors:
                    return self.plan.download_errors.popleft(), {"detail": "scripted"}
                data = self.files.get(path.removeprefix("/files/"))
            return (200, data) if data is not None else (404, {"detail": "not found"})
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"title": "Unauthenticated", "detail": "Invalid token."}
        if m := re.fullmatch(r"/v1/models/([\w.-]+)/([\w.-]+)/predictions", path):
            if method == "POST":
                return self._create(f"{m[1]}/{m[2]}", headers, body)
        if m := re.fullmatch(r"/v1/predictions/([\w]+)", path):
            with self._lock:
                self.requests.append(("get", m[1]))
                if self.plan.get_errors:
                    return self.plan.get_errors.popleft(), {"detail": "scripted"}
                p = self.predictions.get(m[1])
                if p is None:
                    return 404, {"detail": "Not found."}
                self._advance(p)
                return 200, self._json(p)
        if m := re.fullmatch(r"/v1/predictions/([\w]+)/cancel", path):
            with self._lock:
                self.requests.append(("cancel", m[1]))
                p = self.predictions.get(m[1])
                if p is None:
                    return 404, {"detail": "Not found."}
                self._advance(p)
                if p.completed is None:
                    p.completed = time.time()
                    p.status = "canceled"
                return 200, self._json(p)
        if path == "/v1/predictions" and method == "GET":
            with self._lock:
                self.requests.append(("list", ""))
                items = sorted(self.predictions.values(), key=lambda p: -p.created)
                return 200, {
                    "next": None,
                    "previous": None,
                    "results": [self._json(p) for p in items],
                }
        return 404, {"detail": f"no route {method} {path}"}

    def _create(self, model: str, headers: Any, body: bytes) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(("create", model))
            plan = self.plan
            if plan.create_errors:
                return plan.create_errors.popleft(), {"detail": "scripted create failure"}
        data = json.loads(body or b"{}")
        p = _Prediction(
            id=secrets.token_hex(10),
            model=model,
            input=data.get("input") or {},
            created=time.time(),
            outcome=plan.outcome,
            start_s=plan.start_s,
            run_s=plan.run_s,
            output_shape=plan.output_shape,
            error_message=plan.error_message,
            webhook=data.get("webhook"),
            webhook_filter=data.get("webhook_events_filter") or [],
        )
        with self._lock:
            self.predictions[p.id] = p
        threading.Thread(target=self._watch, args=(p,), daemon=True).start()
        if plan.create_then_fail:
            return 500, {"detail": "internal error"}
        prefer = headers.get("Prefer") or ""
        if m := re.fullmatch(r"wait(?:=(\d+))?", prefer.strip()):
            until = time.time() + (int(m[1]) if m[1] else 60)
            while time.time() < until:
                with self._lock:
                    self._advance(p)
                    if p.completed is not None:
                        break
                time.sleep(0.01)
        with self._lock:
            self._advance(p)
            return 201, self._json(p)


def _handler(standin: ReplicateStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = standin.handle(self.command, self.path, self.headers, body)
            if isinstance(payload, bytes):
                raw, kind = payload, "application/octet-stream"
            else:
                raw, kind = json.dumps(payload).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(raw)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(raw)

        do_GET = _serve
        do_POST = _serve

    return Handler
