"""The suggested label of a scrape, inferred from its query ("angry human face" -> angry).

Only a hint: a person confirms it in the labeler. A query that names no class, or two, gets none.
"""
from __future__ import annotations

import re

# Words people put in image searches, by the class they point at (FER2013's seven).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "angry": ("anger", "angry", "mad", "furious", "rage", "raging", "enraged", "irate", "annoyed", "frowning", "scowling"),
    "disgust": ("disgust", "disgusted", "disgusting", "grossed out", "revolted", "repulsed"),
    "fear": ("fear", "fearful", "afraid", "scared", "frightened", "terrified", "horrified", "anxious", "panicked"),
    "happy": ("happy", "happiness", "smiling", "smile", "smiles", "laughing", "laugh", "joy", "joyful", "cheerful", "grinning"),
    "sad": ("sad", "sadness", "crying", "cry", "unhappy", "sorrow", "sorrowful", "tearful", "depressed", "grieving"),
    "surprise": ("surprise", "surprised", "astonished", "amazed", "shocked", "startled", "stunned"),
    "neutral": ("neutral", "expressionless", "blank expression", "poker face", "straight face", "passport photo"),
}


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z]+", text.lower())) + " "


def infer_label(query: str, classes: list[str]) -> str | None:
    """The one class the query names (by name or a synonym), among the catalog's classes; else None."""
    text = _words(query)
    found = set()
    for cls in classes:
        for word in (cls, *SYNONYMS.get(cls.lower(), ())):
            if _words(word) in text:
                found.add(cls)
                break
    return found.pop() if len(found) == 1 else None
