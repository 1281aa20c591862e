"""scripts/screenshot-labeler (the README's picture) keeps working: a real X server (Xvfb), a
catalog built from ../shared's photos with `curate extract` and `dedupe`, the window rendered."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def test_the_screenshot_script_renders_the_window_and_its_key_overlay(shared_data, tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (Debian's xvfb)")
    if not (shared_data / "photos" / "face_recognition").is_dir():
        pytest.skip("../shared/data/photos/face_recognition is absent")
    out, keys = tmp_path / "label.png", tmp_path / "keys.png"
    done = subprocess.run(["bash", str(REPO / "scripts" / "screenshot-labeler"), str(out), "--overlay", str(keys)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "FACECAT_SHARED_DATA": str(shared_data)})
    assert done.returncode == 0, done.stderr[-2000:]
    for png in (out, keys):
        with Image.open(png) as im:
            assert im.size == (1440, 900)
            # A drawn window, not a blank or black frame: thumbnails, text and the panel's photo.
            assert len(im.convert("RGB").getcolors(maxcolors=1 << 20) or ()) > 2000
