"""Awkward image files: each one ends processed (faces found) or marked unreadable with its reason,
and the run goes on. The face pictures are a real photo (face_recognition's obama_small.jpg)
re-encoded in each awkward way."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from curation.extract import run_extraction
from curation.faces import ExtractSettings
from curation.imaging import UnreadableImage, decode_gray
from db.types import ExtractionState, FaceFilter
from tests.curation.conftest import add_raw_images


@pytest.fixture(scope="module")
def photo(shared_data) -> Image.Image:
    with Image.open(shared_data / "photos/face_recognition/examples/obama_small.jpg") as img:
        return img.convert("RGB")


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _huge_png(width: int, height: int) -> bytes:
    """A tiny file whose header claims width x height pixels: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _awkward(photo: Image.Image) -> dict[str, bytes]:
    gray = np.asarray(photo.convert("L"))
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.where(np.arange(photo.width) < 20, 0, 255).astype(np.uint8)[None, :].repeat(photo.height, 0)))
    rotated = photo.rotate(90, expand=True)  # stored sideways...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...with "rotate 90 clockwise to display"
    frames = [photo.convert("P"), Image.new("P", photo.size, 0)]
    good = _save(photo, "JPEG")
    return {
        "cmyk.jpg": _save(photo.convert("CMYK"), "JPEG"),
        "palette.png": _save(photo.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "exif-rotated.jpg": _save(rotated, "JPEG", exif=exif),
        "16bit.png": _save(Image.fromarray(gray.astype(np.uint16) * 257), "PNG"),
        "alpha.png": _save(rgba, "PNG"),
        "animated.gif": _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100),
        "corrupt.jpg": good[: len(good) // 3],
        "empty.jpg": b"",
        "not-an-image.jpg": b"<html>404</html>",
        "bomb.png": _huge_png(30_000, 30_000),
    }


def test_awkward_files_end_processed_or_with_a_reason(catalog, photo):
    ids = add_raw_images(catalog, _awkward(photo))
    results = {}
    summary = run_extraction(catalog, ExtractSettings(), workers=1, on_result=lambda r: results.update({r.image_id: r}))
    assert summary.images == len(ids) == len(results)
    for name in ("cmyk.jpg", "palette.png", "exif-rotated.jpg", "16bit.png", "alpha.png", "animated.gif"):
        assert results[ids[name]].state is ExtractionState.FACES, (name, results[ids[name]].error)
        assert len(catalog.select_faces(FaceFilter(image_id=ids[name]))) == 1, name
    reasons = {name: results[ids[name]].error for name in ("corrupt.jpg", "empty.jpg", "not-an-image.jpg", "bomb.png")}
    for name, reason in reasons.items():
        assert results[ids[name]].state is ExtractionState.UNREADABLE, name
    assert reasons["bomb.png"].startswith("too large")
    assert reasons["empty.jpg"].startswith("not an image")
    assert reasons["not-an-image.jpg"].startswith("not an image")
    assert "truncated" in reasons["corrupt.jpg"]
    assert catalog.stats()["by_extraction"] == {"faces": 6, "unreadable": 4}
    assert catalog.images_to_extract() == []  # nothing left pending: a second run has nothing to do


def test_exif_orientation_gives_the_upright_picture(photo):
    files = _awkward(photo)
    d = decode_gray(files["exif-rotated.jpg"])
    assert (d.width, d.height) == photo.size  # stored as 240x320, shown as 320x240
    assert d.gray.shape == (photo.height, photo.width)
    upright = np.asarray(photo.convert("L"), dtype=int)
    assert np.abs(d.gray.astype(int) - upright).mean() < 6  # JPEG noise only, not a rotated picture


def test_16_bit_is_scaled_not_clipped(photo):
    d = decode_gray(_awkward(photo)["16bit.png"])
    assert np.array_equal(d.gray, np.asarray(photo.convert("L")))


def test_alpha_is_composited_on_white(photo):
    d = decode_gray(_awkward(photo)["alpha.png"])
    assert (d.gray[:, :20] == 255).all()


def test_large_jpeg_is_decoded_reduced_with_boxes_in_original_pixels(photo):
    big = photo.resize((photo.width * 8, photo.height * 8))  # 2560 x 1920
    d = decode_gray(_save(big, "JPEG"), keep_pixels=300_000)
    assert (d.width, d.height) == big.size
    assert d.gray.shape[1] < big.width and d.scale == d.gray.shape[1] / big.width


def test_pixel_cap_refuses_before_decoding(monkeypatch):
    bomb = _huge_png(12_000, 10_000)
    # Its body is 64 bytes: decoding it fails differently (and would first allocate 120 MB).
    with pytest.raises(UnreadableImage, match="cannot decode"):
        decode_gray(bomb, max_pixels=200_000_000)

    def no_decoding(self):
        raise AssertionError("the pixels were decoded")  # not an error decode_gray turns into a reason

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(UnreadableImage, match="too large: 12000x10000 pixels is over the cap of 100,000,000"):
        decode_gray(bomb, max_pixels=100_000_000)


def test_a_4000x3000_photo_and_a_200x150_one_both_give_the_face(photo):
    from curation.faces import FaceFinder

    finder = FaceFinder(ExtractSettings())
    small_box = finder.find(np.asarray(photo.convert("L")))[0].bbox
    for size in ((4000, 3000), (200, 150)):
        d = decode_gray(_save(photo.resize(size, Image.Resampling.BICUBIC), "JPEG"), keep_pixels=6_000_000)
        faces = finder.find(d.gray, d.scale)
        assert len(faces) == 1, size
        f = size[0] / photo.width  # the box in the big/small photo's own pixels
        expected = tuple(v * f for v in small_box)
        assert all(abs(a - b) <= 0.15 * small_box[2] * f for a, b in zip(faces[0].bbox, expected)), (size, faces[0].bbox)
        assert faces[0].crop.shape == (100, 100)
