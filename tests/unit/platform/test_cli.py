"""The `switchyard` command line: argument handling that needs no servers."""

from __future__ import annotations

import pytest

from infra.cli import build_parser, main


def test_robodata_show_routes_to_the_engine(tmp_path, capsys) -> None:
    assert main(["robodata", "show", str(tmp_path)]) == 1
    assert "is not a LeRobot dataset" in capsys.readouterr().err


def test_unknown_pool_is_refused_by_the_parser(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["worker", "--pool", "moon"])
    assert exc.value.code == 2
    assert "invalid choice: 'moon'" in capsys.readouterr().err


def test_up_defaults() -> None:
    args = build_parser().parse_args(["up"])
    assert (args.host, args.port, args.concurrency) == ("127.0.0.1", 8000, 4)
