"""The live window of `train predict --video/--camera --show`: the annotated frames as they are made.

Tk (the standard library's tkinter, with Pillow's ImageTk) rather than OpenCV's highgui, which the
headless OpenCV wheel leaves out, or Qt, which only the labeler imports. Closing the window, q or
Esc stops the run (what was written so far is kept).
"""
from __future__ import annotations

import os
import sys

import numpy as np
from PIL import Image

from training.errors import TrainingError


class LiveWindow:
    def __init__(self, title: str):
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise TrainingError("--show needs a display (DISPLAY is not set); write --out annotated.mp4 instead")
        try:
            import tkinter as tk
            from PIL import ImageTk
        except ImportError as exc:
            raise TrainingError(f"--show needs Tk ({exc}; on Debian: apt install python3-tk)") from None
        self._tk, self._imagetk = tk, ImageTk
        try:
            self.root = tk.Tk()
        except tk.TclError as exc:
            raise TrainingError(f"--show cannot open a window: {exc}") from None
        self.root.title(title)
        self.label = tk.Label(self.root)
        self.label.pack()
        self.open = True
        self.root.protocol("WM_DELETE_WINDOW", self.close)
        for key in ("q", "<Escape>"):
            self.root.bind(key, lambda _e: self.close())
        self._photo = None

    def show(self, bgr: np.ndarray) -> bool:
        """Show a frame; False once the person closed the window."""
        if not self.open:
            return False
        self._photo = self._imagetk.PhotoImage(Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1])))
        self.label.configure(image=self._photo)
        try:
            self.root.update()
        except self._tk.TclError:
            self.open = False
        return self.open

    def close(self) -> None:
        if self.open:
            self.open = False
            try:
                self.root.destroy()
            except self._tk.TclError:
                pass
