"""Pictures are decoded with the format their bytes name, so Qt never probes every image plugin on
a worker thread (the SVG probe takes a Qt lock: a hung CI run)."""
from __future__ import annotations

import io

import pytest
from PIL import Image


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (30, 20), (200, 40, 40)).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("pil_format, qt_format", [("PNG", "png"), ("JPEG", "jpeg"), ("GIF", "gif"),
                                                   ("BMP", "bmp"), ("WEBP", "webp")])
def test_the_bytes_name_the_format_and_the_reader_uses_it_alone(qapp, pil_format, qt_format):
    from labeler.thumbs import decode_image, image_format, photo_reader

    data = _encoded(pil_format)
    assert image_format(data) == qt_format
    reader = photo_reader(data)
    assert bytes(reader.format()).decode() == qt_format and not reader.autoDetectImageFormat()
    if qt_format in {bytes(f).decode() for f in reader.supportedImageFormats()}:
        image = decode_image(data)
        assert (image.width(), image.height()) == (30, 20)


def test_bytes_of_no_known_format_are_left_to_qt_and_garbage_is_a_null_image(qapp):
    from labeler.thumbs import decode_image, image_format, photo_reader

    assert image_format(b"not an image at all") is None
    assert decode_image(b"not an image at all").isNull()
    assert photo_reader(b"not an image").autoDetectImageFormat()
    assert decode_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).isNull()  # a corrupt PNG: null, no exception
