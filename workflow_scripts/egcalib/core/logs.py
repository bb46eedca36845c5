"""Logging for workflow scripts: everything a job writes goes to the rule's log file."""

from __future__ import annotations

import logging
import os
import sys


def log_to_file(path: str) -> logging.Logger:
    """Send what a `script:` job writes on stderr to its `log:` file: logging, warnings,
    uncaught exceptions and the messages of compiled libraries (TensorFlow writes to file
    descriptor 2 directly, some of it on import). Call it before importing such libraries, so
    the console of a workflow run shows Snakemake's progress and the logs hold the rest."""
    sys.stderr.flush()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)
    return logging.getLogger("egcalib")
