"""Input ntuples on an XRootD server: `root://` (or `xroot://`) URLs and globs in `files:`.

The workflow reads a remote file where it is, with uproot's default source for `root://`
(fsspec-xrootd over the XRootD client: the bytes of the baskets a step needs, no local copy), so
a dataset of thousands of files on EOS or the grid costs no disk. (uproot's other source,
XRootDSource, sends an empty vector read when a step needs no new basket, which xrootd 5.5
refuses, closing the file.) Reruns follow the file behind a URL as they follow a local
path's (egcalib.core.file_identity): its identity, the canonical URL, the size and the
modification time, is a param of the rules that read it, taken from one directory listing per
remote directory at planning (the listing carries every entry's size and time), so a replaced or
rewritten remote file reruns its skim and nothing else does, and planning costs one round trip
per directory, not per file. XRootD reports times in whole seconds: a file rewritten within the
second of its predecessor with the same size counts as the same.

Timeouts and retries are XRootD's own (environment variables such as XRD_CONNECTIONRETRY,
XRD_CONNECTIONWINDOW, XRD_REQUESTTIMEOUT; the client's defaults wait minutes for a server that
is down before failing), so a site's settings apply unchanged.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import NamedTuple

from egcalib.core.rule_params import canonical

REMOTE_SCHEMES = ("root://", "xroot://")
_GLOB_CHARACTERS = frozenset("*?[")


class RemoteEntry(NamedTuple):
    """One entry of a remote directory listing: size in bytes, modification time in seconds
    since the epoch, and whether it is a directory."""

    size: int
    mtime_s: int
    is_dir: bool


def is_remote(path: str) -> bool:
    """Whether ``path`` is an XRootD URL (``root://`` or ``xroot://``)."""
    return path.startswith(REMOTE_SCHEMES)


def split_url(url: str) -> tuple[str, str]:
    """``(server, path)`` of an XRootD URL: ``("root://host:port", "/absolute/path")``.

    ``root://host//eos/a.root`` and ``root://host/eos/a.root`` give the same path (XRootD reads
    both from the root of the namespace); the port defaults to 1094. Raises ValueError for a URL
    XRootD cannot parse."""
    from XRootD.client import URL

    parsed = URL(url)
    if not parsed.is_valid() or not parsed.hostid:
        raise ValueError(f"{url}: not a valid XRootD URL (root://host[:port]//path)")
    return f"{parsed.protocol}://{parsed.hostid}", "/" + parsed.path.lstrip("/")


def canonical_url(url: str) -> str:
    """The URL in one spelling: ``root://host:port//absolute/path``."""
    server, path = split_url(url)
    return f"{server}/{path}"


def list_directory(url: str) -> dict[str, RemoteEntry]:
    """``{name: RemoteEntry}`` of the remote directory ``url``, in one request.

    Raises FileNotFoundError naming the URL when the server has no such directory, and OSError
    naming the URL and XRootD's message when the server cannot be reached or refuses."""
    from XRootD.client import FileSystem
    from XRootD.client.flags import DirListFlags, StatInfoFlags

    server, path = split_url(url)
    status, listing = FileSystem(server).dirlist(path, DirListFlags.STAT)
    if not status.ok:
        message = status.message.strip()
        if status.errno == 3011:  # kXR_NotFound
            raise FileNotFoundError(f"{url}: no such remote directory ({message})")
        raise OSError(f"{url}: cannot list the remote directory ({message})")
    return {
        entry.name: RemoteEntry(
            entry.statinfo.size,
            entry.statinfo.modtime,
            bool(entry.statinfo.flags & StatInfoFlags.IS_DIR),
        )
        for entry in listing
    }


def _glob_parts(parts: list[str], directory: str, lister) -> list[str]:
    """Paths below ``directory`` matching the path components ``parts`` (glob patterns)."""
    if not parts:
        return [directory]
    head, rest = parts[0], parts[1:]
    if not _GLOB_CHARACTERS & set(head):
        return _glob_parts(rest, f"{directory.rstrip('/')}/{head}", lister)
    try:
        entries = lister(directory)
    except FileNotFoundError:  # as glob.glob: no directory, no match
        return []
    names = sorted(
        name
        for name, entry in entries.items()
        # As glob.glob: wildcards match no hidden name, and only directories lie on the way.
        if fnmatch.fnmatchcase(name, head)
        and not (name.startswith(".") and not head.startswith("."))
        and (entry.is_dir or not rest)
    )
    return [path for name in names for path in _glob_parts(rest, f"{directory}/{name}", lister)]


def remote_glob(
    pattern: str, dataset: str, lister: Callable[[str], dict[str, RemoteEntry]] = list_directory
) -> list[str]:
    """The canonical URLs of the remote files matching ``pattern`` (an input of ``dataset``),
    sorted; wildcards (``*``, ``?``, ``[...]``) may stand in any path component, as in
    ``glob.glob`` (a directory on the way that does not exist: no match). A pattern without
    wildcards is returned as it is (canonical), found or not.

    ``lister`` lists one remote directory URL (``list_directory``; the workflow passes a cached
    one). Raises its OSError, naming the dataset and the pattern, for a server that cannot be
    reached; ValueError for an invalid URL."""
    server, path = split_url(pattern)
    parts = [part for part in path.split("/") if part]
    if not any(_GLOB_CHARACTERS & set(part) for part in parts):
        return [canonical_url(pattern)]
    try:
        matches = _glob_parts(parts, "", lambda directory: lister(f"{server}/{directory or '/'}"))
    except OSError as error:
        raise type(error)(f"dataset {dataset}: input pattern {pattern}: {error}") from error
    return sorted(f"{server}/{match}" for match in matches)


def remote_identity(
    url: str, dataset: str, lister: Callable[[str], dict[str, RemoteEntry]] = list_directory
) -> dict:
    """``{"mtime_ns", "path", "size"}`` of the remote file ``url`` (an input of ``dataset``), the
    keys of egcalib.core.file_identity.file_identity: ``path`` the canonical URL, size in bytes,
    mtime in ns (whole seconds: XRootD's resolution), from the listing of its directory.

    Raises FileNotFoundError naming the dataset and URL when the file is not there,
    IsADirectoryError for a directory, and OSError naming them when the server cannot be
    reached."""
    server, path = split_url(url)
    directory, _, name = path.rpartition("/")
    try:
        entry = lister(f"{server}/{directory or '/'}").get(name)
    except FileNotFoundError:
        entry = None
    except OSError as error:
        raise OSError(f"dataset {dataset}: input file {url}: {error}") from error
    if entry is None:
        raise FileNotFoundError(f"dataset {dataset}: input file {url} does not exist")
    if entry.is_dir:
        raise IsADirectoryError(f"dataset {dataset}: input {url} is a directory, not a file")
    return canonical(
        {"path": canonical_url(url), "size": entry.size, "mtime_ns": entry.mtime_s * 10**9}
    )
