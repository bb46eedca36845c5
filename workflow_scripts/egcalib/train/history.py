"""Training histories as a figure: the loss per epoch (CNN) or per boosting round (BDT).

Plain matplotlib, no TensorFlow and no mplhep: the CNN's training job (envs/train-gpu.yaml) and
the BDT's (envs/analysis.yaml) both draw it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from egcalib.core.atomic import save_figure

# Beyond this many points, markers would hide the curve (a BDT trains for hundreds of rounds).
MAX_MARKERS = 60


def plot_history(history: pd.DataFrame, path: str | Path, title: str, step: str = "epoch") -> None:
    """Training (``loss``) and, when present, validation (``val_loss``) loss against the 0-based
    ``step`` column ("epoch" or "round"), drawn from 1; written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(layout="constrained")
    steps = history[step] + 1
    markers = len(history) <= MAX_MARKERS
    ax.plot(steps, history["loss"], "o-" if markers else "-", label="training")
    if "val_loss" in history:
        ax.plot(steps, history["val_loss"], "s-" if markers else "-", label="validation")
    ax.set(xlabel="boosting round" if step == "round" else step, ylabel="loss", title=title)
    ax.legend()
    save_figure(fig, path)
