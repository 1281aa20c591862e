"""The options `curate export` and `train fit` share to leave out the faces a model flagged as
likely mislabeled (`train suggest`): --exclude-issues and --issues-model, and their resolution."""
from __future__ import annotations

import dataclasses

import click

from curation.selection import SelectionSpec, issues_model
from db.catalog import Catalog
from db.types import ModelInfo


def exclude_issues_options(func):
    """--exclude-issues, --issues-model MODEL (parameters exclude_issues, issues_model_ref)."""
    for opt in reversed([
        click.option("--exclude-issues", is_flag=True,
                     help="Leave out the faces a model flagged as likely mislabeled (`train suggest`) that nobody "
                          "has confirmed since its prediction."),
        click.option("--issues-model", "issues_model_ref", metavar="MODEL",
                     help="With --exclude-issues: the model (name, id or directory) [default: the newest with "
                          "stored predictions, the one the labeler shows]."),
    ]):
        func = opt(func)
    return func


def check_exclude_issues(exclude_issues: bool, issues_model_ref: str | None) -> None:
    if issues_model_ref is not None and not exclude_issues:
        raise click.UsageError("--issues-model goes with --exclude-issues")


def excluding_issues(catalog: Catalog, spec: SelectionSpec, exclude_issues: bool,
                     issues_model_ref: str | None) -> tuple[SelectionSpec, ModelInfo | None]:
    """The selection without the chosen model's unresolved issues, and that model; (spec, None)
    when they are not to be left out."""
    check_exclude_issues(exclude_issues, issues_model_ref)
    if not exclude_issues:
        return spec, None
    flagger = issues_model(catalog, issues_model_ref)
    return dataclasses.replace(spec, exclude_issues=flagger.id), flagger
