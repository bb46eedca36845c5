"""Logical branch names and where they come from in an ntuple
(docs/design.md#input-ntuple-contract).

``config["ntuple"]["branches"]`` maps a logical name to a branch name or an uproot alias
expression; unmapped names are read under their own name. Everything downstream sees logical
names only, so pointing the workflow at other ntuples is a config change.

Expressions are uproot's own alias language: whatever ``tree.arrays(aliases=...)`` accepts
works (numbers such as ``1e3``, uproot's functions such as ``arctan2``/``tan``/``fmax``, dotted
xAOD-style branch names), and names are checked with uproot's own parser, so an unknown name is
reported by name. Every mapped logical name is read under a private alias
(``__egcalib_<name>``): uproot ignores an alias that has a branch's name, so
``el_e: "el_e / 1000"`` must not be read as ``el_e``. The streaming read, which converts each
logical array to its contract type, is ``egcalib.skim.reading``.

RNTuple inputs are read field by field: a mapping to another field name works, an expression
stops the job (uproot 5.7 computes no expressions on RNTuples).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import uproot
from uproot.language.python import PythonLanguage

log = logging.getLogger(__name__)

ALIAS_PREFIX = "__egcalib_"
_LANGUAGE = PythonLanguage()


class InputFileError(RuntimeError):
    """A ROOT file that cannot be read as an ntuple: corrupt, truncated, or missing branches."""


class NtupleContentError(InputFileError, ValueError):
    """A readable ntuple whose content breaks the contract: a branch type that cannot be
    converted, cell windows of the wrong size, collections that do not line up, values that are
    not physical (units, misread leaves). The message names the file, the logical name, the
    branch and what was found."""


@dataclass(frozen=True)
class Source:
    """Where one logical name comes from in one file.

    ``expression`` is the branch name or alias expression read; ``branches`` the stored branches
    (or RNTuple fields) it uses, with their ``types`` (uproot type names, e.g.
    ``std::vector<float>`` or ``float[] el_e[nel]/d[0,200,20]``)."""

    logical: str
    expression: str
    mapped: bool
    branches: tuple[str, ...]
    types: tuple[str, ...]

    @property
    def alias(self) -> str:
        return ALIAS_PREFIX + self.logical

    def __str__(self) -> str:
        stored = ", ".join(f"{b} ({t})" for b, t in zip(self.branches, self.types))
        if self.mapped:
            return f"{self.logical} -> {self.expression!r} [branch {stored}]"
        return f"{self.logical} [branch {stored}]"


def is_rntuple(tree: uproot.TTree | uproot.behaviors.RNTuple.RNTuple) -> bool:
    return isinstance(tree, uproot.behaviors.RNTuple.RNTuple)


def expression(logical: str, mapping: Mapping[str, str]) -> str:
    return mapping.get(logical, logical)


def _keys(tree) -> set[str]:
    """Every name uproot's expressions may use for a branch: its name, and its path."""
    if is_rntuple(tree):
        return set(tree.keys())
    keys = set()
    for name in tree.keys(recursive=True, full_paths=True):
        keys.update({name, "/" + name, name.rsplit("/", 1)[-1]})
    return keys


def branches_of(
    tree: uproot.TTree | uproot.behaviors.RNTuple.RNTuple, path: str, expr: str
) -> list[str]:
    """The stored branches ``expr`` reads, found by uproot's own expression parser.

    Raises KeyError naming the first unknown name, SyntaxError for an invalid expression."""
    keys = _keys(tree)
    if expr in keys:
        return [expr]
    try:
        return list(dict.fromkeys(_LANGUAGE.free_symbols(expr, keys, {}, path, tree.name)))
    except uproot.KeyInFileError as error:
        raise KeyError(error.key) from error


def _typename(tree, branch: str) -> str:
    """uproot's type name of a branch; raises NtupleContentError when uproot cannot interpret
    the branch at all (e.g. a Float16_t leaf without a range in uproot 5.7)."""
    node = tree[branch]
    title = getattr(node, "title", "")
    try:
        typename = node.typename
    except Exception as error:  # uproot's interpretation code raises whatever it hits
        raise NtupleContentError(
            f"branch {branch!r} (leaf {title!r}) cannot be interpreted by uproot "
            f"{uproot.__version__} ({type(error).__name__}: {error}); store it as a plain "
            "float/double, or map the logical name to another branch"
        ) from error
    return f"{typename} {title}" if title and title != branch else typename


def _friend_hint(tree, missing_branches: set[str]) -> str:
    """Where else the missing branches are: friend trees are never followed."""
    file = tree.file
    hints = []
    if "TFriendElement" in file.streamers:
        hints.append(
            "the file holds friend-tree links (TFriendElement): friend trees are not "
            "followed, every branch must be in the tree itself"
        )
    try:
        directory = file.root_directory
        others = [
            key
            for key, cls in directory.classnames().items()
            if cls == "TTree" and key.split(";")[0] != tree.name
        ]
        for key in others:
            found = sorted(missing_branches & set(directory[key].keys()))
            if found:
                hints.append(f"tree {key.split(';')[0]!r} of this file has {found[:5]}")
    except Exception:  # only a hint
        pass
    return ("; " + "; ".join(hints)) if hints else ""


def resolve(
    tree: uproot.TTree | uproot.behaviors.RNTuple.RNTuple,
    path: str,
    logical_names: Sequence[str],
    mapping: Mapping[str, str],
    required: bool = True,
) -> tuple[dict[str, Source], list[str]]:
    """Resolve logical names to their sources in ``tree``.

    Returns (sources, missing descriptions). With ``required`` a missing name raises
    InputFileError naming the file, every missing logical name, its mapping and the unknown
    name uproot's parser reports; an invalid expression raises too. RNTuple inputs raise
    InputFileError for a mapping that is an expression rather than a field name.
    """
    keys = _keys(tree)
    sources, missing, unknown, expressions = {}, [], set(), []
    for name in logical_names:
        expr = expression(name, mapping)
        mapped = name in mapping
        if is_rntuple(tree) and expr not in keys and mapped:
            try:
                branches_of(tree, path, expr)
                expressions.append(f"{name} -> {expr!r}")
                continue
            except (KeyError, SyntaxError):
                pass
        try:
            used = branches_of(tree, path, expr)
        except KeyError as error:
            unknown.add(error.args[0])
            missing.append(
                f"{name} -> {expr!r} (unknown name {error.args[0]!r})"
                if mapped
                else f"{name} (unmapped)"
            )
            continue
        except SyntaxError as error:
            raise InputFileError(
                f"{path}: ntuple.branches maps {name} to {expr!r}, which is "
                f"not a valid expression ({error.msg})"
            ) from error
        try:
            types = tuple(_typename(tree, b) for b in used)
        except NtupleContentError as error:
            raise NtupleContentError(f"{path}: {name}: {error}") from error
        sources[name] = Source(name, expr, mapped, tuple(used), types)
    if expressions:
        raise InputFileError(
            f"{path}: '{tree.name}' is an RNTuple, and expressions are not supported for RNTuple "
            f"inputs (uproot {uproot.__version__} computes none): {', '.join(expressions)}. Map "
            "these logical names to field names, or convert the file to a TTree."
        )
    if missing and required:
        raise InputFileError(
            f"{path}: missing branches for {len(missing)} logical name(s): {', '.join(missing)}. "
            "Map them in config ntuple.branches (logical name -> branch or expression)"
            f"{_friend_hint(tree, unknown) if not is_rntuple(tree) else ''}."
        )
    return sources, missing


def check_branches(
    tree: uproot.TTree | uproot.behaviors.RNTuple.RNTuple,
    path: str,
    logical_names: Sequence[str],
    mapping: Mapping[str, str],
) -> None:
    """Raise InputFileError naming the file, the missing logical names and their mapping."""
    resolve(tree, path, logical_names, mapping)


def present_optional(
    tree: uproot.TTree | uproot.behaviors.RNTuple.RNTuple,
    path: str,
    optional: Sequence[str],
    mapping: Mapping[str, str],
) -> list[str]:
    """The optional logical names ``tree`` carries. An unmapped one the file lacks is skipped;
    a mapped one whose branches are missing raises InputFileError like a required name (the
    mapping says the user expects it, so a typo must not pass as an absent branch)."""
    sources, _ = resolve(
        tree, path, [n for n in optional if n not in mapping], mapping, required=False
    )
    resolve(tree, path, [n for n in optional if n in mapping], mapping)
    present = [name for name in optional if name in sources or name in mapping]
    skipped = [name for name in optional if name not in present]
    if skipped:
        log.info("%s: no optional branches %s", path, skipped)
    return present
