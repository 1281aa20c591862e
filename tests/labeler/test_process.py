"""The `label` command before any window (one line on stderr, exit 1), and the app killed with
SIGKILL right after a decision it showed as saved: the decision is in the catalog."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from db import open_catalog
from tests.db.helpers import from_a_newer_facecat
from tests.labeler.helpers import add_faces

LABEL = Path(sys.executable).parent / "label"


def _label(*args, env=None, timeout=60):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})}
    return subprocess.run([str(LABEL), *args], capture_output=True, text=True, env=env, timeout=timeout)


def _one_line_error(result, *expected):
    assert result.returncode == 1, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def test_help_has_examples_and_version():
    result = _label("--help")
    assert result.returncode == 0
    assert "Examples:" in result.stdout and "label --catalog ~/faces --annotator alice" in result.stdout
    assert "--annotator" in result.stdout and "$FACECAT_CATALOG" in result.stdout
    version = _label("--version")
    assert version.returncode == 0 and "0.1.0" in version.stdout


def test_a_missing_catalog_is_one_line(tmp_path):
    _one_line_error(_label("--catalog", str(tmp_path / "nothing")), "no catalog at", "curate init")
    _one_line_error(_label(env={"FACECAT_CATALOG": str(tmp_path / "env")}), "no catalog at", str(tmp_path / "env"))


def test_a_catalog_from_a_newer_facecat_is_one_line(tmp_path):
    open_catalog(tmp_path / "c", create=True).close()
    from_a_newer_facecat(tmp_path / "c")
    _one_line_error(_label("--catalog", str(tmp_path / "c")), "newer facecat", "upgrade facecat")


def test_an_unreachable_postgresql_url_is_one_line(tmp_path):
    _one_line_error(_label("--catalog", "postgresql+psycopg://nobody@127.0.0.1:9/faces", "--store", str(tmp_path)),
                    "cannot open catalog", "127.0.0.1")


def test_no_display_is_one_line(tmp_path):
    open_catalog(tmp_path / "c", create=True).close()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([str(LABEL), "--catalog", str(tmp_path / "c")], capture_output=True, text=True,
                            env=env, timeout=60)
    _one_line_error(result, "no display", "QT_QPA_PLATFORM=offscreen")


def test_a_model_order_without_predictions_is_one_line(tmp_path):
    open_catalog(tmp_path / "c", create=True).close()
    _one_line_error(_label("--catalog", str(tmp_path / "c"), "--order", "margin"), "needs model predictions")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_killed_right_after_a_decision_it_showed_as_saved_keeps_it(backend, tmp_path, request):
    if backend == "sqlite":
        location, store = str(tmp_path / "catalog"), ""
    else:
        location, store = request.getfixturevalue("pg_url"), str(tmp_path / "blobs")
    with open_catalog(location, store or None, create=True) as cat:
        (face, *_rest) = add_faces(cat, 5, label="happy")
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("kill_child.py")), location, store, str(tmp_path / "s.ini")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    try:
        line = child.stdout.readline()
        os.kill(child.pid, signal.SIGKILL)  # at once: no clean shutdown, no flush
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert line.strip() == f"SHOWN_DONE {face}", child.stderr.read()
    assert child.returncode == -signal.SIGKILL
    with open_catalog(location, store or None) as cat:
        row = cat.get_face(face, with_crop=False)
        assert (row.label, row.status.value, row.annotator) == ("surprise", "confirmed", "killed")
        assert [e.to_label for e in cat.label_events(face)] == ["surprise"]


def test_label_runs_and_a_sigterm_closes_it_cleanly_releasing_its_claims(tmp_path):
    with open_catalog(tmp_path / "c", create=True) as cat:
        add_faces(cat, 30, suggested="happy")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FACECAT_LABEL_SETTINGS": str(tmp_path / "s.ini")}
    proc = subprocess.Popen([str(LABEL), "--catalog", str(tmp_path / "c"), "--annotator", "zoe"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        with open_catalog(tmp_path / "c") as cat:
            deadline = time.monotonic() + 30
            while not cat.live_claims() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
            claims = cat.live_claims()
            assert claims and {who for _, who in claims.values()} == {"zoe"}, proc.stderr.read() if proc.poll() else ""
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, proc.stderr.read()
            assert cat.live_claims() == {}  # released on the way out, not left to lapse
    finally:
        if proc.poll() is None:
            proc.kill()
