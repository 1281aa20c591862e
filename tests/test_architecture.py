"""The house rules, checked: which package may import what (README "The four stages", ARCHITECTURE.md).

- Qt only in labeler/, TensorFlow and Keras only in training/, SQL (SQLAlchemy, Alembic, drivers)
  only in db/ (a stage may catch sqlalchemy.exc's errors, nothing more);
- db/ imports no stage; no stage imports labeler/ or training/ (the stages on top); scraper/ and
  curation/ do not import each other.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("db", "scraper", "curation", "labeler", "training")

# package -> the other facecat packages it may import
ALLOWED = {
    "db": set(),
    "scraper": {"db"},
    "curation": {"db"},
    "labeler": {"db", "curation"},
    "training": {"db", "curation"},
}
# third-party roots only one package may import
OWNED = {"PySide6": "labeler", "tensorflow": "training", "keras": "training", "sqlalchemy": "db",
         "alembic": "db", "psycopg": "db", "psycopg2": "db"}


def imports(path: Path) -> list[str]:
    """Every module name a file imports (absolute imports; relative ones stay inside the package)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def package_files():
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            yield pkg, path


@pytest.mark.parametrize("pkg", PACKAGES)
def test_each_package_imports_only_what_it_may(pkg):
    wrong = []
    for owner, path in package_files():
        if owner != pkg:
            continue
        for name in imports(path):
            root = name.split(".")[0]
            if root in PACKAGES and root != pkg and root not in ALLOWED[pkg]:
                wrong.append(f"{path.relative_to(REPO)} imports {name}")
            if root in OWNED and OWNED[root] != pkg and not name.startswith("sqlalchemy.exc"):
                wrong.append(f"{path.relative_to(REPO)} imports {name} (only {OWNED[root]}/ may)")
    assert wrong == []


def test_the_rules_catch_a_breach(tmp_path):
    """The checker itself sees an import where it is forbidden (a rule that cannot fail is no rule)."""
    bad = tmp_path / "bad.py"
    bad.write_text("import tensorflow as tf\nfrom sqlalchemy import select\nfrom sqlalchemy.exc import DBAPIError\n")
    assert imports(bad) == ["tensorflow", "sqlalchemy", "sqlalchemy.exc"]
