"""One colour per class, the same on the serve page and in annotated video: the usual expression
classes get colours that read as their feeling (angry red, happy orange, sad blue, ...); any other
class name gets the next free colour of matplotlib's tab10, in the model's class order."""
from __future__ import annotations

NAMED = {"angry": "#d62728", "disgust": "#8c9a1b", "fear": "#9467bd", "happy": "#ff7f0e", "sad": "#1f77b4",
         "surprise": "#17becf", "neutral": "#7f7f7f", "contempt": "#8c564b"}
TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def class_colours(classes: list[str]) -> dict[str, str]:
    """{class: "#rrggbb"} for a model's classes, distinct while there are colours left."""
    out = {k: NAMED[k] for k in classes if k in NAMED}
    spare = [c for c in TAB10 if c not in out.values()] or TAB10
    for i, k in enumerate(k for k in classes if k not in out):
        out[k] = spare[i % len(spare)]
    return {k: out[k] for k in classes}


def bgr(hex_colour: str) -> tuple[int, int, int]:
    """'#rrggbb' as OpenCV's (blue, green, red)."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return b, g, r
