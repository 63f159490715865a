"""Which control socket a command talks to (remote/paths.py): a SQLite file has one socket, as
before; a PostgreSQL database has one per engine, and the commands find the engines of the
database answering on this host: the only one, the one named (--engine, $OXBOT_ENGINE), or
none when several answer and none is named (the message names them). No engine and no server
here: listening Unix sockets stand in for the engines (an engine "answers" when its socket
accepts a connection; a dead engine's file refuses it), and the ambiguity is refused before
the database is opened."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from oxbot.remote.paths import (
    SeveralEngines,
    engine_slug,
    engine_socket,
    engines_here,
    own_socket,
    socket_path_for,
)
from oxbot.storage.paths import DbUrl, runtime_dir

URL = DbUrl("postgresql+asyncpg://oxbot@127.0.0.1:1/nowhere")  # never connected to


def listen(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen()
    return s


def test_a_file_keeps_one_socket_whatever_the_engine_name(home: Path) -> None:
    db = home / "a.db"
    run = runtime_dir()
    assert own_socket(db, run, "A") == socket_path_for(db, run) == engine_socket(db, run, "B")
    assert engines_here(db, run) == {}


def test_engines_of_a_postgresql_database_each_have_a_socket_and_are_found(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = runtime_dir()
    a, b = own_socket(URL, run, "A"), own_socket(URL, run, "B")
    assert len({a, b, socket_path_for(URL, run)}) == 3
    assert own_socket(URL, run, None) == own_socket(URL, run, socket.gethostname())
    assert engine_socket(URL, run) == socket_path_for(URL, run)  # none: nobody listens there
    gone = listen(own_socket(URL, run, "C"))
    gone.close()  # a killed engine's file stays behind, refusing connections
    with listen(a):
        assert engines_here(URL, run) == {"A": a}
        assert engine_socket(URL, run) == a  # the only one: no name needed
        with listen(b):
            assert engines_here(URL, run) == {"A": a, "B": b}
            with pytest.raises(SeveralEngines, match=r"2 engines .* this host: A, B; say which"):
                engine_socket(URL, run)
            assert engine_socket(URL, run, "B") == b
            monkeypatch.setenv("OXBOT_ENGINE", "B")
            assert engine_socket(URL, run) == b


def test_stop_with_two_engines_here_names_them_and_stops_none(home: Path, oxbot) -> None:
    run = runtime_dir()
    with listen(own_socket(URL, run, "A")), listen(own_socket(URL, run, "B")):
        code, out, err = oxbot("--db", str(URL), "stop")
    assert code == 1 and out == ""
    assert "2 engines of this database run on this host: A, B" in err
    assert "--engine NAME (or $OXBOT_ENGINE=NAME)" in err and "Traceback" not in err


def test_odd_and_long_engine_names_make_short_distinct_socket_names() -> None:
    assert engine_slug("eu west/1") == "eu_west_1"
    long_a, long_b = "x" * 40 + "a", "x" * 40 + "b"
    assert len(engine_slug(long_a)) == 32 and engine_slug(long_a) != engine_slug(long_b)


def test_a_second_engine_of_the_same_name_here_is_refused_before_it_starts(
    home: Path, oxbot
) -> None:
    with listen(own_socket(URL, runtime_dir(), "A")):
        code, _, err = oxbot("--db", str(URL), "run", "--headless", "--engine-name", "A")
    assert code == 1 and "Traceback" not in err
    assert "an engine named A already runs on this database on this host" in err
    assert "another --engine-name" in err
