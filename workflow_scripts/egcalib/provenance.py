"""Code versions: a hash of the library modules a workflow script runs.

Snakemake's code trigger sees only a rule's ``script:`` file, not the library it imports, where
the physics and ML live. Each rule carries the code version of its script as a param instead: a
hash of every ``egcalib`` module the script reaches through imports, found statically (imports
inside functions included). Changing a module reruns exactly the rules whose scripts reach it,
and a hand-kept list of modules per stage cannot drift from what the code really imports.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = "egcalib"


def _module_file(name: str, library: Path) -> Path | None:
    """The file of module ``name`` (dotted) under ``library``, or None if it is not a module."""
    base = library.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(source: Path) -> set[str]:
    """Dotted names of the package's modules that ``source`` imports, with their parent
    packages (importing ``a.b`` runs ``a/__init__.py`` too)."""
    names = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            # `from package import module` imports a module; `from module import name` does not,
            # and names that are no module are dropped below.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    modules = set()
    for name in names:
        parts = name.split(".")
        if parts[0] == PACKAGE:
            modules.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return modules


def library_files(script: Path, library: Path) -> list[Path]:
    """Every file of the package that ``script`` reaches through imports, sorted."""
    seen: dict[str, Path] = {}
    pending = _imported_modules(script)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        path = _module_file(name, library)
        if path is None:
            continue
        seen[name] = path
        pending |= _imported_modules(path) - seen.keys()
    return sorted(set(seen.values()))


def code_version(script: Path, library: Path) -> str:
    """A short hash of the library files ``script`` runs (their paths and contents)."""
    library = Path(library)
    digest = hashlib.sha256()
    for path in library_files(Path(script), library):
        digest.update(str(path.relative_to(library)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
