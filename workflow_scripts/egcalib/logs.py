"""Logging for workflow scripts: everything goes to the rule's log file."""
from __future__ import annotations

import logging
import sys


def log_to_file(path: str) -> logging.Logger:
    """Send logging (and uncaught exceptions) of a `script:` job to its `log:` file."""
    logging.basicConfig(filename=path, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger = logging.getLogger("egcalib")

    def excepthook(kind, value, traceback):
        logger.error("failed", exc_info=(kind, value, traceback))
        sys.__excepthook__(kind, value, traceback)

    sys.excepthook = excepthook
    return logger
