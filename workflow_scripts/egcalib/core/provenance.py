"""Code versions (a hash of the library modules a workflow script runs) and the numerical
kernels pinned so that outputs do not depend on the CPU.

Snakemake's code trigger sees only a rule's ``script:`` file, not the library it imports, where
the physics and ML live. Each rule carries the code version of its script as a param instead: a
hash of every ``egcalib`` module the script reaches through imports, found statically (imports
inside functions included; those under ``if TYPE_CHECKING:``, for annotations only, not: they
never run). Changing a module reruns exactly the rules whose scripts reach it, and a hand-kept
list of modules per stage cannot drift from what the code really imports.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "egcalib"

# numpy and OpenBLAS pick kernels by the CPU's instruction set at run time: on an AVX-512 CPU
# numpy's float64 exp, log, sin, power, ... are Intel's SVML (a few ULP from libm) and OpenBLAS
# takes its SkylakeX kernels, so the toy simulation, and everything after it, differed in the
# last bits between x86-64 CPUs with and without AVX-512. Every job runs with the AVX2 (x86-64-v3)
# kernels, which every x86-64 CPU of the last decade has; a user may set these variables
# (even empty) to override. TensorFlow's oneDNN kernels are not pinned: the CNNs' outputs are
# the same on one machine type only (docs/reproducibility.md).
SAME_KERNELS_ON_EVERY_CPU = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Haswell",
}


def _module_file(name: str, library: Path) -> Path | None:
    """The file of module ``name`` (dotted) under ``library``, or None if it is not a module."""
    base = library.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    """Whether an ``if`` tests ``TYPE_CHECKING`` (or ``typing.TYPE_CHECKING``)."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` but the bodies of ``if TYPE_CHECKING:`` blocks: their imports are
    for annotations only and never run, so the modules they name are not part of the code."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))


def _imported_modules(source: Path) -> set[str]:
    """Dotted names of the package's modules that ``source`` imports, with their parent
    packages (importing ``a.b`` runs ``a/__init__.py`` too); imports under ``if
    TYPE_CHECKING:`` are left out (they never run)."""
    names: set[str] = set()
    for node in _run_nodes(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            # `from package import module` imports a module; `from module import name` does not,
            # and names that are no module are dropped below.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    modules: set[str] = set()
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


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it (/proc/cpuinfo; ``platform.processor()``
    elsewhere), e.g. "AMD EPYC": the CNNs' outputs depend on it (SAME_KERNELS_ON_EVERY_CPU)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
