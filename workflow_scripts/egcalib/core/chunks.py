"""Chunks of a dataset's files: one inference job per model and chunk, not per file."""

from __future__ import annotations

from collections.abc import Iterable


def file_chunks(files: Iterable[str], files_per_job: int) -> dict[str, list[str]]:
    """``files`` (their names, in a stable order) cut into consecutive chunks of
    ``files_per_job``, named c000, c001, ... A file appended to ``files`` changes the last chunk
    only (or starts a new one), so adding a new run reruns one inference job per model. Raises
    ValueError for ``files_per_job`` < 1."""
    if files_per_job < 1:
        raise ValueError(f"inference.files_per_job must be at least 1, got {files_per_job}")
    files = list(files)
    return {
        f"c{i // files_per_job:03d}": files[i : i + files_per_job]
        for i in range(0, len(files), files_per_job)
    }
