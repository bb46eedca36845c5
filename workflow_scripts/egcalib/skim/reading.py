"""Streaming one ntuple by logical branch name (docs/design.md#input-ntuple-contract).

The tree (TTree or RNTuple) is opened, the logical names are resolved to their sources
(``egcalib.skim.branch_mapping``: branch names or uproot alias expressions), read in steps, each
under its private alias (a mapped name), its own name (an unmapped one) or its field (an RNTuple),
and converted to their contract types (``egcalib.skim.branch_types``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

import awkward as ak
import uproot

from egcalib.core import contract
from egcalib.core.remote_files import is_remote
from egcalib.skim.branch_mapping import (
    InputFileError,
    Source,
    is_rntuple,
    present_optional,
    resolve,
)
from egcalib.skim.branch_types import coerce_events


class Step(NamedTuple):
    """One step of ``iterate(..., report=True)``: the records, the global entry of their first
    row, and where each logical name comes from (for error messages)."""

    events: ak.Array
    entry_start: int
    sources: dict[str, Source]


def open_ntuple(path: str) -> uproot.ReadOnlyDirectory:
    """Open the ROOT file ``path`` (a local path or an XRootD URL), turning uproot's errors into
    one that names the file. Close it (``with``) when done: a remote file's connection lives as
    long as the file object, not as long as a tree read from it."""
    try:
        return uproot.open(path)
    except Exception as error:  # uproot raises many types for corrupt/truncated files
        # XRootD's client raises OSError for a server that is down or a file it does not have.
        problem = (
            "cannot be opened over XRootD"
            if is_remote(path) and isinstance(error, OSError)
            else "not a readable ROOT file"
        )
        raise InputFileError(f"{path}: {problem} ({type(error).__name__}: {error})") from error


def tree_in(
    file: uproot.ReadOnlyDirectory, path: str, tree: str
) -> uproot.TTree | uproot.behaviors.RNTuple.RNTuple:
    """``tree`` (a TTree or an RNTuple) of the open ``file`` read from ``path``; InputFileError
    naming the file and its keys when there is none."""
    try:
        return file[tree]
    except Exception as error:
        raise InputFileError(
            f"{path}: no TTree '{tree}' (keys: {sorted(file.keys())[:10]})"
        ) from error


def _key(source: Source, rntuple: bool) -> str:
    """The name a logical name is read under: the field (RNTuple), the branch itself when
    unmapped, else the private alias (uproot ignores an alias that shares a branch's name)."""
    return source.expression if rntuple or not source.mapped else source.alias


def _read(tree, sources: Mapping[str, Source]) -> tuple[list[str], dict[str, str]]:
    """uproot's expressions and aliases that read ``sources``."""
    rntuple = is_rntuple(tree)
    keys = list(dict.fromkeys(_key(s, rntuple) for s in sources.values()))
    aliases = {s.alias: s.expression for s in sources.values() if _key(s, rntuple) == s.alias}
    return keys, aliases


def _logical(arrays, sources: Mapping[str, Source], rntuple: bool) -> ak.Array:
    """The read arrays as one record array with the logical names as fields."""
    return ak.zip({name: arrays[_key(s, rntuple)] for name, s in sources.items()}, depth_limit=1)


def iterate(
    path: str,
    tree_name: str,
    logical_names: Sequence[str],
    mapping: Mapping[str, str],
    step_size: int | str,
    optional: Sequence[str] = (),
    dtypes: Mapping[str, str] | None = None,
    report: bool = False,
) -> Iterator[ak.Array]:
    """Stream ``logical_names`` of one file in steps; each step is an awkward record array.

    Each field holds one logical name, converted to its contract type: ``dtypes`` (logical name
    -> numpy dtype, e.g. ``"bool"`` for a trigger flag) over ``contract.logical_dtypes``
    (``egcalib.skim.branch_types``). ``optional`` names are read when the file has them
    (``present_optional``) and are missing from the records when it does not. Peak memory is set
    by ``step_size`` (entries, or a size string such as "50 MB"). With ``report`` each step comes
    as a ``Step`` (records, global entry of the first row, sources).

    Raises InputFileError naming the file for unreadable files and missing required (or mapped
    optional) branches; NtupleContentError for a branch uproot cannot interpret or whose type
    cannot be converted to the contract type.
    """
    with open_ntuple(path) as file:
        tree = tree_in(file, path, tree_name)
        names = list(logical_names)
        sources, _ = resolve(tree, path, names, mapping)
        for name in present_optional(tree, path, optional, mapping):
            sources.update(resolve(tree, path, [name], mapping)[0])
        types = {**contract.logical_dtypes(sources), **(dtypes or {})}
        expressions, aliases = _read(tree, sources)
        rntuple = is_rntuple(tree)

        def converted(arrays):
            return coerce_events(_logical(arrays, sources, rntuple), types, sources, path)

        if tree.num_entries == 0:  # still one (empty) step, so the cutflow has every cut
            arrays = tree.arrays(
                expressions, entry_stop=0, **({"aliases": aliases} if aliases else {})
            )
            yield Step(converted(arrays), 0, sources) if report else converted(arrays)
            return
        options = {"aliases": aliases} if aliases else {}
        try:
            for arrays, info in tree.iterate(
                expressions, step_size=step_size, library="ak", report=True, **options
            ):
                events = converted(arrays)
                yield Step(events, int(info.tree_entry_start), sources) if report else events
        except InputFileError:
            raise
        except Exception as error:  # a truncated basket surfaces only while reading
            where = " over XRootD (did the connection break off?)" if is_remote(path) else ""
            raise InputFileError(
                f"{path}: failed while reading{where} ({type(error).__name__}: {error})"
            ) from error
