"""Model entries of the config, resolved without importing TensorFlow (Snakemake uses this while
it builds the DAG)."""
from __future__ import annotations


def resolve_model(name: str, entry: dict, defaults: dict) -> dict:
    """A model entry merged over ``model_defaults`` (architecture merged one level deep)."""
    model = {**defaults, **entry, "name": name}
    model["architecture"] = {**defaults["architecture"], **entry.get("architecture", {})}
    model["loss"] = {**defaults["loss"], **entry.get("loss", {})}
    for place in ("film", "top"):
        unknown = set(model[place]) - {"scalars", "tracks"}
        if unknown:
            raise ValueError(f"model {name}: unknown {place} inputs {sorted(unknown)}")
    return model
