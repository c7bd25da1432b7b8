"""Versioned price table and the cost line each prediction yields."""

from __future__ import annotations

from typing import Literal

import msgspec

from domain.studio.error import PriceUnknown
from domain.studio.model import CostLine

Unit = Literal["image", "output_second", "predict_second"]
Status = Literal["succeeded", "failed", "canceled", "aborted"]


class ModelPrice(msgspec.Struct, frozen=True, kw_only=True):
    """How one model is billed."""

    # `service` and `label` are what the contract's cost breakdown shows.
    service: str
    label: str
    unit: Unit
    # USD per unit; unused for `predict_second`, which is billed at the hardware's price.
    price: float = 0.0
    hardware: str = ""


class PriceTable(msgspec.Struct, frozen=True, kw_only=True):
    """Prices in force from `version` on; every cost line names the version it used."""

    version: str
    currency: str = "USD"
    models: dict[str, ModelPrice] = {}
    # USD per second of prediction time, by Replicate hardware name.
    hardware: dict[str, float] = {}

    def price_for(self, model: str, hardware: str = "") -> ModelPrice:
        """The price of `model`; community models are billed by time on `hardware`."""
        if model in self.models:
            return self.models[model]
        if hardware and hardware in self.hardware:
            return ModelPrice(
                service="replicate", label=model, unit="predict_second", hardware=hardware
            )
        raise PriceUnknown(
            f"price table {self.version} has no price for model {model!r}"
            + (f" or hardware {hardware!r}" if hardware else "")
        )


# Replicate's published prices when this table was written: flux-schnell per output image,
# gen4-turbo per second of output video, community models per second on their hardware.
DEFAULT_PRICE_TABLE = PriceTable(
    version="2025-06-01",
    models={
        "black-forest-labs/flux-schnell": ModelPrice(
            service="replicate_flux", label="flux-schnell", unit="image", price=0.003
        ),
        "runwayml/gen4-turbo": ModelPrice(
            service="replicate_luma", label="gen-4-turbo", unit="output_second", price=0.05
        ),
    },
    hardware={
        "cpu": 0.0001,
        "gpu-t4": 0.000225,
        "gpu-l40s": 0.000975,
        "gpu-a100-large": 0.0014,
        "gpu-h100": 0.001525,
    },
)


def load_price_table(raw: bytes) -> PriceTable:
    """Parse a JSON price table, with an error that says what is wrong in it."""
    try:
        return msgspec.json.decode(raw, type=PriceTable)
    except msgspec.ValidationError as exc:
        raise PriceUnknown(f"invalid price table: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise PriceUnknown(f"price table is not JSON: {exc}") from exc


class PredictionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What the bill depends on, read from a finished prediction."""

    model: str
    prediction_id: str
    status: Status
    started: bool
    # Units the request asked for (images, seconds of video) and units actually delivered.
    requested_units: float
    delivered_units: float
    predict_time: float | None = None
    hardware: str = ""


def cost_line(table: PriceTable, outcome: PredictionOutcome) -> CostLine:
    """The cost line of one prediction.

    Aborted predictions (never started) cost nothing. Canceled ones ran on Replicate's
    hardware and are charged: by time when the model is billed by time, otherwise at the
    units asked for, since the service bills the run and a cancel does not undo it.
    Failed predictions are charged only for what they delivered (or the time they ran).
    """
    price = table.price_for(outcome.model, outcome.hardware)
    details: dict[str, object] = {
        "model": price.label,
        "prediction_id": outcome.prediction_id,
        "status": outcome.status,
        "price_table": table.version,
    }
    if outcome.status == "aborted" or not outcome.started:
        units = 0.0
    elif price.unit == "predict_second":
        units = outcome.predict_time or 0.0
    elif outcome.status == "canceled":
        units = max(outcome.requested_units, outcome.delivered_units)
    else:
        units = outcome.delivered_units

    if price.unit == "image":
        details["num_images"] = int(units)
        cost = units * price.price
    elif price.unit == "output_second":
        details["duration_seconds"] = units
        cost = units * price.price
    else:
        details["predict_time"] = units
        details["hardware"] = price.hardware
        cost = units * table.hardware[price.hardware]
    return CostLine(service=price.service, cost=round(cost, 10), tokens_used=None, details=details)


def local_cost_line(kind: Literal["image", "clip"], model: str, units: float) -> CostLine:
    """The cost line of a local generation: marked local, costing nothing."""
    key = "num_images" if kind == "image" else "duration_seconds"
    return CostLine(
        service="local",
        cost=0.0,
        tokens_used=None,
        details={"model": model, "local": True, key: int(units) if kind == "image" else units},
    )
