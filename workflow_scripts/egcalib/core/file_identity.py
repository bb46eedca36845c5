"""Which file an input path stands for: a rule param that reruns a job when it is another file.

Snakemake reruns a job when an input is newer than its outputs, or when a param or the set of
input paths changed. A configured path (`source: files`) can come to stand for another file with
none of these: a symlink of the file or of a directory on its path repointed to another
production whose files of the same names are older than the outputs, a file replaced by an older
one, or rewritten in place and given an older time (`cp -p`, `rsync -t`). The identity of the
file, its resolved real path, size and modification time in nanoseconds, changes in each case;
as a param of the rule that reads the file it reruns that rule, and so what follows it, and an
unchanged tree gives the same identity, so nothing reruns.

Planning reads no contents: one lstat per file (a stat more where the file itself is a symlink)
and one realpath per directory (``real_directory``, cached by the caller over a planning).
A file with the same real path, size and modification time as before is taken as the same file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from egcalib.core.rule_params import canonical


def file_identity(
    path: str, dataset: str, real_directory: Callable[[str], str] = os.path.realpath
) -> dict:
    """``{"mtime_ns", "path", "size"}`` of the file behind ``path`` (an input of ``dataset``),
    canonical: ``path`` is the real path, every symlink on the way resolved (of the file itself,
    or of any directory above it); size in bytes and mtime in ns from one stat of that file.

    ``real_directory`` resolves a directory (``os.path.realpath``; the workflow passes a cached
    one, so 10,000 files of one directory resolve it once). Raises FileNotFoundError naming the
    dataset and path when no file is there (a dangling symlink included), IsADirectoryError when
    the path is a directory, ValueError for any other non-regular file, and the OSError of the
    stat (a PermissionError, say) otherwise."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"dataset {dataset}: input file {path} does not exist") from None
    directory, name = os.path.split(path)
    if stat.S_ISLNK(status.st_mode):
        real = os.path.realpath(path)
        try:
            status = os.stat(real)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"dataset {dataset}: input file {path} is a symlink to {real}, which does not exist"
            ) from None
    elif name in ("", ".", ".."):
        real = os.path.realpath(path)
    else:
        real = os.path.join(real_directory(directory), name)
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(f"dataset {dataset}: input {path} is a directory, not a file")
    if not stat.S_ISREG(status.st_mode):
        raise ValueError(f"dataset {dataset}: input {path} is not a regular file")
    return canonical({"path": real, "size": status.st_size, "mtime_ns": status.st_mtime_ns})
