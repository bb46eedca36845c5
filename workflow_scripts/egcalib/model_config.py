"""Model entries of the config, resolved without importing TensorFlow (Snakemake uses this while
it builds the DAG)."""
from __future__ import annotations

from egcalib.contract import PROCESS_PARTICLE


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


def model_particle(model: dict, datasets: dict) -> str:
    """"electron" or "photon": the one particle of the datasets the model trains on."""
    unknown = [d for d in model["train_on"] if d not in datasets]
    if unknown:
        raise ValueError(f"model {model['name']}: train_on names unknown datasets {unknown}")
    particles = {PROCESS_PARTICLE[datasets[d]["process"]] for d in model["train_on"]}
    if len(particles) != 1:
        raise ValueError(f"model {model['name']}: train_on mixes electron and photon datasets "
                         f"{model['train_on']}; train one model per particle")
    return particles.pop()


def evaluation_datasets(model: dict, datasets: dict) -> list[str]:
    """Every dataset of the model's particle (electrons: Z -> ee and the gun; photons:
    Z -> mumugamma), in config order."""
    particle = model_particle(model, datasets)
    return [d for d, spec in datasets.items() if PROCESS_PARTICLE[spec["process"]] == particle]
