"""The cut-based photon menus (egcalib.photon_id, docs/photon-id.md): tuning to the target on
constructed signal, cut directions, loose containing tight, the menu file, the errors, the
inputs from cell windows, and prompt photons against jet fakes of the toy detector."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from egcalib.core import shower_shapes
from egcalib.photon_id.inputs import MENU_VARIABLES, menu_inputs
from egcalib.photon_id.menus import (
    ABS_ETA_BINS,
    CATEGORIES,
    DIRECTIONS,
    LOOSE_TARGET,
    LOOSE_VARIABLES,
    TIGHT_TARGETS,
    abs_eta_bin,
    apply_menus,
    read_menus,
    tune_menus,
    write_menus,
)

# Signal: every variable Gaussian N(0, 1); background: shifted by SHIFT to the side of failing.
SHIFT = 2.0


def _sample(n: int, seed: int, shift: float = 0.0, shifted=MENU_VARIABLES):
    """A constructed sample: (table, eta, converted). Each variable N(0, 1), those in
    ``shifted`` moved by ``shift`` towards failing their cut; |eta| uniform in 0-2.47, a third
    converted."""
    rng = np.random.default_rng(seed)
    table = {}
    for name in MENU_VARIABLES:
        worse = 1.0 if DIRECTIONS[name] == "<=" else -1.0
        table[name] = rng.normal(size=n) + (worse * shift if name in shifted else 0.0)
    eta = rng.uniform(0, 2.47, n) * rng.choice([-1.0, 1.0], n)
    return table, eta, rng.uniform(size=n) < 1 / 3


@pytest.fixture(scope="module")
def menus():
    return tune_menus(*_sample(60_000, 1), tuned_on="constructed N(0, 1) signal")


def _in_group(eta, converted, b, category):
    return (abs_eta_bin(eta) == b) & (converted == (category == "converted"))


def test_tight_efficiency_per_bin_is_the_target(menus):
    """On the tuning sample each bin's tight efficiency is at or just above its target (the
    quantile's steps); on an independent sample it equals the target within binomial error."""
    table, eta, converted = _sample(60_000, 2)
    loose, tight = apply_menus(menus, table, eta, converted)
    for category in CATEGORIES:
        target = TIGHT_TARGETS[category]
        block = menus["tight"][category]
        assert block["target_efficiency"] == target
        for b, row in enumerate(block["bins"]):
            assert row["abs_eta"] == list(ABS_ETA_BINS[b])
            assert target <= row["efficiency"] < target + 10 / row["n_signal"]
            group = _in_group(eta, converted, b, category)
            error = np.sqrt(target * (1 - target) / group.sum())
            assert abs(tight[group].mean() - target) < 4 * error + 10 / row["n_signal"], (
                b,
                category,
            )
    for b, row in enumerate(menus["loose"]["bins"]):
        in_bin = abs_eta_bin(eta) == b
        error = np.sqrt(LOOSE_TARGET * (1 - LOOSE_TARGET) / in_bin.sum())
        assert abs(loose[in_bin].mean() - LOOSE_TARGET) < 4 * error + 10 / row["n_signal"]
    outside = abs_eta_bin(eta) < 0
    assert outside.sum() > 1000 and not loose[outside].any() and not tight[outside].any()


def test_cut_directions_are_atlas(menus):
    """Background shifted to the failing side of every cut is mostly rejected, more so the
    further it is shifted; moving any one variable of the signal to its failing side alone
    lowers the tight efficiency, and loose only through loose's variables."""
    accepted = []
    for shift in (SHIFT, SHIFT / 2, 0.0):
        _, tight = apply_menus(menus, *_sample(20_000, 3, shift))
        accepted.append(tight[abs_eta_bin(_sample(20_000, 3)[1]) >= 0].mean())
    assert accepted[0] < 0.05 < accepted[1] < accepted[2] - 0.2, accepted
    table, eta, converted = _sample(20_000, 4)
    base_loose, base_tight = apply_menus(menus, table, eta, converted)
    for name in MENU_VARIABLES:
        loose, tight = apply_menus(menus, *_sample(20_000, 4, SHIFT, shifted=(name,)))
        assert tight.mean() < base_tight.mean() - 0.15, name
        if name in LOOSE_VARIABLES:
            assert loose.mean() < base_loose.mean() - 0.15, name
        else:
            np.testing.assert_array_equal(loose, base_loose)


def test_every_tight_photon_passes_loose(menus):
    """Tight's cuts on the loose variables are no looser than loose's in every bin, so tight
    is a subset of loose on any sample."""
    for category in CATEGORIES:
        for tight_row, loose_row in zip(
            menus["tight"][category]["bins"], menus["loose"]["bins"], strict=True
        ):
            for name in LOOSE_VARIABLES:
                tight_cut, loose_cut = tight_row["cuts"][name], loose_row["cuts"][name]
                if DIRECTIONS[name] == "<=":
                    assert tight_cut <= loose_cut
                else:
                    assert tight_cut >= loose_cut
    for shift in (0.0, 1.0, SHIFT):
        loose, tight = apply_menus(menus, *_sample(20_000, 5, shift))
        assert tight.any() and np.all(loose[tight])


def test_the_menu_file_round_trips_exactly(menus, tmp_path):
    """The YAML file gives back the same menus, numbers exactly, and the same decisions; it
    names its source, bins, directions and targets."""
    path = tmp_path / "menus.yaml"
    write_menus(menus, path)
    back = read_menus(path)
    assert back == menus
    write_menus(back, tmp_path / "again.yaml")
    assert (tmp_path / "again.yaml").read_bytes() == path.read_bytes()
    sample = _sample(5000, 6, 1.0)
    for ours, theirs in zip(apply_menus(menus, *sample), apply_menus(back, *sample), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    text = path.read_text()
    for needle in ("arXiv:1810.05087", "abs_eta: [0.0, 0.6]", "pass: <=", "target_efficiency"):
        assert needle in text


def test_errors_name_the_variable_and_the_bin(menus, tmp_path):
    table, eta, converted = _sample(60_000, 7)
    without = {k: v for k, v in table.items() if k != "w_stot"}
    with pytest.raises(ValueError, match="'w_stot'"):
        tune_menus(without, eta, converted)
    with pytest.raises(ValueError, match="'w_stot'"):
        apply_menus(menus, without, eta, converted)
    broken = dict(table, f_side=np.where(np.arange(len(eta)) == 5, np.nan, table["f_side"]))
    eta_in = eta.copy()
    eta_in[5] = 0.1
    with pytest.raises(ValueError, match="'f_side' has 1 non-finite"):
        tune_menus(broken, eta_in, converted)
    with pytest.raises(ValueError, match="'f_side' has 1 non-finite"):
        apply_menus(menus, broken, eta_in, converted)
    eta_out = eta_in.copy()
    eta_out[5] = 1.4  # in the crack: its NaN decides nothing
    assert not apply_menus(menus, broken, eta_out, converted)[1][5]
    sparse = converted & ~(
        (np.abs(eta) >= 0.6) & (np.abs(eta) < 0.8) & (np.arange(len(eta)) % 100 > 0)
    )
    with pytest.raises(ValueError, match=r"\[0.6, 0.8\), converted: \d+ signal photons"):
        tune_menus(table, eta, sparse)
    with pytest.raises(ValueError, match="non-finite"):
        tune_menus(table, np.where(np.arange(len(eta)) == 0, np.nan, eta), converted)
    path = tmp_path / "menus.yaml"
    write_menus(menus, path)
    path.write_text(path.read_text().replace("r_phi:", "r_phi_renamed:", 2))
    with pytest.raises(ValueError, match=r"menus\.yaml: no 'r_phi'"):
        read_menus(path)


def test_menu_inputs_are_the_shower_shapes_from_the_windows():
    """menu_inputs gives core.shower_shapes's values, R_had or R_had1 by |eta| as ATLAS picks
    them, from windows three-dimensional or flat as the skim stores them."""
    rng = np.random.default_rng(8)
    n = 50
    native = {"lr1": (56, 5), "lr2": (7, 11)}
    cells = {layer: rng.exponential(size=(n, *shape)) for layer, shape in native.items()}
    e_layers = rng.uniform(1, 20, (n, 4))
    e_had1, e_had = rng.uniform(0, 1, n), rng.uniform(1, 2, n)
    eta = np.linspace(-2.4, 2.4, n)
    table = menu_inputs(cells, e_layers, e_had1, e_had, eta)
    assert tuple(table) == MENU_VARIABLES
    expected = shower_shapes.shower_shapes(cells, e_layers, e_had1=e_had1, e_had=e_had)
    for name in MENU_VARIABLES[1:]:
        np.testing.assert_array_equal(table[name], expected[name])
    middle = (np.abs(eta) >= 0.8) & (np.abs(eta) < 1.37)
    total = e_layers.sum(axis=1)
    np.testing.assert_allclose(table["r_had"], np.where(middle, e_had, e_had1) / total)
    flat = {layer: c.reshape(n, -1) for layer, c in cells.items()}
    for name, column in menu_inputs(flat, e_layers, e_had1, e_had, eta, native).items():
        np.testing.assert_array_equal(column, table[name])
    with pytest.raises(ValueError, match="lr1: expected"):
        menu_inputs(flat, e_layers, e_had1, e_had, eta)


def _photon_candidates(process, n_events, seed, sim, calibration, native):
    """The photon candidates of a simulated chunk: their menu inputs, eta, converted, E_T and
    whether each is a truth-matched prompt photon; objects with an undefined variable dropped."""
    import awkward as ak

    from egcalib.simulation.events import simulate_chunk

    branches = simulate_chunk(
        process, "mc", n_events, 1, 1, sim, calibration, np.random.default_rng(seed)
    )

    def flat(name):
        return ak.to_numpy(ak.flatten(branches[f"ph_{name}"], axis=None))

    cells = {layer: flat(f"cells_{layer}").reshape(-1, np.prod(native[layer])) for layer in native}
    eta = flat("cl_eta")
    table = menu_inputs(
        cells,
        np.stack([flat(f"cl_E{i}") for i in range(4)], axis=1),
        flat("Ehad1"),
        flat("Ehad"),
        eta,
        native,
    )
    keep = np.all([np.isfinite(v) for v in table.values()], axis=0)
    prompt = (flat("truth_pdgId") == 22) & flat("truth_matched")
    table = {k: v[keep] for k, v in table.items()}
    return table, eta[keep], (flat("convType") > 0)[keep], flat("pt")[keep], prompt[keep]


def test_tight_menu_on_prompt_photons_rejects_most_jet_fakes(sim, calibration, default_config):
    """Tuned on photon-gun photons, the tight menu keeps its target share of other prompt
    photons and far fewer jet fakes (pi0 and eta photon pairs with the jet around them)."""
    native = {k: tuple(v) for k, v in default_config["images"]["native_shapes"].items()}
    native = {layer: native[layer] for layer in ("lr1", "lr2")}
    table, eta, converted, _, prompt = _photon_candidates(
        "pgun", 8000, 11, sim, calibration, native
    )
    menus = tune_menus(
        {k: v[prompt] for k, v in table.items()},
        eta[prompt],
        converted[prompt],
        min_signal=50,
        tuned_on="photon gun, test",
    )
    signal = _photon_candidates("pgun", 4000, 12, sim, calibration, native)
    fakes = _photon_candidates("jets", 4000, 13, copy.deepcopy(sim), calibration, native)
    assert not fakes[4].any()
    efficiency = {}
    for name, (t, e, c, _, p) in {"signal": signal, "fakes": fakes}.items():
        use = (abs_eta_bin(e) >= 0) & (p if name == "signal" else True)
        loose, tight = apply_menus(menus, {k: v[use] for k, v in t.items()}, e[use], c[use])
        efficiency[name] = (loose.mean(), tight.mean(), int(use.sum()))
    print("loose, tight, n:", efficiency)
    sig_loose, sig_tight, _ = efficiency["signal"]
    fake_loose, fake_tight, n_fakes = efficiency["fakes"]
    assert n_fakes > 1000
    assert sig_tight > 0.85 and sig_loose > 0.95
    assert fake_tight < 0.4 * sig_tight and fake_loose < 0.5 * sig_loose
    assert fake_tight < fake_loose
