"""Model entries of the config, resolved without importing TensorFlow (Snakemake uses this while
it builds the DAG)."""

from __future__ import annotations

from egcalib.core.contract import PROCESS_PARTICLE

# Names that label the baselines beside the models in the Z-fit and ablation tables.
RESERVED_NAMES = ("baseline", "baseline_binned")
# What each kind of entry may set; the rest of model_defaults belongs to the other kind.
KIND_KEYS = {
    "cnn": ("film", "top", "train_on", "loss", "architecture", "init_from"),
    "transformer": ("film", "top", "train_on", "loss", "architecture", "transformer", "init_from"),
    "bdt": ("train_on", "bdt"),
}
# Processes no energy calibration trains on or is evaluated on: the photon candidates of jets are
# fakes, photon identification's background, with no true photon energy to regress.
NOT_FOR_REGRESSION = ("jets",)
# The kinds trained as Keras networks (rules normalise, train, infer, export_onnx); the rest of
# the architecture defaults is shared, but the convolutions are the CNN's alone.
NETWORK_KINDS = ("cnn", "transformer")


def model_kind(entry: dict, defaults: dict) -> str:
    """ "cnn" (the network of docs/design.md#models), "transformer" (the cells as a set of
    tokens) or "bdt" (the gradient-boosted-trees control on the 16 scalars); entries that do not
    say are of model_defaults' kind."""
    return entry.get("kind", defaults.get("kind", "cnn"))


def resolve_model(name: str, entry: dict, defaults: dict) -> dict:
    """The model's spec: its entry merged over ``model_defaults`` (architecture, loss and bdt
    merged one level deep), holding only the keys of its kind: a CNN's spec (a param of its
    rules) does not change with the BDT defaults, nor a BDT's with the CNN architecture.

    Raises ValueError naming the model for a reserved name, keys of the other kind, or unknown
    film/top inputs.
    """
    if name in RESERVED_NAMES:
        raise ValueError(f"model {name}: the name labels a baseline; choose another")
    kind = model_kind(entry, defaults)
    foreign = set(entry) - set(KIND_KEYS[kind]) - {"kind"}
    if foreign:
        raise ValueError(f"model {name}: a {kind} model takes no {sorted(foreign)}")
    spec = {key: defaults[key] for key in KIND_KEYS[kind] if key in defaults}
    spec.update(entry)
    spec.update(name=name, kind=kind)
    if kind == "bdt":
        spec["bdt"] = {**defaults.get("bdt", {}), **entry.get("bdt", {})}
        return spec
    spec["architecture"] = {**defaults["architecture"], **entry.get("architecture", {})}
    spec["loss"] = {**defaults["loss"], **entry.get("loss", {})}
    if kind == "transformer":
        if "cnn" in entry.get("architecture", {}):
            raise ValueError(f"model {name}: a transformer model takes no architecture.cnn")
        # Not in its spec: a transformer does not retrain when the CNN's widths change.
        spec["architecture"].pop("cnn", None)
        spec["transformer"] = {**defaults.get("transformer", {}), **entry.get("transformer", {})}
        settings = spec["transformer"]
        if settings.get("d_model", 0) % settings.get("heads", 1):
            raise ValueError(
                f"model {name}: transformer d_model {settings['d_model']} is not a multiple of "
                f"heads {settings['heads']}"
            )
    for place in ("film", "top"):
        if place not in spec:
            raise ValueError(f"model {name}: a {kind} model needs `{place}` (a list of inputs)")
        unknown = set(spec[place]) - {"scalars", "tracks"}
        if unknown:
            raise ValueError(f"model {name}: unknown {place} inputs {sorted(unknown)}")
    return spec


def check_init_from(name: str, models: dict, defaults: dict) -> None:
    """A network's ``init_from`` (the model whose trained weights it starts from) must name
    another network of ``models`` of its kind with the same film and top inputs and architecture
    (and transformer settings; weights of the same shapes can mean other inputs: the top-only
    scalars in place of the tracks), without a cycle. Raises ValueError naming the model."""
    chain = [name]
    mine = resolve_model(name, models[name], defaults)
    while (source := mine.get("init_from")) is not None:
        kind = mine["kind"]
        if source not in models or model_kind(models[source], defaults) != kind:
            raise ValueError(f"model {chain[-1]}: init_from names no {kind} model: {source!r}")
        if source in chain:
            raise ValueError(
                f"model {name}: init_from forms a cycle {' -> '.join(chain + [source])}"
            )
        theirs = resolve_model(source, models[source], defaults)
        for key in ("film", "top", "architecture", "transformer"):
            if mine.get(key) != theirs.get(key):
                raise ValueError(
                    f"model {chain[-1]}: init_from {source} has another {key} "
                    f"({theirs[key]} against {mine[key]}): its weights would mean other inputs"
                )
        chain.append(source)
        mine = theirs


def models_of_kind(models: dict, defaults: dict, *kinds: str) -> list[str]:
    """Names of the ``models`` entries of the ``kinds``, in config order."""
    return [name for name, entry in models.items() if model_kind(entry, defaults) in kinds]


def model_particle(spec: dict, datasets: dict) -> str:
    """ "electron" or "photon": the one particle of the datasets the model trains on.

    Raises ValueError naming the model for unknown datasets, a dataset of a process no model
    trains on (NOT_FOR_REGRESSION: jets) or a mix of electron and photon datasets."""
    unknown = [d for d in spec["train_on"] if d not in datasets]
    if unknown:
        raise ValueError(f"model {spec['name']}: train_on names unknown datasets {unknown}")
    for d in spec["train_on"]:
        if datasets[d]["process"] in NOT_FOR_REGRESSION:
            raise ValueError(
                f"model {spec['name']}: cannot train on dataset {d} of process "
                f"{datasets[d]['process']}: its photon candidates are fakes of jets (photon "
                "identification's background) without a true photon energy"
            )
    particles = {PROCESS_PARTICLE[datasets[d]["process"]] for d in spec["train_on"]}
    if len(particles) != 1:
        raise ValueError(
            f"model {spec['name']}: train_on mixes electron and photon datasets "
            f"{spec['train_on']}; train one model per particle"
        )
    return particles.pop()


def evaluation_datasets(spec: dict, datasets: dict) -> list[str]:
    """Every dataset of the model's particle (electrons: Z -> ee and the gun; photons:
    Z -> mumugamma and the gun; not jets, NOT_FOR_REGRESSION), in config order. Raises
    ValueError as model_particle."""
    particle = model_particle(spec, datasets)
    return [
        d
        for d, spec in datasets.items()
        if PROCESS_PARTICLE[spec["process"]] == particle
        and spec["process"] not in NOT_FOR_REGRESSION
    ]


def trained_on(spec: dict, datasets: dict) -> str:
    """What the model's targets come from: "mc" (the truth), "data" (the Z-mass labels) or
    "mc+data", from the kinds of its ``train_on`` datasets (the seed's MC / data / combined
    training experiment)."""
    kinds = {datasets[d]["kind"] for d in spec["train_on"]}
    return "+".join(kind for kind in ("mc", "data") if kind in kinds)
