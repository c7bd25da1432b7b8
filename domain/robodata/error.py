"""Exceptions raised by the robot-dataset engine (mapped to HTTP elsewhere)."""


class RobodataError(Exception):
    """Base class for every error the robot-dataset engine raises on purpose."""


class NotADatasetError(RobodataError):
    """The folder is not a readable LeRobot dataset."""


class EpisodeNotFoundError(RobodataError):
    """The dataset has no episode with the requested index."""


class CameraNotFoundError(RobodataError):
    """The dataset has no camera with the requested key."""


class MediaError(RobodataError):
    """A video file is missing, unreadable or cannot be cut as asked."""


class InvalidNameError(RobodataError):
    """A dataset name does not follow `{robot_type}_{task_name}_{YYYY-MM-DD}`."""


class UnsafePathError(RobodataError):
    """A path would escape the folder it must stay in."""


class UnsafeArchiveError(RobodataError):
    """An archive holds traversal, outside links, or expands beyond the allowed limits."""


class InvalidArchiveError(RobodataError):
    """A file is not a readable zip or tar archive, or its contents cannot be unpacked."""


class DatasetEditError(RobodataError):
    """A local change to a dataset cannot be made; the dataset is left as it was."""


class ViewerError(RobodataError):
    """The Rerun viewer could not be started or found."""


class PathNotFoundError(RobodataError):
    """A path inside the dataset roots names nothing on disk."""


class InvalidDatasetIdError(RobodataError):
    """A dataset id is not the url-safe base64 of a path."""
