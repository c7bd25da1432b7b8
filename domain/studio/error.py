"""The studio engine's exceptions: what went wrong, in words a user can act on."""

from __future__ import annotations


class StudioError(Exception):
    """Base of every studio engine error."""

    # Whether trying the same work again later may succeed (rate limits, outages).
    transient: bool = False


class InvalidRequest(StudioError):
    """A generation or composition request that can never succeed as given."""


class PriceUnknown(StudioError):
    """The price table has no price for a model (or its hardware)."""


class ProviderUnavailable(StudioError):
    """The generation service kept refusing or failing after every retry."""

    transient = True


class PredictionUncertain(StudioError):
    """A create request may have reached the service; it is not resent to avoid paying twice."""


class PredictionFailed(StudioError):
    """The model ran and reported an error."""

    def __init__(self, message: str, prediction_id: str = "") -> None:
        super().__init__(message)
        self.prediction_id = prediction_id


class PredictionCanceled(PredictionFailed):
    """The prediction was canceled or aborted by the service or another client."""


class PredictionTimedOut(PredictionFailed):
    """The prediction did not finish in time; it was canceled."""

    transient = True


class OutputUnavailable(PredictionFailed):
    """A finished prediction's output could not be read or downloaded."""

    transient = True


class CompositionError(StudioError):
    """The final video cannot be composed from the inputs given."""


class UnreadableInput(CompositionError):
    """A clip or audio input that cannot be decoded; names the input."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name


class OverlayOutOfRange(CompositionError):
    """A text overlay that falls outside the video's timeline."""


class CompositionCanceled(CompositionError):
    """Composition stopped because the job was canceled."""


class FontUnavailable(CompositionError):
    """No TrueType font to draw text with."""
