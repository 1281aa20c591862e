"""`curate init` / `curate stats` and the conventions every command follows."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

CURATE = str(Path(sys.executable).parent / "curate")


def curate(*args, env=None, user=None):
    cmd = [CURATE, *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    full_env = {k: v for k, v in os.environ.items() if k not in ("FACECAT_CATALOG", "FACECAT_STORE")}
    full_env.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=120)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def _commands() -> list[str]:
    import tomllib

    return sorted(tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["scripts"])


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_version_and_shell_completion(command):
    from importlib.metadata import version

    exe = str(Path(sys.executable).parent / command)
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith(f"version {version('facecat')}"), r
    # What README's command conventions tell a user to put in ~/.bashrc works (click's completion).
    var = f"_{command.upper().replace('-', '_')}_COMPLETE"
    r = subprocess.run([exe], capture_output=True, text=True, timeout=120, env={**os.environ, var: "bash_source"})
    assert r.returncode == 0 and f"complete -o nosort -F _{command}_completion {command}" in r.stdout
    r = subprocess.run([exe], capture_output=True, text=True, timeout=120,
                       env={**os.environ, var: "bash_complete", "COMP_WORDS": f"{command} --he", "COMP_CWORD": "1"})
    assert r.returncode == 0 and "--help" in r.stdout


def test_init_then_stats_json(tmp_path):
    r = curate("init", "--catalog", str(tmp_path / "c"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c" / "catalog.sqlite").is_file()
    r = curate("stats", "--catalog", str(tmp_path / "c"), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert (s["images"], s["faces"]) == (0, 0)
    for key in ("by_status", "by_label", "by_source"):
        assert isinstance(s[key], dict)


def test_catalog_defaults_to_environment_then_current_directory(tmp_path):
    r = curate("init", env={"FACECAT_CATALOG": str(tmp_path / "from-env")})
    assert r.returncode == 0 and (tmp_path / "from-env" / "catalog.sqlite").exists()
    r = subprocess.run([CURATE, "init"], cwd=tmp_path, capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != "FACECAT_CATALOG"})
    assert r.returncode == 0 and (tmp_path / "catalog" / "catalog.sqlite").exists()


def test_help_has_examples_and_bad_usage_exits_2():
    r = curate("init", "--help")
    assert r.returncode == 0 and "Examples:" in r.stdout and "--catalog" in r.stdout
    r = curate("stats", "--no-such-flag")
    assert r.returncode == 2 and "No such option" in r.stderr


def test_missing_catalog_says_how_to_create_one(tmp_path):
    assert_one_line_error(curate("stats", "--catalog", str(tmp_path / "nope")), "no catalog at", "curate init")


def test_path_that_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("not a catalog")
    assert_one_line_error(curate("init", "--catalog", str(f)), "is a file, not a catalog directory")
    assert f.read_text() == "not a catalog"


@pytest.mark.skipif(shutil.which("setpriv") is None and os.geteuid() == 0, reason="needs setpriv to drop root")
def test_catalog_directory_not_writable():
    # Outside pytest's tmp_path: its parents are private to root, and root writes anywhere,
    # so the command runs as nobody on a directory nobody can enter but not write.
    base = Path(tempfile.mkdtemp(prefix="facecat-ro-"))
    try:
        base.chmod(0o755)
        d = base / "readonly"
        d.mkdir(mode=0o555)
        d.chmod(0o555)
        user = "65534" if os.geteuid() == 0 else None
        if user and curate("--help", user=user).returncode != 0:
            pytest.skip("user nobody cannot run this checkout's virtualenv")
        assert_one_line_error(curate("init", "--catalog", str(d), user=user), "not writable", str(d))
        assert list(d.iterdir()) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_url_that_cannot_connect(tmp_path):
    r = curate("stats", "--catalog", "postgresql+psycopg://facecat:secret@127.0.0.1:9/nodb",
               "--store", str(tmp_path / "blobs"))
    assert_one_line_error(r, "cannot open catalog", "127.0.0.1", "refused")
    assert "secret" not in r.stderr


def test_a_database_that_cannot_be_reached_leaves_no_store_directory(tmp_path):
    """Neither a command that reads nor one that would create the catalog makes --store's directory
    when the server does not answer."""
    (tmp_path / "ds" / "happy").mkdir(parents=True)
    url = "postgresql+psycopg://facecat@127.0.0.1:9/nodb"
    for args in (["stats"], ["init"], ["import", "unlabeled", str(tmp_path / "ds")]):
        r = curate(*args, "--catalog", url, "--store", str(tmp_path / "blobs" / "faces"))
        assert_one_line_error(r, "cannot open catalog", "refused")
        assert not (tmp_path / "blobs").exists(), args


def test_database_url_without_store_is_a_clear_error():
    r = curate("stats", "--catalog", "postgresql+psycopg://u@127.0.0.1:9/x")
    assert_one_line_error(r, "--store", "FACECAT_STORE")


@pytest.mark.postgres
def test_init_and_stats_on_postgres(pg_url, tmp_path):
    r = curate("init", "--catalog", pg_url, "--store", str(tmp_path / "blobs"))
    assert r.returncode == 0, r.stderr
    r = curate("stats", "--json", env={"FACECAT_CATALOG": pg_url, "FACECAT_STORE": str(tmp_path / "blobs")})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["faces"] == 0


def test_a_file_that_is_not_a_database(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "catalog.sqlite").write_bytes(b"this is not SQLite " * 100)
    assert_one_line_error(curate("stats", "--catalog", str(tmp_path / "c")), "cannot open catalog", "not a database")


def test_a_catalog_locked_past_the_busy_timeout_is_a_one_line_error(tmp_path, monkeypatch):
    """Another program holds the write lock longer than the busy timeout: a clear message, no traceback."""
    import sqlite3

    import click

    from db import open_catalog
    from db.cli import user_errors
    from tests.db.helpers import add_faces

    monkeypatch.setenv("FACECAT_SQLITE_BUSY_MS", "200")
    with open_catalog(tmp_path / "c", create=True) as cat:
        (fid,) = add_faces(cat, 1)
        holder = sqlite3.connect(tmp_path / "c" / "catalog.sqlite")
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(click.ClickException) as err:
                user_errors(lambda: cat.annotate(fid, 1, "alice", label="sad"))()
        finally:
            holder.rollback()
            holder.close()
        assert err.value.exit_code == 1
        assert "catalog is busy" in err.value.format_message()
        assert cat.get_face(fid).version == 1


def test_classes_can_be_listed_and_edited(tmp_path):
    c = str(tmp_path / "c")
    assert curate("init", "--catalog", c).returncode == 0
    r = curate("classes", "--catalog", c, "--add", "contempt", "--key", "8", "--emoji", "😒", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[-1] == {"name": "contempt", "key": "8", "emoji": "😒"}
    assert curate("classes", "--catalog", c, "--key", "9").returncode == 2
    r = curate("classes", "--catalog", c, "--remove", "contempt")
    assert r.returncode == 0 and "contempt" not in r.stdout and "angry" in r.stdout


def test_a_bad_busy_timeout_setting_is_a_one_line_error(tmp_path):
    assert curate("init", "--catalog", str(tmp_path / "c")).returncode == 0
    r = curate("stats", "--catalog", str(tmp_path / "c"), env={"FACECAT_SQLITE_BUSY_MS": "5s"})
    assert_one_line_error(r, "FACECAT_SQLITE_BUSY_MS", "'5s'")


def test_a_reader_that_goes_away_is_not_an_error(tmp_path):
    """`curate stats | head -1`: the pipe closes before the command writes; it stops quietly."""
    assert curate("init", "--catalog", str(tmp_path / "cat")).returncode == 0
    proc = subprocess.Popen([CURATE, "stats", "--catalog", str(tmp_path / "cat")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the command has started writing
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1
    assert err == ""


def test_a_broken_pipe_that_is_not_stdout_is_still_an_error():
    import click
    from click.testing import CliRunner

    from db.cli import user_errors

    @click.command()
    @user_errors
    def worker_pipe():
        raise BrokenPipeError(32, "Broken pipe")  # e.g. a worker process's pipe, stdout is fine

    r = CliRunner().invoke(worker_pipe)
    assert r.exit_code == 1 and r.output.strip() == "error: Broken pipe"
