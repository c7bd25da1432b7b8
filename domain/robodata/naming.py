"""LeRobot v3 dataset naming: `{robot_type}_{task_name}_{YYYY-MM-DD}`."""

from __future__ import annotations

import datetime as dt
import re

import msgspec

from domain.robodata.error import InvalidNameError

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class DatasetName(msgspec.Struct, frozen=True):
    """The three parts of a conventional dataset name."""

    robot_type: str
    task_name: str
    date: dt.date

    def __str__(self) -> str:
        return format_name(self.robot_type, self.task_name, self.date)


def format_name(robot_type: str, task_name: str, date: dt.date) -> str:
    """Build `{robot_type}_{task_name}_{YYYY-MM-DD}`, checking each part."""
    for label, part in (("robot type", robot_type), ("task name", task_name)):
        if not _PART.fullmatch(part):
            raise InvalidNameError(f"{label} {part!r} must be letters, digits, '_' or '-'")
    return f"{robot_type}_{task_name}_{date.isoformat()}"


def parse_name(name: str, robot_type: str | None = None) -> DatasetName:
    """Split a dataset name; `robot_type` (from info.json) decides where the robot part ends."""
    head, sep, date_text = name.rpartition("_")
    if not sep or not _DATE.fullmatch(date_text):
        raise InvalidNameError(f"{name!r} must end with _YYYY-MM-DD")
    try:
        date = dt.date.fromisoformat(date_text)
    except ValueError as exc:
        raise InvalidNameError(f"{name!r} has no real date: {date_text}") from exc
    if robot_type is not None:
        if not head.startswith(robot_type + "_"):
            raise InvalidNameError(f"{name!r} must start with the robot type {robot_type!r}_")
        robot, task = robot_type, head[len(robot_type) + 1 :]
    else:
        # Without the robot type the split is ambiguous; the first token is the best guess.
        robot, _, task = head.partition("_")
    if not robot or not task:
        raise InvalidNameError(f"{name!r} must be {{robot_type}}_{{task_name}}_{{YYYY-MM-DD}}")
    format_name(robot, task, date)
    return DatasetName(robot_type=robot, task_name=task, date=date)
