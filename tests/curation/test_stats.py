"""curate stats: counts by split and download outcome, and --plot (class balance per source)."""
from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from curation.cli import main
from curation.plot import SUGGESTED_ALPHA, class_balance, plot_class_balance
from db import open_catalog
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


def _scraped(cat, suggestions: list[str | None], source: str = "bing: angry face") -> None:
    """Unlabeled faces of a scrape-like source, each with its suggested label (None: no suggestion)."""
    add_dataset(cat, [FaceSpec(pattern(200 + i), None, suggested_label=x) for i, x in enumerate(suggestions)],
                source=source)


def test_class_balance_counts_labeled_and_unlabeled_faces_per_source(catalog):
    _catalog(catalog)
    _scraped(catalog, ["sad"] * 5 + ["happy", None])
    balance = class_balance(catalog)
    assert balance.labeled == {
        "bing: happy face": {"happy": 2},  # the deleted face is left out
        "fer2013": {"happy": 6, "sad": 3, "angry": 2},
    }
    # A scrape's faces before review: counted by their suggestion, not left out.
    assert balance.suggested == {"bing: angry face": {"sad": 5, "happy": 1}}
    assert balance.no_suggestion == {"bing: angry face": 1, "bing: happy face": 1}
    assert balance.sources == ["bing: angry face", "bing: happy face", "fer2013"]


def _colour_pixels(path, rgb) -> int:
    with Image.open(path) as img:
        pixels = np.asarray(img.convert("RGB")).reshape(-1, 3).astype(int)
    return int((np.abs(pixels - rgb).sum(axis=1) <= 6).sum())


def test_plot_draws_a_readable_chart(catalog, tmp_path):
    _catalog(catalog)
    path = tmp_path / "balance.png"
    plot_class_balance(class_balance(catalog), catalog.class_names(), path)
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width >= 1200 and img.height >= 300
    # Bars in the class colours, not a blank canvas.
    assert _colour_pixels(path, TAB10_BLUE) > 500
    empty = tmp_path / "empty.svg"
    plot_class_balance(class_balance(open_catalog(tmp_path / "new", create=True)), catalog.class_names(), empty)
    assert "no faces yet" in empty.read_text()


def test_plot_shows_unlabeled_faces_hatched_in_their_suggested_labels_colour(catalog, tmp_path):
    _scraped(catalog, ["angry"] * 40)  # a scrape source whose faces nobody has reviewed yet
    path = tmp_path / "scraped.png"
    plot_class_balance(class_balance(catalog), catalog.class_names(), path)
    # Paler than a labeled bar (alpha over white), hatched: both its pale colour and the solid one show.
    pale = tuple(round(255 - SUGGESTED_ALPHA * (255 - c)) for c in TAB10_BLUE)
    assert _colour_pixels(path, pale) > 2000
    svg = tmp_path / "scraped.svg"
    plot_class_balance(class_balance(catalog), catalog.class_names(), svg)
    text = svg.read_text()
    assert "bing: angry face" in text and "40 unlabeled" in text and "unlabeled, by suggested label" in text
    # Labeled faces of the same class are solid: the pale colour is not drawn for them.
    labeled = tmp_path / "labeled.png"
    plot_class_balance(class_balance(_labeled_only(tmp_path)), catalog.class_names(), labeled)
    assert _colour_pixels(labeled, pale) < 50 and _colour_pixels(labeled, TAB10_BLUE) > 2000


def _labeled_only(tmp_path):
    cat = open_catalog(tmp_path / "labeled", create=True)
    add_dataset(cat, [FaceSpec(pattern(300 + i), "angry") for i in range(40)], source="bing: angry face")
    return cat


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
    # The scrape source whose images have no faces yet is named, not left out without a word.
    assert res.stderr.splitlines()[-1] == ("not in the chart: 1 source has no faces (not extracted yet, none found, "
                                           "or all deleted): bing: sad face")

    res = runner.invoke(main, ["stats", "--catalog", loc])
    assert res.exit_code == 0
    text = res.output
    assert "\nsplit:\n" in text and "Training" in text and "\ndownload:\n" in text and "timeout" in text

    res = runner.invoke(main, ["stats", "--catalog", loc, "--plot", str(tmp_path / "b.bmpx")])
    assert res.exit_code == 2 and ".png, .svg, .pdf" in res.output
    res = runner.invoke(main, ["stats", "--catalog", loc, "--plot", str(tmp_path / "no/such/dir/b.png")])
    assert res.exit_code == 1 and res.output.startswith("error:") and "Traceback" not in res.output
    assert "--plot FILE" in runner.invoke(main, ["stats", "--help"]).output
