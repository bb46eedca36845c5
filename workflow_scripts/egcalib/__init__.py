"""egcalib: the importable library behind the egcalib Snakemake workflow.

One package per stage, in the order the workflow runs them: ``core`` (shared infrastructure),
``stats``, ``simulation``, ``skim``, ``shards``, ``train``, ``infer``, ``bdt``, ``evaluate``,
``card``. A package imports only from itself and earlier ones; one module per concept. Nothing
here imports snakemake, so every piece is testable with pytest alone.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    # The package's version (pyproject.toml), which the results cards and ONNX models report.
    __version__ = version("egcalib")
except PackageNotFoundError:  # the library used from a checkout that was never installed
    __version__ = "unknown"
