"""Costs: the price table, and the cost line every prediction yields."""

from __future__ import annotations

import json

import pytest

from domain.studio.cost import (
    DEFAULT_PRICE_TABLE,
    PredictionOutcome,
    cost_line,
    load_price_table,
    local_cost_line,
)
from domain.studio.error import PriceUnknown

FLUX = "black-forest-labs/flux-schnell"
GEN4 = "runwayml/gen4-turbo"


def outcome(model: str, status: str, **kw: object) -> PredictionOutcome:
    base: dict[str, object] = {
        "model": model,
        "prediction_id": "p1",
        "status": status,
        "started": True,
        "requested_units": 4.0,
        "delivered_units": 4.0,
    }
    base.update(kw)
    return PredictionOutcome(**base)  # type: ignore[arg-type]


def test_flux_images_cost_the_contract_example() -> None:
    line = cost_line(DEFAULT_PRICE_TABLE, outcome(FLUX, "succeeded"))
    assert line.service == "replicate_flux"
    assert line.cost == pytest.approx(0.012)
    assert line.tokens_used is None
    assert line.details["model"] == "flux-schnell"
    assert line.details["num_images"] == 4
    assert line.details["price_table"] == DEFAULT_PRICE_TABLE.version


def test_gen4_clips_are_billed_per_second_of_output() -> None:
    line = cost_line(
        DEFAULT_PRICE_TABLE,
        outcome(GEN4, "succeeded", requested_units=10.0, delivered_units=10.0),
    )
    assert line.service == "replicate_luma"
    assert line.details == {
        "model": "gen-4-turbo",
        "prediction_id": "p1",
        "status": "succeeded",
        "price_table": DEFAULT_PRICE_TABLE.version,
        "duration_seconds": 10.0,
    }
    assert line.cost == pytest.approx(0.5)


def test_aborted_predictions_cost_nothing() -> None:
    line = cost_line(DEFAULT_PRICE_TABLE, outcome(GEN4, "aborted", started=False))
    assert line.cost == 0.0
    never_started = cost_line(DEFAULT_PRICE_TABLE, outcome(FLUX, "canceled", started=False))
    assert never_started.cost == 0.0


def test_canceled_predictions_are_charged() -> None:
    line = cost_line(
        DEFAULT_PRICE_TABLE,
        outcome(GEN4, "canceled", requested_units=5.0, delivered_units=0.0),
    )
    assert line.cost == pytest.approx(0.25)
    assert line.details["status"] == "canceled"


def test_failed_predictions_are_charged_only_for_what_they_delivered() -> None:
    line = cost_line(DEFAULT_PRICE_TABLE, outcome(FLUX, "failed", delivered_units=0.0))
    assert line.cost == 0.0


def test_community_models_are_billed_by_predict_time_on_their_hardware() -> None:
    line = cost_line(
        DEFAULT_PRICE_TABLE,
        outcome("someone/upscaler", "succeeded", predict_time=12.5, hardware="gpu-t4"),
    )
    assert line.cost == pytest.approx(12.5 * 0.000225)
    assert line.details["predict_time"] == 12.5
    assert line.details["hardware"] == "gpu-t4"
    canceled = cost_line(
        DEFAULT_PRICE_TABLE,
        outcome("someone/upscaler", "canceled", predict_time=3.0, hardware="gpu-t4"),
    )
    assert canceled.cost == pytest.approx(3.0 * 0.000225)


def test_a_model_without_a_price_is_refused() -> None:
    with pytest.raises(PriceUnknown, match="someone/model"):
        DEFAULT_PRICE_TABLE.price_for("someone/model")
    with pytest.raises(PriceUnknown, match="gpu-x9"):
        DEFAULT_PRICE_TABLE.price_for("someone/model", "gpu-x9")


def test_a_price_table_loads_from_json_with_its_version() -> None:
    raw = json.dumps(
        {
            "version": "2026-01-01",
            "models": {
                FLUX: {
                    "service": "replicate_flux",
                    "label": "flux-schnell",
                    "unit": "image",
                    "price": 0.004,
                }
            },
            "hardware": {"gpu-t4": 0.0003},
        }
    ).encode()
    table = load_price_table(raw)
    line = cost_line(table, outcome(FLUX, "succeeded", delivered_units=2.0))
    assert line.cost == pytest.approx(0.008)
    assert line.details["price_table"] == "2026-01-01"


@pytest.mark.parametrize(
    "raw",
    [b"not json", b'{"models": {}}', b'{"version": "v", "models": {"m": {"unit": "litre"}}}'],
)
def test_a_broken_price_table_says_so(raw: bytes) -> None:
    with pytest.raises(PriceUnknown, match="price table"):
        load_price_table(raw)


def test_local_results_are_marked_local_and_free() -> None:
    line = local_cost_line("clip", "local/camera-motion", 5.0)
    assert line.cost == 0.0
    assert line.details["local"] is True
    assert line.details["duration_seconds"] == 5.0
