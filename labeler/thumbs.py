"""Thumbnails: crops (or photos) read and decoded to QImage on a worker thread, turned into QPixmap
on the GUI thread, kept in bounded caches of a few screens.

The loader always works on what the view shows now: each request replaces the queued one, so a
fast scroll through 100,000 faces decodes only the screens it stops on.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap

BROKEN = object()  # the picture cannot be decoded (a corrupt crop, a missing blob)
BATCH = 48


def decode_crops(catalog, ids: Sequence[int]) -> dict[int, QImage]:
    """The stored crops of these faces, decoded (a null QImage: unreadable)."""
    data = catalog.crops(ids)
    return {i: QImage.fromData(data[i]) if data.get(i) else QImage() for i in ids}


def read_photo(path: Path, max_side: int) -> QImage:
    """An image file decoded at most max_side on its longer side (JPEGs decode scaled, cheaply);
    EXIF orientation applied. A null QImage when missing or unreadable."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > max_side:
        reader.setScaledSize(size.scaled(QSize(max_side, max_side), Qt.AspectRatioMode.KeepAspectRatio))
    return reader.read()


def decode_photos(catalog, ids: Sequence[int], max_side: int = 320) -> dict[int, QImage]:
    """Images without a face: their original photos, scaled down."""
    paths = catalog.image_blob_paths(ids)
    return {i: read_photo(catalog.blobs.path(paths[i]), max_side) if i in paths else QImage() for i in ids}


class ThumbnailLoader(QObject):
    """Decodes on its own thread; `loaded` brings {id: QImage} back to the GUI thread."""

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, decode: Callable[[list[int]], dict[int, QImage]], batch: int = BATCH):
        super().__init__()
        self._decode = decode
        self._batch = batch
        self._wanted: list[int] = []
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="label-thumbnails", daemon=True)
        self._thread.start()

    def request(self, ids: Sequence[int]) -> None:
        """Decode these next, in this order (replaces what was still queued)."""
        with self._cond:
            self._wanted = list(ids)
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._wanted and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                batch, self._wanted = self._wanted[: self._batch], self._wanted[self._batch :]
            try:
                images = self._decode(batch)
            except Exception as exc:  # the catalog is unreachable: say so; the view asks again later
                self.failed.emit(f"cannot read thumbnails: {exc}".splitlines()[0])
                continue
            if not self._stopped:
                self.loaded.emit(images)


class Thumbnails(QObject):
    """The GUI thread's side: decoded images (bounded) and pixmaps at the current size (bounded)."""

    ready = Signal(list)  # ids whose pictures arrived

    def __init__(self, loader: ThumbnailLoader, wanted: Callable[[], list[int]], size: int,
                 images: int = 6000, pixmaps: int = 2500):
        super().__init__()
        self.loader = loader
        self.size = size
        self._wanted = wanted  # the ids the view needs now, most urgent first
        self._images: OrderedDict[int, QImage] = OrderedDict()
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self._cap_images, self._cap_pixmaps = images, pixmaps
        self._asked: set[int] = set()
        self._flush_queued = False
        loader.loaded.connect(self._on_loaded)

    def set_size(self, size: int) -> None:
        self.size = size
        self._pixmaps.clear()

    def image(self, key: int) -> QImage | None:
        return self._images.get(key)

    def pixmap(self, key: int):
        """The thumbnail at the current size, BROKEN, or None (asked for; `ready` says when)."""
        pix = self._pixmaps.get(key)
        if pix is not None:
            self._pixmaps.move_to_end(key)
            return pix
        img = self._images.get(key)
        if img is None:
            if key not in self._asked:
                self.schedule()
            return None
        if img.isNull():
            return BROKEN
        pix = QPixmap.fromImage(img.scaled(self.size, self.size, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))
        self._pixmaps[key] = pix
        if len(self._pixmaps) > self._cap_pixmaps:
            self._pixmaps.popitem(last=False)
        return pix

    def forget(self, keys: Sequence[int]) -> None:
        """Drop these pictures (their crop changed)."""
        for k in keys:
            self._images.pop(k, None)
            self._pixmaps.pop(k, None)
            self._asked.discard(k)

    def schedule(self) -> None:
        """Ask the loader for what the view needs, once the current paint is over."""
        if not self._flush_queued:
            self._flush_queued = True
            from PySide6.QtCore import QTimer

            QTimer.singleShot(0, self.flush)

    def flush(self) -> None:
        self._flush_queued = False
        todo = [k for k in self._wanted() if k not in self._images]
        self._asked = set(todo)
        if todo:
            self.loader.request(todo)

    def missing(self, keys: Sequence[int]) -> list[int]:
        return [k for k in keys if k not in self._images]

    def _on_loaded(self, images: dict) -> None:
        for k, img in images.items():
            self._images[k] = img
            self._images.move_to_end(k)
            self._pixmaps.pop(k, None)
        while len(self._images) > self._cap_images:
            self._images.popitem(last=False)
        self.ready.emit(list(images))
