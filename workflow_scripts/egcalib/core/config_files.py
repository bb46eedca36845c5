"""Config files merged as Snakemake merges ``--configfile`` arguments, for the entry points that
run without Snakemake (``python -m egcalib.apply``, benchmarks/gpu_check.py on a GPU machine's
image)."""

from __future__ import annotations


def merge_config(config: dict, overrides: dict) -> dict:
    """``overrides`` merged into ``config`` (changed in place and returned): mappings key by key,
    anything else replaced, as snakemake.utils.update_config merges a later config file."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            merge_config(config[key], value)
        else:
            config[key] = value
    return config
