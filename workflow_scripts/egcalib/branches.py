"""Reading ntuples by logical branch name (DESIGN.md section 3).

``config["ntuple"]["branches"]`` maps a logical name to a branch name or an uproot alias
expression; unmapped names are read under their own name. Everything downstream sees logical
names only, so pointing the workflow at other ntuples is a config change.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence

import awkward as ak
import uproot

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_EXPRESSION_WORDS = {"abs", "sqrt", "log", "exp", "where", "cosh", "sinh", "cos", "sin", "np",
                     "ak", "and", "or", "not", "True", "False"}


class InputFileError(RuntimeError):
    """A ROOT file that cannot be read as an ntuple: corrupt, truncated, or missing branches."""


def open_tree(path: str, tree: str):
    """Open ``tree`` in ``path``, turning uproot's errors into one that names the file."""
    try:
        file = uproot.open(path)
    except Exception as error:  # uproot raises many types for corrupt/truncated files
        raise InputFileError(f"{path}: not a readable ROOT file ({type(error).__name__}: "
                             f"{error})") from error
    try:
        return file[tree]
    except Exception as error:
        raise InputFileError(f"{path}: no TTree '{tree}' (keys: {sorted(file.keys())[:10]})") \
            from error


def expression(logical: str, mapping: Mapping[str, str]) -> str:
    return mapping.get(logical, logical)


def _needed(expr: str) -> set[str]:
    """The branch names an expression reads."""
    return {word for word in _IDENTIFIER.findall(expr)
            if word not in _EXPRESSION_WORDS and not word.replace(".", "").isdigit()}


def check_branches(tree, path: str, logical_names: Sequence[str], mapping: Mapping[str, str]):
    """Raise InputFileError naming the file, the missing logical names and their mapping."""
    available = set(tree.keys())
    missing = []
    for name in logical_names:
        expr = expression(name, mapping)
        if not _needed(expr) <= available:
            missing.append(f"{name} -> {expr!r}" if name in mapping else f"{name} (unmapped)")
    if missing:
        raise InputFileError(
            f"{path}: missing branches for {len(missing)} logical name(s): {', '.join(missing)}. "
            "Map them in config ntuple.branches (logical name -> branch or expression).")


def present_optional(tree, path: str, optional: Sequence[str],
                     mapping: Mapping[str, str]) -> list[str]:
    """The optional logical names ``tree`` carries. An unmapped one the file lacks is skipped;
    a mapped one whose branches are missing raises InputFileError like a required name (the
    mapping says the user expects it, so a typo must not pass as an absent branch)."""
    available = set(tree.keys())
    present = [name for name in optional if _needed(expression(name, mapping)) <= available]
    check_branches(tree, path, [n for n in optional if n in mapping and n not in present],
                   mapping)
    skipped = [name for name in optional if name not in present]
    if skipped:
        log.info("%s: no optional branches %s", path, skipped)
    return present


def iterate(path: str, tree_name: str, logical_names: Sequence[str],
            mapping: Mapping[str, str], step_size, optional: Sequence[str] = ()) \
        -> Iterator[ak.Array]:
    """Stream ``logical_names`` of one file in steps; each step is an awkward record array.

    ``optional`` names are read when the file has them (``present_optional``) and are missing
    from the records when it does not. Peak memory is set by ``step_size`` (entries, or a size
    string such as "50 MB"). Raises InputFileError naming the file for unreadable files and
    missing required (or mapped optional) branches.
    """
    tree = open_tree(path, tree_name)
    check_branches(tree, path, logical_names, mapping)
    logical_names = list(logical_names) + present_optional(tree, path, optional, mapping)
    aliases = {name: expression(name, mapping) for name in logical_names
               if expression(name, mapping) != name}
    if tree.num_entries == 0:  # still one (empty) step, so the cutflow has every cut
        yield tree.arrays(list(logical_names), aliases=aliases or None, entry_stop=0)
        return
    try:
        yield from tree.iterate(list(logical_names), aliases=aliases or None,
                                step_size=step_size, library="ak")
    except InputFileError:
        raise
    except Exception as error:  # a truncated basket surfaces only while reading
        raise InputFileError(f"{path}: failed while reading ({type(error).__name__}: {error})") \
            from error
