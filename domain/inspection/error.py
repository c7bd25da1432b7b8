"""Errors raised by the inspection engine; the API maps them to the contract's responses."""


class InspectionError(Exception):
    """Base class for every error the inspection engine raises on purpose."""


class InvalidImageError(InspectionError):
    """The bytes are not a decodable image, or the image cannot be used as an ROI."""


class GridMismatchError(InspectionError):
    """An image's token grid does not fit the backbone or the fitted memory bank."""


class EmptyTrainingSetError(InspectionError):
    """A fit was asked for with no OK images."""


class InvalidScoresError(InspectionError):
    """Calibration scores are missing, empty or not finite."""


class InvalidShapeError(InspectionError):
    """A shape mask is malformed or covers nothing of the ROI."""


class ArtifactError(InspectionError):
    """A stored memory bank cannot be read, or belongs to another backbone or grid."""


class WeightsError(InspectionError):
    """Backbone weights are missing, unreadable or do not fill every parameter."""


class InvalidParameterError(InspectionError, ValueError):
    """A tuning parameter (coreset rate, mm per pixel, device, ...) is out of range."""
