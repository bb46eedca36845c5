"""Every public function of the library is annotated (issue 27): its parameters and its return.

Public: a name without a leading underscore, at module level or in a class (methods included, at
any depth of classes); functions nested in functions are the enclosing function's business and
are not walked. `self` and `cls` need no annotation. mypy (the gates) then checks their bodies.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "workflow_scripts" / "egcalib"

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _public_functions(body: list[ast.stmt], prefix: str) -> Iterator[tuple[str, FunctionNode]]:
    """The public functions in a module's or class's body, with their dotted names; into classes,
    not into functions."""
    for node in body:
        if isinstance(node, FunctionNode) and not node.name.startswith("_"):
            yield f"{prefix}{node.name}", node
        elif isinstance(node, ast.ClassDef):
            yield from _public_functions(node.body, f"{prefix}{node.name}.")
        elif isinstance(node, ast.If | ast.Try):
            # Definitions under `if TYPE_CHECKING:` or a try/except import fallback.
            branches = [node.body, node.orelse]
            if isinstance(node, ast.Try):
                branches += [handler.body for handler in node.handlers] + [node.finalbody]
            for branch in branches:
                yield from _public_functions(branch, prefix)


def _missing(function: FunctionNode, in_class: bool) -> list[str]:
    """What `function` leaves unannotated: its parameters by name, and 'return'."""
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    is_static = any(
        isinstance(decorator, ast.Name) and decorator.id == "staticmethod"
        for decorator in function.decorator_list
    )
    if in_class and not is_static and positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    parameters = [*positional, *args.kwonlyargs]
    parameters += [arg for arg in (args.vararg, args.kwarg) if arg is not None]
    missing = [arg.arg for arg in parameters if arg.annotation is None]
    if function.returns is None:
        missing.append("return")
    return missing


def _unannotated() -> list[str]:
    offenders = []
    for path in sorted(LIBRARY.rglob("*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(LIBRARY.parent).as_posix()
        for name, function in _public_functions(module.body, ""):
            missing = _missing(function, in_class="." in name)
            if missing:
                offenders.append(f"{where}:{function.lineno} {name}: {', '.join(missing)}")
    return offenders


def test_library_is_walked():
    """The walk finds the library and its public functions (a wrong path would pass vacuously)."""
    modules = list(LIBRARY.rglob("*.py"))
    assert len(modules) > 50
    names = {
        name
        for path in modules
        for name, _ in _public_functions(ast.parse(path.read_text(encoding="utf-8")).body, "")
    }
    assert len(names) > 100


def test_public_functions_annotated():
    offenders = _unannotated()
    assert not offenders, (
        f"{len(offenders)} public functions of workflow_scripts/egcalib lack annotations "
        "(file:line name: what is missing):\n" + "\n".join(offenders)
    )


def test_missing_annotations_are_found():
    """The check itself: parameters, *args, **kwargs, keyword-only ones and the return are each
    seen; self and cls are not asked for; private and nested functions are not walked."""
    source = """
def f(a, b: int, *args, c, **kwargs): pass
def g(a: int) -> int:
    def nested(x): pass
    return a
def _private(a): pass
class C:
    def m(self, a: int): pass
    @classmethod
    def k(cls) -> None: pass
    @staticmethod
    def s(self) -> None: pass
    def _p(self, a): pass
    class Inner:
        def n(self) -> int: return 1
"""
    found = {
        name: _missing(function, in_class="." in name)
        for name, function in _public_functions(ast.parse(source).body, "")
    }
    assert found == {
        "f": ["a", "c", "args", "kwargs", "return"],
        "g": [],
        "C.m": ["return"],
        "C.k": [],
        "C.s": ["self"],
        "C.Inner.n": [],
    }


def test_type_only_imports_are_no_code(tmp_path):
    """Annotations bring imports under ``if TYPE_CHECKING:`` (a Keras model's type in the BDT's
    prediction code, say); they never run, so they do not join a script's code version
    (egcalib.core.provenance): the BDT does not rerun when the networks' code changes."""
    from egcalib.core.provenance import library_files

    files = {
        "egcalib/__init__.py": "",
        "egcalib/runs.py": "",
        "egcalib/typed.py": "",
        "egcalib/typed_too.py": "",
        "egcalib/fallback.py": "",
        "stage.py": (
            "import typing\nfrom typing import TYPE_CHECKING\n\nimport egcalib.runs\n\n"
            "if TYPE_CHECKING:\n    from egcalib.typed import Thing\n"
            "if typing.TYPE_CHECKING:\n    import egcalib.typed_too\n"
            "else:\n    import egcalib.fallback\n"
        ),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = {
        p.relative_to(tmp_path).as_posix() for p in library_files(tmp_path / "stage.py", tmp_path)
    }
    assert found == {"egcalib/__init__.py", "egcalib/runs.py", "egcalib/fallback.py"}
