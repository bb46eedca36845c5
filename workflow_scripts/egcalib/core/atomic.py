"""Atomic outputs: write to a temporary name beside the target, rename when complete.

A killed job therefore never leaves a file that looks complete (docs/design.md#reliability).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it to ``path`` on success.
    The temporary name ends with the target's name: writers that infer the format from the
    suffix (Keras's ``.keras`` and ``.weights.h5``) accept it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}.{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


FIGURE_DPI = 90  # every PNG of the workflow: legible in the HTML report, small on disk


def save_figure(fig: Figure, path: str | Path, dpi: int = FIGURE_DPI) -> None:
    """Write a matplotlib figure as PNG atomically and close it (the one place figures are
    saved, so every stage writes them alike)."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
