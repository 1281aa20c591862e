"""Every key of the labeler, in one table: the window binds them, the key overlay (? / F1) and the
menus show them, and the README lists them. Keys are Qt key-sequence strings. No Qt here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from db.types import ClassInfo


@dataclass(frozen=True)
class Binding:
    command: str  # what the window runs: "label:<class>", "confirm", "undo", ...
    keys: tuple[str, ...]  # QKeySequence strings; the first is the one menus show
    text: str  # what it does, for people
    group: str  # the overlay's heading


DECISIONS = "Decide: the selected faces, then the next face"
MOVING = "Move and select"
VIEW = "View"
CATALOG = "Catalog"

COMMANDS: list[Binding] = [
    Binding("confirm", ("Return", "Enter", "Space"), "Confirm as it stands (its label, else its suggestion)", DECISIONS),
    Binding("delete", ("Delete", "X"), "Delete (soft: a class key or Ctrl+Z brings it back)", DECISIONS),
    Binding("uncertain", ("U",), "Mark uncertain", DECISIONS),
    Binding("undo", ("Ctrl+Z",), "Undo the last change (any change since the app opened)", DECISIONS),
    Binding("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo", DECISIONS),
    Binding("filter", ("Ctrl+F",), "Filter and order (Esc: back to the grid)", VIEW),
    Binding("refresh", ("F5",), "Refresh the list (decided faces leave a filter they left)", VIEW),
    Binding("zoom_in", ("Ctrl++", "Ctrl+="), "Larger thumbnails (also Ctrl+wheel)", VIEW),
    Binding("zoom_out", ("Ctrl+-",), "Smaller thumbnails", VIEW),
    Binding("stats", ("Ctrl+I",), "Statistics: class balance, review progress", VIEW),
    Binding("explain", ("E",), "Show the model's explanation of the face (its Grad-CAM map, from `train explain`)", VIEW),
    Binding("help", ("?", "F1"), "This list of keys", VIEW),
    Binding("open", ("Ctrl+O",), "Open a catalog (a directory or a PostgreSQL URL)", CATALOG),
    Binding("export", ("Ctrl+E",), "Export the current filter (curate export)", CATALOG),
    Binding("annotator", ("Ctrl+Shift+A",), "Change the annotator's name", CATALOG),
    Binding("quit", ("Ctrl+Q",), "Quit (every decision is already saved)", CATALOG),
]

# Keys matched by the character they type, not as a key sequence: "?" is Shift+/ on a US keyboard
# and another key elsewhere, and a shortcut "?" misses Shift+/ where Qt's key mapper does not map it.
TYPED_KEYS = {"?": "help"}

# Keys the grid handles itself (Qt's list view); listed for people only.
MOVEMENT = [
    ("Arrows", "Move"),
    ("Home / End", "First / last face"),
    ("PgUp / PgDn", "A screen up / down"),
    ("Shift+arrows", "Select several: a key applies to all (one undo step)"),
    ("Shift/Ctrl+click", "Select with the mouse"),
    ("Ctrl+A", "Select every face in the filter"),
]


def _class_bindings(classes: Sequence[ClassInfo]) -> list[Binding]:
    """One binding per class of the catalog's taxonomy that has a key (`curate classes`)."""
    return [Binding(f"label:{c.name}", (c.key,), f"{c.emoji} {c.name} (label it, confirmed)", DECISIONS)
            for c in classes if c.key]


def taken_keys() -> dict[str, str]:
    """Keys the commands use (upper-cased) -> the command."""
    return {k.upper(): b.command for b in COMMANDS for k in b.keys}


def class_bindings(classes: Sequence[ClassInfo]) -> list[Binding]:
    """One binding per class that has a key no command uses (`clashes` lists the others)."""
    taken = taken_keys()
    return [b for b in _class_bindings(classes) if b.keys[0].upper() not in taken]


def clashes(classes: Sequence[ClassInfo]) -> list[str]:
    """Why some classes have no key here: 'class X: key U is the key of uncertain'."""
    taken = taken_keys()
    return [f"class {c.name}: key {c.key} is the key of {taken[c.key.upper()]}"
            for c in classes if c.key and c.key.upper() in taken]


def all_bindings(classes: Sequence[ClassInfo]) -> list[Binding]:
    return class_bindings(classes) + COMMANDS


def display_key(key: str) -> str:
    return {"Return": "Enter", "Space": "Space"}.get(key, key)


def table(classes: Sequence[ClassInfo]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The overlay's content: (heading, [(keys, what it does)]) in reading order."""
    groups: dict[str, list[tuple[str, str]]] = {DECISIONS: [], MOVING: [], VIEW: [], CATALOG: []}
    for b in all_bindings(classes):
        keys = [display_key(k) for k in b.keys if k != "Enter"]
        groups[b.group].append((" / ".join(dict.fromkeys(keys)), b.text))
    groups[MOVING] = list(MOVEMENT)
    return [(g, rows) for g, rows in groups.items() if rows]
