"""Pure rules: error classification, backoff, stream ids, settings, the catalog."""

from __future__ import annotations

import msgspec
import pytest

from domain.job import PermanentError, TransientError, backoff_s, classify
from events.model import stream_id_key
from infra.settings import load_settings
from workers.catalog import CATALOG, kinds_for_pool
from workers.catalog.platform import SleepPayload


@pytest.mark.parametrize(
    ("exc", "retry", "code"),
    [
        (TransientError("busy"), True, "TRANSIENT"),
        (PermanentError("bad", code="BAD_MESH"), False, "BAD_MESH"),
        (ConnectionResetError("reset"), True, "TRANSIENT"),
        (TimeoutError(), True, "TRANSIENT"),
        (ValueError("nope"), False, "INVALID_INPUT"),
        (FileNotFoundError(2, "missing"), False, "INVALID_INPUT"),
        (RuntimeError("boom"), False, "INTERNAL"),
    ],
)
def test_classify(exc: Exception, retry: bool, code: str) -> None:
    got_retry, got_code, detail = classify(exc)
    assert (got_retry, got_code) == (retry, code)
    assert detail


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_s(n, 0.5, 3) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_stream_ids_compare_numerically() -> None:
    assert stream_id_key("10-0") > stream_id_key("9-5")
    assert stream_id_key("1700000000000-10") > stream_id_key("1700000000000-9")


def test_settings_from_environment() -> None:
    s = load_settings(
        {
            "DATABASE_URL": "postgresql://u@h/db",
            "SWITCHYARD_DATA_DIR": "/tmp/sy-settings-test",
            "SWITCHYARD_API_PORT": "9000",
            "SWITCHYARD_INVENTORY_ANONYMOUS_READS": "true",
            "SWITCHYARD_INVENTORY_CORS_ORIGINS": "https://a.example, https://b.example",
            "SWITCHYARD_AUTH_JWT_SECRET": "s3cret",
        }
    )
    assert s.db.url == "postgresql://u@h/db" and s.api.port == 9000
    assert s.inventory.anonymous_reads is True
    assert s.inventory.cors_origins == ("https://a.example", "https://b.example")
    assert s.auth.jwt_secret == "s3cret"


def test_generated_secrets_persist_across_loads(tmp_path) -> None:
    env = {"SWITCHYARD_DATA_DIR": str(tmp_path)}
    first, second = load_settings(env), load_settings(env)
    assert first.auth.jwt_secret == second.auth.jwt_secret and len(first.auth.jwt_secret) > 40
    assert first.blob.signing_secret != first.auth.jwt_secret


def test_bad_setting_is_a_clear_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="port"):
        load_settings({"SWITCHYARD_API_PORT": "eighty", "SWITCHYARD_DATA_DIR": "/tmp/x"})


def test_platform_kinds_run_on_every_pool() -> None:
    for pool in ("gpu", "rigging", "media", "indexing"):
        names = {k.name for k in kinds_for_pool(pool)}
        assert {"platform.noop", "platform.sleep"} <= names
    with pytest.raises(ValueError, match="unknown pool"):
        kinds_for_pool("moon")


def test_catalog_rows_are_complete() -> None:
    for kind in CATALOG.values():
        module, _, name = kind.handler.partition(":")
        assert module and name, kind.name
        assert kind.name.count(".") == 1, "job kinds are <service>.<verb>"
        assert kind.timeout_s > 0 and kind.max_tries >= 1


def test_sleep_payload_validation() -> None:
    assert msgspec.convert({}, SleepPayload).steps == 10
    with pytest.raises(msgspec.ValidationError, match=r"\$.steps"):
        msgspec.convert({"steps": 0}, SleepPayload)


def test_blob_errors_map_to_http() -> None:
    from api.error import PLATFORM_ERRORS
    from infra.blob.error import BlobNotFound, BlobTooLarge, InvalidKey, SignatureExpired

    handlers = PLATFORM_ERRORS.handlers()

    def answer(exc: Exception) -> tuple[int, str]:
        # As Litestar picks a handler: the nearest class in the exception's MRO.
        handler = next(handlers[c] for c in type(exc).__mro__ if c in handlers)
        response = handler(None, exc)  # type: ignore[arg-type]
        return response.status_code, response.content["code"]

    assert answer(BlobNotFound("a/b")) == (404, "NOT_FOUND")
    assert answer(InvalidKey("..")) == (400, "INVALID_KEY")
    assert answer(BlobTooLarge(10)) == (413, "TOO_LARGE")
    assert answer(SignatureExpired("old")) == (403, "BAD_SIGNATURE")
