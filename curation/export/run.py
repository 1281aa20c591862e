"""The export itself: select and split, write every face, then the manifest, atomically.

Everything is built in a temporary directory beside OUT and renamed into place at the end, so a
failure half-way leaves no OUT (and an existing OUT, replaced only with force, stays whole until
the new one is complete).
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from curation.export import manifest
from curation.export.pixels import face_pictures
from curation.export.writers import FER_CLASSES, CsvWriter, FoldersWriter, NpzWriter, Writer
from curation.selection import SelectionSpec, SplitSelection, select_split
from curation.split import SPLITS
from db.catalog import Catalog
from db.errors import CatalogError

FORMATS = ("folders", "csv", "npz")
CSV_SIZE = 48  # FER2013's size, what FER tools expect


class ExportError(CatalogError):
    """An export that cannot be made; one line for the user, nothing written."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    size: int
    classes: list[str]
    counts: dict
    manifest_sha256: str
    export_id: int
    excluded_issues: int = 0  # faces left out as unresolved label issues (spec.exclude_issues)


def export_size(fmt: str, selection: SplitSelection, size: int | None) -> int:
    """--size, else 48 for csv, else the crops' own size (which must then be the same for all)."""
    if size is not None:
        return size
    if fmt == "csv":
        return CSV_SIZE
    sizes = sorted({a.face.crop_size for a in selection.assignments})
    if len(sizes) > 1:
        raise ExportError(f"the selected faces have crops of sizes {', '.join(map(str, sizes))}; pick one with --size")
    return sizes[0]


def check_classes(fmt: str, classes: list[str]) -> None:
    """Refuse class names the format cannot hold, before anything is written."""
    if fmt == "folders":
        bad = [k for k in classes if k in (".", "..") or any(c in k for c in "/\\\0")]
        if bad:
            raise ExportError(f"class name(s) unfit for a folder name: {', '.join(map(repr, bad))}; rename with --map")
    if fmt == "csv":
        other = [k for k in classes if k not in FER_CLASSES]
        if other:
            raise ExportError(f"the csv format holds FER2013's classes only ({', '.join(FER_CLASSES)}); "
                              f"map or leave out: {', '.join(other)} (--map, --classes)")


def _writer(fmt: str, root: Path, selection: SplitSelection, size: int) -> Writer:
    if fmt == "folders":
        present = [s for s in SPLITS if any(a.split == s for a in selection.assignments)]
        return FoldersWriter(root, selection.classes, present)
    if fmt == "csv":
        return CsvWriter(root)
    return NpzWriter(root, selection.classes, len(selection.assignments), size)


def _overlap(out: Path, protected: Path) -> str | None:
    """How OUT and a catalog path overlap, if they do (replacing OUT would delete catalog data)."""
    protected = protected.resolve()
    if out == protected:
        return "is"
    if out in protected.parents:
        return "contains"
    if protected in out.parents:
        return "is inside"
    return None


def _is_facecat_export(out: Path) -> bool:
    try:
        data = json.loads((out / manifest.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and manifest.MARKER in data


def _check_outside_catalog(catalog: Catalog, out: Path) -> None:
    """Refuse an OUT that overlaps the catalog (replacing it would delete catalog data)."""
    real = out.resolve()
    for what, path in (("catalog directory", catalog.location.directory), ("blob store", catalog.blobs.local_root)):
        how = _overlap(real, path) if path is not None else None
        if how:
            raise ExportError(f"{out} {how} the {what} {path}; choose an OUT outside the catalog")


def _check_out(out: Path, force: bool) -> None:
    """Refuse an OUT that --force would replace while it holds anything but an earlier export
    (a typo such as `export ~ --force` must not wipe a folder)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ExportError(f"{out} exists and is not a directory; choose another OUT")
    if not out.exists():
        return
    if not force:
        raise ExportError(f"{out} already exists; use --force to replace it")
    if any(out.iterdir()) and not _is_facecat_export(out):
        raise ExportError(f"{out} is not empty and not a facecat export (no facecat manifest.json); "
                          "--force replaces only earlier exports: choose another OUT")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_into_place(tmp: Path, out: Path) -> None:
    # Two renames: a kill between them leaves the old export in .OUT.old-*; _recover puts it back.
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.replace(out, old / out.name)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)


@contextmanager
def _only_export_to(out: Path) -> Iterator[None]:
    """One export to OUT at a time (a lock file beside it, removed at the end): a second one is
    refused instead of removing the first's build as a killed export's leftovers. POSIX only."""
    try:
        import fcntl
    except ImportError:  # Windows: unguarded
        yield
        return
    lock = out.parent / f".{out.name}.lock"
    running = ExportError(f"another export to {out} is running; wait for it to finish, or export elsewhere")
    for _ in range(2):  # a second try when the lock's holder finished and removed it meanwhile
        fd = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o666)  # read-only: another user's leftover lock works too
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                current = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
        except BlockingIOError:
            os.close(fd)
            raise running from None
        except OSError as exc:  # e.g. no locks on this file system
            os.close(fd)
            raise ExportError(f"cannot lock {lock}: {exc.strerror}") from None
        if current:
            break
        os.close(fd)
    else:
        raise running
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def _recover(out: Path) -> None:
    """Clean up after an export that was killed (run under _only_export_to): put back an old
    export moved aside for a swap that never finished (OUT missing), and remove leftover build and
    old directories."""
    if not out.parent.is_dir():
        return
    for old in sorted(out.parent.glob(f".{glob.escape(out.name)}.old-*")):
        if not out.exists() and not out.is_symlink() and (old / out.name).is_dir():
            os.replace(old / out.name, out)
        shutil.rmtree(old, ignore_errors=True)
    for tmp in out.parent.glob(f".{glob.escape(out.name)}.tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)


def export(catalog: Catalog, out: Path, fmt: str, spec: SelectionSpec, size: int | None = None,
           force: bool = False, progress=None) -> ExportResult:
    """Export the faces selected by spec to directory `out` in format fmt; record it in the catalog.

    `progress`: a tqdm-like bar advanced once per face written (its total is set here).
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    out = Path(out).absolute()
    _check_outside_catalog(catalog, out)
    selection = select_split(catalog, spec)
    if not selection.assignments:
        raise ExportError(f"no faces match the selection ({spec.status}, classes {spec.classes or 'all'}, "
                          f"sources {spec.sources or 'all'}); see `curate stats`")
    size = export_size(fmt, selection, size)
    check_classes(fmt, selection.classes)
    # Nothing is written before here: a refused export leaves no folder behind.
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where a folder should be, no permission
        where = "" if exc.filename in (None, str(out.parent)) else f" ({exc.filename})"
        raise ExportError(f"cannot create the folder {out.parent}: {exc.strerror or exc}{where}") from exc
    with _only_export_to(out):
        _recover(out)
        _check_out(out, force)
        return _write(catalog, out, fmt, spec, selection, size, progress)


def _write(catalog: Catalog, out: Path, fmt: str, spec: SelectionSpec, selection: SplitSelection, size: int,
           progress) -> ExportResult:
    # Output order: train, val, test, each by face id (FER2013's own CSV is ordered by Usage too).
    ordered = sorted(selection.assignments, key=lambda a: (SPLITS.index(a.split), a.face.id))
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        tmp.chmod(0o777 & ~_current_umask())  # mkdtemp makes it private; OUT is an ordinary folder
        writer = _writer(fmt, tmp, selection, size)
        placed = []
        if progress is not None:
            progress.reset(total=len(ordered))
        for a, picture in zip(ordered, face_pictures(catalog, ordered, size)):
            placed.append((a, writer.add(a, picture)))
            if progress is not None:
                progress.update(1)
        writer.close()
        data = manifest.build(fmt, size, selection, placed)
        (tmp / manifest.MANIFEST).write_bytes(data)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    digest = hashlib.sha256(data).hexdigest()
    counts = manifest.counts(selection)
    export_id = catalog.record_export(str(out), fmt, {**spec.as_dict(), "size": size}, counts, digest)
    return ExportResult(out, fmt, size, selection.classes, counts, digest, export_id, selection.excluded_issues)
