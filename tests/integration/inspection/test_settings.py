"""The original's knobs as settings: train from the dataset only, the OK samples a fit needs,
the coreset rate, and the calibration defaults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from infra.settings import Settings
from tests.conftest import drop_prefix, make_settings, truncate_all
from tests.integration.inspection.conftest import ENV
from tests.integration.inspection.helper import files, ids, ok_crop


@pytest.fixture
async def settings(
    database_url: str, server_urls: dict[str, str], tmp_path: Path
) -> AsyncIterator[Settings]:
    await truncate_all(database_url)
    env = {
        **ENV,
        "SWITCHYARD_INSPECTION_TRAIN_DATASET_ONLY": "true",
        "SWITCHYARD_INSPECTION_MIN_OK_SAMPLES": "3",
        "SWITCHYARD_INSPECTION_CORESET_RATE": "0.5",
        "SWITCHYARD_INSPECTION_SCORE_PERCENTILE": "90",
        "SWITCHYARD_INSPECTION_AREA_MM2_THR": "2.5",
    }
    s = make_settings(database_url, server_urls["redis"], tmp_path, **env)
    yield s
    await drop_prefix(s)


async def test_fits_come_from_the_dataset_only_with_enough_samples(
    http: httpx.AsyncClient,
) -> None:
    r = await http.post(
        "/fit_ok", data=ids(mm_per_px="0.1"), files=files("images", [ok_crop(1), ok_crop(2)])
    )
    assert r.status_code == 400 and "use_dataset=true" in r.json()["error"]
    r = await http.post(
        "/datasets/ok/upload", data=ids(), files=files("images", [ok_crop(1), ok_crop(2)])
    )
    assert r.status_code == 200
    r = await http.post("/fit_ok", data=ids(mm_per_px="0.1", use_dataset="on"))
    assert r.status_code == 400
    assert r.json()["error"] == "Insufficient OK samples: need at least 3, found 2"
    r = await http.post("/datasets/ok/upload", data=ids(), files=files("images", [ok_crop(3)]))
    r = await http.post("/fit_ok", data=ids(mm_per_px="0.1", use_dataset="on"))
    assert r.status_code == 200, r.text
    assert r.json()["coreset_rate_requested"] == 0.5
    assert r.json()["coreset_size"] == 3 * 36 // 2


async def test_calibration_defaults_come_from_the_settings(http: httpx.AsyncClient) -> None:
    r = await http.post("/calibrate_ng", json=ids(ok_scores=[1.0, 2.0, 3.0]))
    assert r.status_code == 200, r.text
    assert r.json()["score_percentile"] == 90 and r.json()["area_mm2_thr"] == 2.5
