"""The `switchyard` command line: argument handling that needs no servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.cli import (
    CliError,
    build_parser,
    cores,
    default_api_workers,
    default_concurrency,
    describe,
    main,
    redact,
)
from infra.embedded import free_port


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
    assert (args.host, args.port) == ("127.0.0.1", 8000)
    assert args.concurrency is None  # each pool's default_concurrency()
    assert args.api_workers is None  # default_api_workers()


def test_pool_defaults_fit_their_work() -> None:
    # I/O-bound pools keep many jobs in flight; CPU-bound rigging one per core; gpu a few.
    assert default_concurrency("media") >= 32
    assert default_concurrency("indexing") >= 32
    assert default_concurrency("rigging") == cores()
    assert 2 <= default_concurrency("gpu") <= 4
    assert build_parser().parse_args(["worker", "--pool", "media"]).concurrency is None


def test_concurrency_flag_overrides_every_pool_in_up() -> None:
    assert build_parser().parse_args(["up", "--concurrency", "3"]).concurrency == 3


def test_api_processes_default_to_the_cores_at_most_four() -> None:
    assert default_api_workers() == min(4, cores())
    assert build_parser().parse_args(["api", "--workers", "1"]).workers == 1


@pytest.fixture
def operator_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An operator's shell in an empty directory: no server URLs, no data dir set."""
    for name in ("DATABASE_URL", "REDIS_URL", "SWITCHYARD_DATA_DIR", "SWITCHYARD_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_no_database_is_one_line_and_exit_2(operator_shell: Path, capsys) -> None:
    assert main(["user", "create", "bob", "--password", "long-enough"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "switchyard user create: no database configured: set DATABASE_URL or start"
        f" `switchyard up` (data dir {operator_shell.resolve() / '.data'})\n"
    )
    assert list(operator_shell.iterdir()) == []  # no stray .data/secrets


def test_unreachable_postgres_is_one_line(
    operator_shell: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres:secret@127.0.0.1:{free_port()}/x")
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "switchyard migrate: cannot connect to Postgres at postgresql://postgres:***@"
    )
    assert "secret" not in err and len(err.splitlines()) == 1


def test_bad_arguments_are_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["worker", "--pool", "media", "--concurrency", "many"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("switchyard worker: argument --concurrency: invalid int value: 'many'")
    assert len(err.splitlines()) == 1


def test_debug_shows_the_traceback(operator_shell: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_DEBUG", "1")
    with pytest.raises(CliError, match="no database configured"):
        main(["pools"])


def test_failures_are_described_in_one_line() -> None:
    assert describe(CliError("no database", 2)) == (2, "no database")
    assert describe(ConnectionRefusedError(111, "Connection refused")) == (
        1,
        "[Errno 111] Connection refused",
    )
    code, line = describe(ValueError("first line\nsecond line"))
    assert code == 1
    assert line == (
        "unexpected error: ValueError: first line (run with SWITCHYARD_DEBUG=1 for the traceback)"
    )


def test_redact_masks_only_the_password() -> None:
    assert redact("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert redact("postgresql://postgres:@/postgres?host=/tmp/x") == (
        "postgresql://postgres:@/postgres?host=/tmp/x"
    )
