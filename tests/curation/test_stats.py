"""curate stats: counts by split and download outcome, and --plot (class balance per source)."""
from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from curation.cli import main
from curation.plot import class_balance, plot_class_balance
from db.types import DownloadRecord, DownloadStatus, NewSource, Status
from tests.curation.conftest import FaceSpec, add_dataset, pattern

TAB10_BLUE = (31, 119, 180)  # matplotlib's first class colour: angry


def _catalog(cat):
    add_dataset(cat, [FaceSpec(pattern(i), k, h) for i, (k, h) in enumerate(
        [("happy", "Training")] * 6 + [("sad", "PublicTest")] * 3 + [("angry", "Training")] * 2)], source="fer2013")
    ids = add_dataset(cat, [FaceSpec(pattern(100 + i), k) for i, k in enumerate(["happy", "happy", None, "sad"])],
                      source="bing: happy face")
    f = cat.get_face(ids[3], with_crop=False)
    cat.annotate(f.id, f.version, "tester", status=Status.DELETED)
    sid = cat.add_source(NewSource(kind="scrape", name="bing: sad face", engine="bing", query="sad face"))
    cat.record_downloads([
        DownloadRecord(sid, "http://127.0.0.1/a.jpg", DownloadStatus.HTTP_ERROR, http_status=404, detail="404"),
        DownloadRecord(sid, "http://127.0.0.1/b.jpg", DownloadStatus.TIMEOUT, detail="read timeout"),
        DownloadRecord(sid, "http://127.0.0.1/c.jpg", DownloadStatus.TIMEOUT, detail="read timeout"),
    ])


def test_class_balance_counts_labeled_faces_per_source(catalog):
    _catalog(catalog)
    assert class_balance(catalog) == {
        "bing: happy face": {"happy": 2},  # the unlabeled and the deleted face are left out
        "fer2013": {"happy": 6, "sad": 3, "angry": 2},
    }


def test_plot_draws_a_readable_chart(catalog, tmp_path):
    _catalog(catalog)
    path = tmp_path / "balance.png"
    plot_class_balance(class_balance(catalog), catalog.class_names(), path)
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width >= 1200 and img.height >= 300
        pixels = np.asarray(img.convert("RGB")).reshape(-1, 3)
    # Bars in the class colours, not a blank canvas.
    assert (pixels == TAB10_BLUE).all(axis=1).sum() > 500
    empty = tmp_path / "empty.svg"
    plot_class_balance({}, catalog.class_names(), empty)
    assert "no labeled faces yet" in empty.read_text()


def test_cli_stats_plot_and_counts_by_split_and_download(catalog, tmp_path):
    _catalog(catalog)
    loc = str(catalog.location.directory)
    runner = CliRunner()
    res = runner.invoke(main, ["stats", "--catalog", loc, "--json", "--plot", str(tmp_path / "b.png")])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)  # the "drawn to" note goes to stderr
    assert data["by_split"] == {"PublicTest": 3, "Training": 8, "none": 3}
    assert data["by_download"] == {"http_error": 1, "timeout": 2}
    assert "drawn to" in res.stderr and (tmp_path / "b.png").stat().st_size > 10_000

    res = runner.invoke(main, ["stats", "--catalog", loc])
    assert res.exit_code == 0
    text = res.output
    assert "\nsplit:\n" in text and "Training" in text and "\ndownload:\n" in text and "timeout" in text

    res = runner.invoke(main, ["stats", "--catalog", loc, "--plot", str(tmp_path / "b.bmpx")])
    assert res.exit_code == 2 and ".png, .svg, .pdf" in res.output
    res = runner.invoke(main, ["stats", "--catalog", loc, "--plot", str(tmp_path / "no/such/dir/b.png")])
    assert res.exit_code == 1 and res.output.startswith("error:") and "Traceback" not in res.output
    assert "--plot FILE" in runner.invoke(main, ["stats", "--help"]).output
