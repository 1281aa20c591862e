"""Conventions every facecat command follows (see README "Command conventions").

- `--catalog PATH_OR_URL` (default $FACECAT_CATALOG, else ./catalog) and `--store DIR` ($FACECAT_STORE);
- exit 0 on success, 1 on an error with a one-line message on stderr and no traceback, 2 for bad usage
  (click's own usage errors);
- `--json` where a script may read the output;
- a progress bar (on stderr, only on a terminal unless forced) for anything longer than a few seconds.
"""
from __future__ import annotations

import functools
import json
import os
import select
import sys
from typing import Any, Callable, Iterable, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from db.catalog import Catalog, open_catalog
from db.errors import CatalogError, database_error_message

T = TypeVar("T")


class UserError(click.ClickException):
    """A user's mistake or an environment problem: one line on stderr, exit 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def catalog_options(func: Callable) -> Callable:
    """Add --catalog and --store to a click command; the function receives `catalog_location`
    and `store` keyword arguments (pass them to `open_for_command`)."""
    func = click.option(
        "--store",
        "store",
        metavar="DIR_OR_URL",
        default=None,
        help="Where the original images go: a directory, or object storage (s3://bucket/prefix; endpoint and "
             "credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). Default: $FACECAT_STORE, else the "
             "catalog directory.",
    )(func)
    func = click.option(
        "--catalog",
        "catalog_location",
        metavar="PATH_OR_URL",
        default=None,
        help="Catalog directory or SQLAlchemy URL (default: $FACECAT_CATALOG, else ./catalog).",
    )(func)
    return func


def open_for_command(catalog_location: str | None, store: str | None, create: bool = False) -> Catalog:
    """Open the catalog for a command; with create, make it first where there is none (silently:
    `curate init` reports it itself)."""
    try:
        return open_catalog(catalog_location, store, create=create)
    except CatalogError as exc:
        raise UserError(str(exc)) from None


def open_or_create_for_command(catalog_location: str | None, store: str | None) -> Catalog:
    """For the commands that fill a catalog (`scrape`, `curate import`): open it, or create it where
    there is none yet and say so in one line on stderr. Commands that only read refuse a missing one."""
    cat = open_for_command(catalog_location, store, create=True)
    if cat.created:
        where = "" if cat.location.directory == cat.blobs.local_root else f" (blobs in {cat.blobs})"
        click.echo(f"created a new catalog at {cat.display}{where}", err=True)
    return cat


def user_errors(func: Callable[..., T]) -> Callable[..., T]:
    """Turn CatalogError, database errors and OSError raised inside a command into one-line exit-1
    errors. FACECAT_DEBUG=1 shows the traceback instead (for a bug report)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except BrokenPipeError as exc:
            if os.environ.get("FACECAT_DEBUG") == "1":
                raise
            if not _stdout_reader_gone():
                raise UserError(_os_error_message(exc)) from None  # another pipe (a worker's, a socket's)
            # The reader went away (`curate stats | head -1`): nothing to say. Python's own recipe:
            # point stdout at /dev/null so the flush at exit cannot complain again, then exit 1.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except (CatalogError, SQLAlchemyError, OSError) as exc:
            if os.environ.get("FACECAT_DEBUG") == "1":
                raise
            if isinstance(exc, CatalogError):
                raise UserError(str(exc)) from None
            if isinstance(exc, SQLAlchemyError):
                raise UserError(f"catalog database error: {database_error_message(exc)}") from None
            raise UserError(_os_error_message(exc)) from None

    return wrapper


INTERRUPTED_KEPT = "interrupted; what was stored is kept: run the same command again to finish"
INTERRUPTED_NOTHING_WRITTEN = "interrupted; nothing was written (OUT is as it was)"


def _os_error_message(exc: OSError) -> str:
    where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
    return f"{exc.strerror or exc}{where}"


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe whose reading end is closed (POLLERR); False where poll is missing."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def on_interrupt(message: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Ctrl-C in a long command: `error: message` (what became of the work), exit 1, instead of
    click's bare "Aborted!"."""

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except KeyboardInterrupt:
                raise UserError(message) from None

        return wrapper

    return decorate


def print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=False, default=str, ensure_ascii=False))


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
             unit: str = "it") -> tqdm:
    """A progress bar on stderr. Hidden when stderr is not a terminal, unless FACECAT_PROGRESS=1."""
    forced = os.environ.get("FACECAT_PROGRESS")
    disable = (not sys.stderr.isatty()) if forced is None else forced in ("0", "")
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True,
                file=sys.stderr)
