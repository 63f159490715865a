"""Errors a user meets before anything runs: a bad --db, a path that cannot be written, and a
bug, each one line on stderr with the right exit code and no traceback."""

from __future__ import annotations

from pathlib import Path


def _one_line(err: str) -> None:
    assert err.startswith("oxbot: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_bad_db_is_a_usage_error(oxbot, home, tmp_path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("shopping list\n")
    for argv, needle in (
        ([f"--db={tmp_path}"], "is a directory"),
        (["--db", str(junk)], "is not a SQLite database"),
        (["--db="], "--db is empty"),
    ):
        code, out, err = oxbot(*argv, "bots", "list")
        assert code == 2, (argv, err)
        assert needle in err and out == ""
        _one_line(err)
    assert junk.read_text() == "shopping list\n"


def test_db_after_the_command_is_the_same_db(oxbot, tmp_path) -> None:
    db = tmp_path / "x.db"
    assert oxbot("bots", "add", "a", "--db", str(db))[0] == 0
    code, out, _err = oxbot("bots", "list", "--db", str(db))
    assert code == 0 and out.splitlines()[1].startswith("a ")
    code, out, _err = oxbot("--db", str(db), "bots", "list")
    assert code == 0 and out.splitlines()[1].startswith("a ")


def test_unwritable_output_path_is_one_line_exit_2(oxbot, home, tmp_path) -> None:
    assert oxbot("bots", "add", "a")[0] == 0
    target = tmp_path / "missing-folder" / "bots.json"
    code, out, err = oxbot("bots", "export", "--out", str(target))
    assert code == 2, err
    _one_line(err)
    assert str(target) in err and "check the path" in err
    assert not target.exists()


def test_a_bug_prints_one_line_and_saves_the_traceback(oxbot, home, monkeypatch) -> None:
    from oxbot.cli import bots as cli_bots

    def broken(args):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("division by zero in the bots table")

    monkeypatch.setattr(cli_bots, "cmd_list", broken)
    code, out, err = oxbot("bots", "list")
    assert code == 1 and out == ""
    _one_line(err)
    assert "please report" in err and "ZeroDivisionError" not in err
    crash = sorted((home / "log").glob("crash-*.log"))
    assert len(crash) == 1 and str(crash[0]) in err
    text = crash[0].read_text()
    assert "Traceback" in text and "ZeroDivisionError" in text and "broken" in text


def test_status_every_must_be_positive(oxbot) -> None:
    for value in ("0", "-1"):
        code, out, err = oxbot("run", "--headless", "--status-every", value)
        assert code == 2 and "--status-every must be > 0" in err and out == ""


def test_unused_path_arguments_do_not_mask_a_bug(tmp_path: Path) -> None:
    import argparse

    from oxbot.cli.errors import run_handler

    def fails(args):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "Permission denied", "/etc/oxbot-internal")

    code = run_handler(fails, argparse.Namespace(out=str(tmp_path / "x")))
    assert code == 1  # not the user's path: an environment problem, not a usage error
