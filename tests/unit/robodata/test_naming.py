import datetime as dt

import pytest

from domain.robodata.error import InvalidNameError
from domain.robodata.naming import format_name, parse_name


def test_splits_the_contract_example() -> None:
    name = parse_name("so101_cleandesk_2000-01-01", "so101")

    assert (name.robot_type, name.task_name, name.date) == (
        "so101",
        "cleandesk",
        dt.date(2000, 1, 1),
    )
    assert str(name) == "so101_cleandesk_2000-01-01"


def test_robot_types_with_underscores_split_on_the_robot_type() -> None:
    name = parse_name("so101_follower_clean_desk_2024-02-29", "so101_follower")

    assert (name.robot_type, name.task_name) == ("so101_follower", "clean_desk")


@pytest.mark.parametrize(
    ("text", "robot", "reason"),
    [
        ("so101_cleandesk_2000-02-30", "so101", "no real date"),
        ("so101_cleandesk", "so101", "must end with _YYYY-MM-DD"),
        ("so101_cleandesk_20000101", "so101", "must end with _YYYY-MM-DD"),
        ("koch_cleandesk_2000-01-01", "so101", "must start with the robot type"),
        ("so101__2000-01-01", "so101", "task_name"),
        ("so101_clean desk_2000-01-01", "so101", "task name"),
    ],
)
def test_bad_names_say_why(text: str, robot: str, reason: str) -> None:
    with pytest.raises(InvalidNameError, match=reason):
        parse_name(text, robot)


def test_format_round_trips() -> None:
    text = format_name("aloha", "fold_towel", dt.date(2025, 12, 31))

    assert text == "aloha_fold_towel_2025-12-31"
    assert parse_name(text, "aloha").task_name == "fold_towel"
