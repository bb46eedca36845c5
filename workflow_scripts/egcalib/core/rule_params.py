"""Rule params in canonical form, and the execution knobs that are not params.

Snakemake reruns a job when the repr of one of its params changes. A dict's repr follows its key
order, so reordering keys in a config file (same meaning) reran everything: params are given in
canonical form (keys sorted, recursively). Execution knobs change how a job runs (memory,
speed), never what it writes; they are no rule's params, so changing them reruns nothing, and
scripts read them from the workflow config (with_execution_knobs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Per config section: the keys that are execution knobs.
EXECUTION_KNOBS = {
    "skim": ("step_size",),
    "training": ("multi_gpu", "jit_compile_cpu", "parallel_reads"),
}
# Each process's blocks of `selection:` (beside the object-independent keys COMMON_SELECTION):
# a Z -> mumugamma photon cut must not rerun the Z -> ee skims, nor an electron cut the
# Z -> mumugamma ones.
COMMON_SELECTION = ("truth_match_k", "n_tracks")
PROCESS_SELECTION = {
    "zee": ("electron", "zee", "data_label"),
    "zmumug": ("zmumug",),
    "egun": ("electron",),
    "pgun": ("pgun",),
    "jets": ("jets",),
}


def canonical(value: Any) -> Any:
    """``value`` with every dict's keys sorted (recursively): equal meaning, equal repr."""
    if isinstance(value, Mapping):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    return value


def output_settings(config: Mapping, section: str) -> dict:
    """``config[section]`` without its execution knobs, canonical: what it contributes to
    outputs."""
    knobs = EXECUTION_KNOBS.get(section, ())
    return canonical({k: v for k, v in config[section].items() if k not in knobs})


def with_execution_knobs(settings: Mapping, config: Mapping, section: str) -> dict:
    """A rule's ``settings`` (output_settings) completed by the section's execution knobs from
    the workflow ``config`` (in a script: ``snakemake.config``)."""
    knobs = EXECUTION_KNOBS.get(section, ())
    return {**settings, **{k: config[section][k] for k in knobs}}


def selection_of(selection: Mapping, process: str) -> dict:
    """The blocks of ``selection`` that a skim of ``process`` applies, canonical. Raises
    KeyError for an unknown process."""
    return canonical({k: selection[k] for k in COMMON_SELECTION + PROCESS_SELECTION[process]})
