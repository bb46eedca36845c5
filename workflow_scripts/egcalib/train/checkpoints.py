"""Checkpoints of a training job: a backup every epoch that a killed job resumes from, the
weights of the best validation epoch kept across resumes, and the fingerprint that makes a
checkpoint of other settings or inputs stale (docs/design.md#reliability). Every file is replaced
atomically, so a job killed mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path

import keras

from egcalib.core.atomic import atomic_path

log = logging.getLogger(__name__)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore whose checkpoint files are replaced atomically. Keras writes them in
    place, so a job killed during the write left a truncated weights file and its rerun failed
    ("bad object header"); now a killed write leaves the previous checkpoint intact."""

    def _save_model(self):
        with atomic_path(self._weights_path) as tmp:
            self.model.save_weights(tmp, overwrite=True)
        with atomic_path(self._training_metadata_path) as tmp:
            tmp.write_text(
                json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen})
            )


class BestValidationWeights(keras.callbacks.Callback):
    """Keep the weights of the epoch with the lowest validation loss and end training with them.
    They live on disk beside the backup, written atomically: Keras's in-memory
    ``restore_best_weights`` forgets them when a killed job resumes."""

    def __init__(self, directory, monitor="val_loss"):
        super().__init__()
        self.directory = Path(directory)
        self.monitor = monitor
        self.weights_path = self.directory / "best.weights.h5"
        self.record_path = self.directory / "best.json"
        self.best = {"epoch": None, "value": float("inf")}

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.record_path.exists() and self.weights_path.exists():
            self.best = json.loads(self.record_path.read_text())

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(value) or value >= self.best["value"]:
            return
        # The weights are renamed into place before the record that points at them.
        with atomic_path(self.weights_path) as tmp:
            self.model.save_weights(tmp, overwrite=True)
        self.best = {"epoch": epoch, "value": float(value)}
        with atomic_path(self.record_path) as tmp:
            tmp.write_text(json.dumps(self.best))

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best["epoch"] is not None:
            self.model.load_weights(self.weights_path)
            log.info(
                "kept the weights of epoch %d (%s %.6g)",
                self.best["epoch"] + 1,
                self.monitor,
                self.best["value"],
            )


class StopAfter(keras.callbacks.Callback):
    """Stop after a given epoch (tests simulate a killed job with it)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 >= self.epoch:
            raise KeyboardInterrupt(f"stopped after epoch {epoch + 1}")


def discard_stale_checkpoint(work_dir: Path, fingerprint: object) -> None:
    """Keep ``work_dir``'s checkpoint only if it was written for the same ``fingerprint`` (any
    JSON-serialisable description of model, training settings and inputs): a job rerun because
    its config or inputs changed must start afresh, not resume the old training."""
    record = work_dir / "fingerprint.json"
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    if record.exists() and record.read_text() != text:
        log.info("the checkpoint in %s is of another config or inputs: starting afresh", work_dir)
        for stale in ("backup", "best"):
            shutil.rmtree(work_dir / stale, ignore_errors=True)
        (work_dir / "history.partial.csv").unlink(missing_ok=True)
    with atomic_path(record) as tmp:
        Path(tmp).write_text(text)
