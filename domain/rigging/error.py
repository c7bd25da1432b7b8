"""Errors the rigging engine raises; the service maps them to its contract's error shape."""


class RiggingError(Exception):
    """Base class for every error the rigging engine raises on purpose."""


class UnsupportedFormatError(RiggingError):
    """The file's content is not one of the formats the engine reads or writes."""


class CorruptFileError(RiggingError):
    """The file claims a known format but its content cannot be decoded."""


class InvalidMeshError(RiggingError):
    """The mesh is empty, not finite or too broken to rig."""


class LimitExceededError(RiggingError):
    """The model is larger than the configured limits."""


class RigMismatchError(RiggingError):
    """Two files that should describe the same model do not match."""
