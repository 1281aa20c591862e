"""Thumbnails: crops (or photos) read, decoded and scaled to the thumbnail size as QImage on a worker
thread; turned into QPixmap on the GUI thread (QPixmap belongs there) and kept in a cache bounded
by bytes (a few screens at any zoom).

The loader always works on what the view shows now: each request replaces the queued one. While
the view moves fast (a held Page Down, a flung wheel) nothing is decoded at all until it settles:
the decoder's Python and Qt calls hold the interpreter lock, and sharing it with the GUI thread
stretched a 10 ms paint to 50 and a scroll's longest event-loop block past 100 ms (the same reason
image loaders pause while a list is flung). So a fast scroll through 100,000 faces decodes only the
screen it stops on.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Sequence

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap

from labeler.background import lower_priority
from labeler.pace import Pace

BROKEN = object()  # the picture cannot be decoded (a corrupt crop, a missing blob)
BATCH = 48
THUMBNAIL_NICE = 4  # behind the GUI thread, ahead of the other background work
PIXMAP_BUDGET = 48 << 20  # thumbnails kept: ~1,300 at 96 px, ~5,000 at 48 px


def fit(image: QImage, side: int) -> QImage:
    """The image scaled (smoothly) to fit side x side, in the format QPixmap takes without converting."""
    if image.isNull():
        return image
    if max(image.width(), image.height()) != side:
        image = image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


# An image's format told by its first bytes. Told the format, Qt uses that decoder alone; left to
# detect it, Qt asks every image plugin, the SVG one through a QTextStream that takes one of Qt's
# signal locks. A worker holding the interpreter lock there deadlocked against the GUI thread holding
# that Qt lock and waiting for the interpreter (a CI run hung so).
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF8", "gif"), (b"BM", "bmp"))


def image_format(data: bytes) -> str | None:
    """png, jpeg, gif, bmp or webp by the image's first bytes; None for anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return next((fmt for magic, fmt in _MAGIC if data.startswith(magic)), None)


def decode_image(data: bytes) -> QImage:
    """An image's bytes decoded (a null QImage: unreadable), with no format detection when the bytes say it."""
    fmt = image_format(data)
    return QImage.fromData(data, fmt) if fmt else QImage.fromData(data)


def decode_crops(catalog, ids: Sequence[int], side: int) -> dict[int, QImage]:
    """The stored crops of these faces, decoded and fitted to side (a null QImage: unreadable)."""
    data = catalog.crops(ids)
    return {i: fit(decode_image(data[i]), side) if data.get(i) else QImage() for i in ids}


def photo_reader(data: bytes) -> QImageReader:
    """A reader over an image's bytes (any blob store: a directory or object storage), EXIF
    orientation applied. The reader keeps its buffer alive."""
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer)
    fmt = image_format(data)
    if fmt:  # only that decoder (see image_format)
        reader.setFormat(fmt.encode())
        reader.setAutoDetectImageFormat(False)
    reader.setAutoTransform(True)
    reader._buffer = buffer  # the reader does not own its device
    return reader


def read_photo(data: bytes, max_side: int) -> QImage:
    """An image's bytes decoded at most max_side on its longer side (JPEGs decode scaled, cheaply).
    A null QImage when unreadable."""
    reader = photo_reader(data)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > max_side:
        reader.setScaledSize(size.scaled(QSize(max_side, max_side), Qt.AspectRatioMode.KeepAspectRatio))
    return reader.read()


def read_blob(catalog, rel: str) -> bytes | None:
    """A blob's bytes, None when it is missing from the store."""
    try:
        return catalog.blobs.read(rel)
    except FileNotFoundError:
        return None


def decode_photos(catalog, ids: Sequence[int], side: int) -> dict[int, QImage]:
    """Images without a face: their original photos, fitted to side."""
    paths = catalog.image_blob_paths(ids)
    out = {}
    for i in ids:
        data = read_blob(catalog, paths[i]) if i in paths else None
        out[i] = fit(read_photo(data, side), side) if data is not None else QImage()
    return out


class ThumbnailLoader(QObject):
    """Decodes on its own thread; `loaded` brings ({id: QImage}, side) back to the GUI thread."""

    loaded = Signal(object, int)
    failed = Signal(str)

    def __init__(self, decode: Callable[[list[int], int], dict[int, QImage]], batch: int = BATCH):
        super().__init__()
        self._decode = decode
        self._batch = batch
        self._wanted: list[int] = []
        self._side = 96
        # Decoded (or being decoded) at _side but not yet taken by the GUI thread: a request made
        # before their signal is handled does not decode them again (it did, the whole first screen).
        self._sent: set[int] = set()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="label-thumbnails", daemon=True)
        self._thread.start()

    def request(self, ids: Sequence[int], side: int) -> None:
        """Decode these next, in this order, at side pixels (replaces what was still queued)."""
        with self._cond:
            if side != self._side:
                self._sent.clear()
            self._wanted = [i for i in ids if i not in self._sent]
            self._side = side
            self._cond.notify()

    def taken(self, ids, side: int) -> None:
        """The GUI thread has these at side (a later request may want them again: evicted, or
        their crop changed). Pictures of another size say nothing of the ones being made now."""
        with self._cond:
            if side == self._side:
                self._sent.difference_update(ids)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        lower_priority(THUMBNAIL_NICE)
        while True:
            with self._cond:
                while not self._wanted and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                batch, self._wanted = self._wanted[: self._batch], self._wanted[self._batch :]
                side = self._side
                self._sent.update(batch)
            try:
                try:
                    images = self._decode(batch, side)
                    images = {k: images.get(k, QImage()) for k in batch}  # each key answered, else stuck in _sent
                except Exception as exc:  # the catalog is unreachable: say so; the view asks again later
                    self.taken(batch, side)
                    self.failed.emit(f"cannot read thumbnails: {exc}".splitlines()[0])
                    continue
                if not self._stopped:
                    self.loaded.emit(images, side)
            except RuntimeError:  # the window is gone (Qt deleted this object): nothing to tell
                return


class Thumbnails(QObject):
    """The GUI thread's side: pixmaps at the current size, bounded by bytes."""

    ready = Signal(list)  # ids whose pictures arrived

    def __init__(self, loader: ThumbnailLoader, wanted: Callable[[], list[int]], size: int,
                 budget: int = PIXMAP_BUDGET, dpr: float = 1.0):
        super().__init__()
        self.loader = loader
        self.size = size
        self.dpr = dpr
        self._wanted = wanted  # the ids the view needs now, most urgent first
        self._pixmaps: OrderedDict[int, object] = OrderedDict()  # QPixmap or BROKEN
        self._bytes = 0
        self._budget = budget
        self._asked: set[int] = set()
        self._flush_queued = False
        self._pace = Pace(lone_s=0.0)  # a lone move's screen loads at once
        self._settled = QTimer(self)
        self._settled.setSingleShot(True)
        self._settled.timeout.connect(self.flush)
        loader.loaded.connect(self._on_loaded)

    @property
    def side(self) -> int:
        """The thumbnails' side in device pixels."""
        return round(self.size * self.dpr)

    def stop(self) -> None:
        """No more decoding (the window closes)."""
        self._settled.stop()
        self.loader.stop()

    def set_size(self, size: int) -> None:
        self.size = size
        self._pixmaps.clear()
        self._bytes = 0
        self._asked.clear()

    def pixmap(self, key: int):
        """The thumbnail at the current size, BROKEN, or None (asked for; `ready` says when)."""
        pix = self._pixmaps.get(key)
        if pix is None:
            if key not in self._asked:
                self.schedule()
            return None
        self._pixmaps.move_to_end(key)
        return pix

    def forget(self, keys: Sequence[int]) -> None:
        """Drop these pictures (their crop changed): the next request decodes them again, even
        one being decoded now (its old picture may land first; the new one replaces it)."""
        self.loader.taken(keys, self.side)
        for k in keys:
            self._drop(k)
            self._asked.discard(k)

    def schedule(self) -> None:
        """Ask the loader for what the view needs, once the current paint is over."""
        if not self._flush_queued:
            self._flush_queued = True
            QTimer.singleShot(0, self.flush)

    def moved(self) -> None:
        """The view scrolled. A lone move loads its screen at once; moves in quick succession load
        nothing until the view has been still for a while (labeler.pace)."""
        self._pace.moved(time.monotonic())

    def flush(self) -> None:
        self._flush_queued = False
        wait_s = self._pace.wait_s(time.monotonic())
        if wait_s > 0:
            self.loader.request([], self.side)  # drop the screens scrolled past; the batch in hand ends
            self._asked.clear()
            self._settled.start(max(1, round(wait_s * 1000)))
            return
        todo = [k for k in dict.fromkeys(self._wanted()) if k not in self._pixmaps]  # (the current face is on screen too)
        self._asked = set(todo)
        if todo:
            self.loader.request(todo, self.side)

    def missing(self, keys: Sequence[int]) -> list[int]:
        return [k for k in keys if k not in self._pixmaps]

    def _drop(self, key: int) -> None:
        old = self._pixmaps.pop(key, None)
        if isinstance(old, QPixmap):
            self._bytes -= old.width() * old.height() * 4

    def _on_loaded(self, images: dict, side: int) -> None:
        self.loader.taken(images, side)
        if side != self.side:  # decoded for a zoom level left meanwhile
            self.schedule()
            return
        for k, img in images.items():
            self._drop(k)
            if img.isNull():
                self._pixmaps[k] = BROKEN
                continue
            pix = QPixmap.fromImage(img)
            pix.setDevicePixelRatio(self.dpr)
            self._pixmaps[k] = pix
            self._bytes += pix.width() * pix.height() * 4
        while self._bytes > self._budget and len(self._pixmaps) > 1:
            self._drop(next(iter(self._pixmaps)))
        self.ready.emit(list(images))
