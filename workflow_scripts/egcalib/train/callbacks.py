"""Keras callbacks every network's training uses (the energy networks, egcalib.train.training;
the photon-ID CNN, egcalib.photon_id.cnn): a module of its own, so that a change to the
energy training does not rerun the photon-ID stage."""

from __future__ import annotations

import logging
import math

import keras


class FiniteLoss(keras.callbacks.Callback):
    """Stop at the first non-finite loss with a FloatingPointError naming the model, the epoch
    (1-based, as the log's) and the batch (1-based within the epoch) of the training loss, or
    the epoch of the validation loss. Keras trains on after a NaN (its TerminateOnNaN stops
    quietly by default and names no batch), the NaN weights would be backed up and resumed,
    and a NaN validation loss would never be the best: the model written would be some earlier
    or the last epoch's, silently. The training loss in the logs is the epoch's running mean:
    it turns non-finite at the first non-finite batch loss and stays so."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            raise FloatingPointError(
                f"model {self.name}: non-finite training loss ({loss}) at epoch "
                f"{self.epoch + 1}, batch {batch + 1}; a NaN or infinite input, target or "
                "weight, or a diverging training (learning rate)"
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("val_loss")
        if loss is not None and not math.isfinite(loss):
            raise FloatingPointError(
                f"model {self.name}: non-finite validation loss ({loss}) at epoch {epoch + 1}; "
                "a NaN or infinite validation input, target or weight, or a diverged model"
            )


def epoch_log(log: logging.Logger) -> keras.callbacks.Callback:
    """A callback logging each epoch's losses and metrics (1-based epoch) to ``log``: the job's
    log shows the training as it goes, where Keras's own printing to a redirected stdout would
    be buffered until the job ends."""
    return keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: log.info(
            "epoch %d: %s", epoch + 1, {k: round(float(v), 6) for k, v in (logs or {}).items()}
        )
    )
