"""Training callbacks: the Keras ones, configured (checkpoint, backup for --resume, CSV history,
early stopping, plateau), plus two of facecat's own: a progress bar per epoch on stderr, and Ctrl-C
that stops at the end of the epoch."""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import click

from db.cli import progress
from training.schedule import current_lr
from training.tfenv import load

MONITOR = "val_accuracy"


def standard(out: Path, schedule: str, patience: int, resume: bool, best_so_far: float | None) -> list:
    """Checkpoint of the best model (OUT/model.keras), backup of the training state each epoch (for
    --resume; OUT/.resume), history.csv, early stopping, and ReduceLROnPlateau for that schedule."""
    keras = load().keras
    cbs = [
        keras.callbacks.BackupAndRestore(str(out / ".resume"), delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(str(out / "model.keras"), monitor=MONITOR, mode="max", save_best_only=True,
                                        initial_value_threshold=best_so_far),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=resume),
        keras.callbacks.EarlyStopping(monitor=MONITOR, mode="max", patience=patience, restore_best_weights=True),
    ]
    if schedule == "plateau":
        cbs.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(2, patience // 3),
                                                     min_lr=1e-6))
    return cbs


def epoch_progress(steps: int, epochs: int):
    """A tqdm bar per epoch (loss, accuracy; validation at its end) on stderr; where the bar is
    hidden (not a terminal), one line per epoch instead."""
    keras = load().keras

    class EpochProgress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()
            self.bar = progress(total=steps, desc=f"epoch {epoch + 1}/{epochs}", unit="batch")

        def on_train_batch_end(self, batch, logs=None):
            if not self.bar.disable:
                self.bar.update(1)
                if logs and batch % 10 == 0:
                    self.bar.set_postfix_str(f"loss {logs['loss']:.3f} acc {logs['accuracy']:.1%}", refresh=False)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            text = (f"loss {logs.get('loss', float('nan')):.3f} acc {logs.get('accuracy', 0):.1%}  "
                    f"val_loss {logs.get('val_loss', float('nan')):.3f} val_acc {logs.get('val_accuracy', 0):.1%}  "
                    f"lr {current_lr(self.model.optimizer):.2g}")
            if self.bar.disable:
                click.echo(f"epoch {epoch + 1}/{epochs}  {text}  {time.perf_counter() - self.started:.0f} s", err=True)
            else:
                self.bar.set_postfix_str(text)
            self.bar.close()

    return EpochProgress()


def stop_on_interrupt():
    """Ctrl-C: finish this epoch, then stop (the best model so far is kept); a second Ctrl-C stops at once."""
    keras = load().keras

    class StopOnInterrupt(keras.callbacks.Callback):
        interrupted = False

        def on_train_begin(self, logs=None):
            self.previous = signal.getsignal(signal.SIGINT)
            if self.previous is not None:
                signal.signal(signal.SIGINT, self._handle)

        def _handle(self, signum, frame):
            if self.interrupted:
                raise KeyboardInterrupt
            self.interrupted = True
            print("\nstopping at the end of this epoch (Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

        def on_epoch_end(self, epoch, logs=None):
            if self.interrupted:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.previous is not None:
                signal.signal(signal.SIGINT, self.previous)

    return StopOnInterrupt()
