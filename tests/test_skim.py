"""Skim: selections at their boundaries, labels, tracks, scalars, cutflows, mapping, bad input."""

from __future__ import annotations

import copy
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
from ntuple_builder import NATIVE_SHAPES, TRACK, electron, photon, skim_with, write_events

from egcalib.skim.branch_mapping import InputFileError
from egcalib.skim.cutflows import merge_cutflows
from egcalib.skim.selection import z_mass_label
from egcalib.skim.skimming import arrow_schema


@pytest.fixture
def config(default_config):
    return copy.deepcopy(default_config)


def skim(config, path, tmp_path, process="zee", kind="mc", name="out"):
    out = tmp_path / f"{name}.parquet"
    flow = skim_with(
        config, path, out, dataset="test", kind=kind, process=process, native_shapes=NATIVE_SHAPES
    )
    return pq.read_table(out), flow.steps


def assert_tables_equal(a, b, ignore=("file",)):
    """Column by column, NaNs in the same places count as equal."""
    assert a.schema == b.schema and a.num_rows == b.num_rows
    for name in a.column_names:
        if name in ignore:
            continue
        left, right = a[name].combine_chunks(), b[name].combine_chunks()
        if hasattr(left, "flatten") and not hasattr(left, "dictionary"):
            left, right = left.flatten(), right.flatten()
        np.testing.assert_array_equal(
            left.to_numpy(zero_copy_only=False), right.to_numpy(zero_copy_only=False), err_msg=name
        )


def pair(first=None, second=None, **event):
    first = electron(**(first or {}))
    second = electron(**{"eta": -0.7, "phi": 2.9, "charge": -1, **(second or {})})
    return {"el": [first, second], **event}


def et_electron(et, **values):
    return {"e": et * np.cosh(0.5), "eta": 0.5, **values}


@pytest.mark.parametrize(
    "first, passes",
    [
        (et_electron(9.49), False),
        (et_electron(9.51), True),
        ({"eta": 2.47, "e": 200.0}, False),
        ({"eta": 2.469, "e": 200.0}, True),
        ({"isLoose": False}, False),
        ({"charge": -1}, False),  # same charge as the partner
    ],
)
def test_zee_object_and_pair_cuts(config, tmp_path, first, passes):
    path = write_events(tmp_path / "a.root", [pair(first)])
    table, _ = skim(config, path, tmp_path)
    assert table.num_rows == (2 if passes else 0)


def test_zee_events_with_more_candidates_are_dropped(config, tmp_path):
    three = pair()
    three["el"].append(electron(eta=1.0, phi=-2.0, charge=1))
    events = [three, pair(trigPassed_e=False), pair()]
    table, steps = skim(config, write_events(tmp_path / "a.root", events), tmp_path)
    assert table.num_rows == 2 and set(table["eventNumber"].to_pylist()) == {3}
    cuts = {step["cut"]: step for step in steps}
    assert cuts["trigger trigPassed_e"]["events"] == 2
    assert cuts["exactly two electrons"]["events"] == 1


@pytest.mark.parametrize(
    "ratio, passes", [(1.59, True), (1.61, False), (0.41, True), (0.39, False)]
)
def test_truth_matching_boundary(config, tmp_path, ratio, passes):
    first = {"e": 40.0, "truth_e": 40.0 / ratio}
    table, steps = skim(config, write_events(tmp_path / "a.root", [pair(first)]), tmp_path)
    assert table.num_rows == (2 if passes else 1)
    assert steps[-1]["cut"].startswith("truth matched") and steps[-1]["objects"] == table.num_rows


def test_nan_and_negative_energies_are_dropped_and_counted(config, tmp_path):
    events = [pair({"e": float("nan")}), pair({"e": -5.0}), pair()]
    table, steps = skim(config, write_events(tmp_path / "a.root", events), tmp_path)
    cuts = {step["cut"]: step for step in steps}
    assert cuts["electron: valid energy"]["objects"] == 4
    assert table.num_rows == 2


def mumug_event(m_mumu_target=None, photon_values=None, **event):
    """Two back-to-back-ish muons whose mass we can set through their opening angle."""
    muons = [
        {"pt": 50.0, "eta": 0.0, "phi": 0.0, "charge": 1},
        {"pt": 50.0, "eta": 0.0, "phi": 2.0, "charge": -1},
    ]
    if m_mumu_target is not None:  # m^2 = 2 pt1 pt2 (1 - cos dphi) at eta = 0 (massless)
        muons[1]["phi"] = float(np.arccos(1 - m_mumu_target**2 / (2 * 50.0 * 50.0)))
    ph = photon(**{"eta": 1.0, "phi": -1.5, "e": 30.0, **(photon_values or {})})
    return {"mu": muons, "ph": [ph], **event}


@pytest.mark.parametrize(
    "m_mumu, passes", [(19.9, False), (20.1, True), (81.9, True), (82.1, False)]
)
def test_mumu_mass_window(config, tmp_path, m_mumu, passes):
    path = write_events(tmp_path / "a.root", [mumug_event(m_mumu)])
    table, _ = skim(config, path, tmp_path, process="zmumug")
    assert table.num_rows == (1 if passes else 0)
    if passes:
        np.testing.assert_allclose(table["mumu_m"].to_numpy()[0], m_mumu, rtol=1e-3)


def test_mumug_photon_cuts_and_one_candidate(config, tmp_path):
    close = mumug_event(60.0, {"eta": 0.0, "phi": 0.15})  # dR to the first muon 0.15
    far = mumug_event(60.0, {"eta": 0.0, "phi": 0.25})
    two_photons = mumug_event(60.0)
    two_photons["ph"].append(photon(eta=-1.0, phi=1.0, e=25.0))
    same_sign = mumug_event(60.0)
    same_sign["mu"][1]["charge"] = 1
    tight_fail = mumug_event(60.0, {"isTight": False})
    events = [close, far, two_photons, same_sign, tight_fail]
    table, _ = skim(config, write_events(tmp_path / "a.root", events), tmp_path, "zmumug")
    assert table["eventNumber"].to_pylist() == [2, 5]
    config["selection"]["zmumug"]["photon_id"] = "isTight"
    table, _ = skim(config, write_events(tmp_path / "b.root", events), tmp_path, "zmumug", name="b")
    assert table["eventNumber"].to_pylist() == [2]


def gun_photon(eta=0.5, et=30.0, **values):
    """An event of the photon gun: one (converted) photon."""
    return {"ph": [photon(eta=eta, e=et * np.cosh(eta), convType=1, **values)]}


@pytest.mark.parametrize(
    "values, passes",
    [
        ({"et": 9.49}, False),
        ({"et": 9.51}, True),
        ({"eta": 1.369}, True),
        ({"eta": -1.371}, False),  # the crack, 1.37 < |eta| < 1.52, as ATLAS photons have it
        ({"eta": 1.519}, False),
        ({"eta": -1.521}, True),
        ({"eta": 2.369}, True),
        ({"eta": 2.371}, False),  # |eta| < 2.37, not the electrons' 2.47
        ({"isLoose": False}, False),
        ({"truth_e": 30.0 * np.cosh(0.5) / 1.61}, False),  # truth matched, k = 0.6
    ],
)
def test_photon_gun_cuts(config, tmp_path, values, passes):
    table, steps = skim(
        config, write_events(tmp_path / "a.root", [gun_photon(**values)]), tmp_path, "pgun"
    )
    assert table.num_rows == int(passes)
    assert [step["cut"] for step in steps[3:]] == [
        "photon: valid energy",
        "photon: ET > 9.5 GeV",
        "photon: abs(eta) < 2.37",
        "photon: abs(eta) outside [1.37, 1.52]",
        "photon: isLoose",
        "truth matched (k = 0.6)",
    ]
    if passes:
        assert table["particle"].to_pylist() == [1] and table["conv_type"].to_pylist() == [1]
        assert np.isnan(table["m_candidate"].to_numpy()).all()


def test_photon_gun_reads_photons_without_trigger_or_muons(config, tmp_path):
    """The gun's skim needs no trigger and no muon branch; its own cuts only (selection.pgun),
    so a Z -> mumugamma photon cut leaves it alone."""
    from egcalib.skim.skimming import needed_branches

    names = needed_branches("pgun", True, [])
    assert "ph_e" in names and "ph_truth_e" in names and "ph_convType" in names
    assert not any(n.startswith(("mu_", "el_", "trigPassed")) for n in names)
    config["selection"]["zmumug"]["photon_eta_max"] = 0.1
    table, _ = skim(config, write_events(tmp_path / "a.root", [gun_photon()]), tmp_path, "pgun")
    assert table.num_rows == 1


def test_simulated_photon_gun_skims_to_truth_matched_photons_outside_the_crack(
    config, ntuple_dir, tmp_path
):
    table, steps = skim(config, ntuple_dir / "mc_pgun.root", tmp_path, "pgun")
    abs_eta = np.abs(table["eta"].to_numpy())
    assert table.num_rows > 300  # of 600 events: ET > 9.5 GeV (~79 %), outside the crack, ...
    assert np.all(abs_eta < 2.37) and not np.any((abs_eta >= 1.37) & (abs_eta <= 1.52))
    ratio = table["e_baseline"].to_numpy() / table["e_truth"].to_numpy()
    assert np.all(np.abs(ratio - 1) < 0.6) and set(table["particle"].to_pylist()) == {1}
    assert set(table["mcChannelNumber"].to_pylist()) == {423001}
    cuts = {step["cut"]: step["objects"] for step in steps}
    assert cuts["photon: abs(eta) outside [1.37, 1.52]"] < cuts["photon: abs(eta) < 2.37"]


def test_data_label_matches_explicit_computation(config, tmp_path):
    # Two electrons at m_ee ~ 91: E1 = E2 = 45.6 back to back in phi at eta = 0.
    first = {"e": 45.0, "eta": 0.3, "phi": 0.0}
    second = {"e": 46.0, "eta": -0.2, "phi": 3.0, "charge": -1}
    out_of_window = pair({"e": 20.0}, {"e": 20.0})
    path = write_events(tmp_path / "a.root", [pair(first, second), out_of_window], is_mc=False)
    table, _ = skim(config, path, tmp_path, kind="data")
    labels = table["e_label"].to_numpy()

    def et(e, eta):
        return e / np.cosh(eta)

    expected_first = 91.19**2 * np.cosh(0.3) / (2 * et(46.0, -0.2) * (np.cosh(0.5) - np.cos(-3.0)))
    np.testing.assert_allclose(labels[0], expected_first, rtol=1e-5)
    np.testing.assert_allclose(
        labels[1], z_mass_label(-0.2, et(45.0, 0.3), 0.3, 3.0, 91.19), rtol=1e-5
    )
    assert np.all(np.isnan(labels[2:])), "outside the 86-97 GeV window there is no label"
    assert np.all(np.isnan(table["e_truth"].to_numpy()))


def test_data_labels_centre_on_truth_for_mc_through_the_data_path(config, ntuple_dir, tmp_path):
    path = ntuple_dir / "mc_zee.root"
    table, _ = skim(config, path, tmp_path, kind="data")
    truth = uproot.open(path)["egamma"].arrays(["el_gen_e", "eventNumber"])

    rows = {
        (int(ev), i): float(e)
        for ev, es in zip(truth.eventNumber, truth.el_gen_e)
        for i, e in enumerate(es)
    }
    labelled = np.isfinite(table["e_label"].to_numpy())
    keys = zip(
        table["eventNumber"].to_numpy()[labelled], table["object_index"].to_numpy()[labelled]
    )
    ratio = table["e_label"].to_numpy()[labelled] / np.array(
        [rows[(int(e), int(i))] for e, i in keys]
    )
    assert labelled.sum() > 200
    assert abs(np.median(ratio) - 1) < 0.02


def test_nearest_tracks_order_padding_and_mask(config, tmp_path):
    event = pair()
    obj = event["el"][0]
    offsets = [0.3, 0.05, 0.2]  # dR in eta from the first electron
    event["trk"] = [
        {**TRACK, "eta": obj["eta"] + d, "phi": obj["phi"], "pt": 1.0 + i, "charge": -1}
        for i, d in enumerate(offsets)
    ]
    table, _ = skim(config, write_events(tmp_path / "a.root", [event]), tmp_path)
    tracks = table["tracks"].to_numpy(zero_copy_only=False)[0].reshape(10, 11)
    mask = table["tracks_mask"].to_numpy(zero_copy_only=False)[0]
    assert mask.tolist() == [1, 1, 1] + [0] * 7
    np.testing.assert_allclose(tracks[:3, 2], [0.05, 0.2, 0.3], atol=1e-5)  # dR column, sorted
    np.testing.assert_allclose(tracks[:3, 0], [-2.0, -3.0, -1.0])  # pt / q
    assert np.all(tracks[3:] == 0)


def test_scalars_against_direct_computation(config, tmp_path):
    first = {
        "eta": 1.45,
        "cl_eta": 1.4512,
        "phi": 0.3,
        "cl_phi": 0.3,
        "cl_E0": 1.0,
        "cl_E1": 8.0,
        "cl_E2": 20.0,
        "cl_E3": 2.0,
        "Ecrack": 0.6,
        "cl_etaIndex": 58,
    }

    def cells(prefix, layer, k):  # hottest middle cell one row above the window centre
        window = np.zeros((k, *NATIVE_SHAPES[layer]))
        if layer == "lr2":
            window[:, 4, 5] = 10.0
        return window.ravel()

    path = write_events(tmp_path / "a.root", [pair(first)], cells=cells)
    table, _ = skim(config, path, tmp_path)
    row = {
        name: table[name].to_numpy()[0] for name in table.column_names if name.startswith("scalar_")
    }
    assert row["scalar_E_acc"] == pytest.approx(30.0)
    assert row["scalar_f0"] == pytest.approx(1.0 / 30.0)
    assert row["scalar_R12"] == pytest.approx(0.4)
    assert row["scalar_E_crack_ratio"] == pytest.approx(0.02)
    assert row["scalar_dphi_h3"] == pytest.approx(
        np.mod(2 * np.pi + 0.3, np.pi / 32) - np.pi / 64, abs=1e-6
    )
    hot_edge = (58 + 1) * 0.025
    assert row["scalar_poscs2"] == pytest.approx(2 * (1.4512 - hot_edge) / 0.025 - 1, abs=1e-4)
    assert row["scalar_mu"] == pytest.approx(30.0) and row["scalar_n_vertex"] == 15


def test_cutflow_adds_up_across_steps_and_files(config, ntuple_dir, tmp_path):
    path = ntuple_dir / "mc_zee.root"
    config["skim"]["step_size"] = 10_000
    whole, steps_whole = skim(config, path, tmp_path, name="whole")
    config["skim"]["step_size"] = 97
    stepped, steps_stepped = skim(config, path, tmp_path, name="stepped")
    assert steps_whole == steps_stepped
    assert_tables_equal(whole, stepped)
    assert steps_whole[-1]["objects"] == whole.num_rows
    merged = merge_cutflows(
        [tmp_path / "whole.json", tmp_path / "stepped.json"],
        tmp_path / "sum.csv",
        tmp_path / "sum.md",
    )
    assert merged["objects"].tolist() == [2 * s["objects"] for s in steps_whole]
    assert "| cut" in (tmp_path / "sum.md").read_text()


def test_renamed_branches_skim_identically_through_the_mapping(config, tmp_path):
    events = [pair(), pair({"e": 60.0}), pair({"isLoose": False})]
    plain, _ = skim(config, write_events(tmp_path / "plain.root", events), tmp_path, name="plain")
    rename = {"el_e": "el_energy", "runNumber": "run", "el_isLoose": "el_loose"}
    path = write_events(tmp_path / "renamed.root", events, rename=rename)
    config["ntuple"]["branches"] = {
        "el_e": "el_energy",
        "runNumber": "run",
        "el_isLoose": "el_loose",
    }
    renamed, _ = skim(config, path, tmp_path, name="renamed")
    assert_tables_equal(plain, renamed)
    # An alias expression: energies stored in MeV.
    mev_events = copy.deepcopy(events)
    for event in mev_events:
        for obj in event["el"]:
            obj["e_MeV"] = obj["e"] * 1000.0
    path = write_events(
        tmp_path / "mev.root", mev_events, extra={"el_e_MeV": "float32"}, drop={"el_e"}
    )
    config["ntuple"]["branches"] = {"el_e": "el_e_MeV / 1000"}
    in_mev, _ = skim(config, path, tmp_path, name="mev")
    np.testing.assert_allclose(
        in_mev["e_baseline"].to_numpy(), plain["e_baseline"].to_numpy(), rtol=1e-6
    )


def test_missing_branch_names_file_logical_names_and_mapping(config, tmp_path):
    path = write_events(tmp_path / "a.root", [pair()], rename={"el_cl_E1": "something_else"})
    config["ntuple"]["branches"] = {"el_e": "el_energy"}
    with pytest.raises(InputFileError) as info:
        skim(config, path, tmp_path)
    message = str(info.value)
    assert str(path) in message and "el_cl_E1 (unmapped)" in message
    assert "el_e -> 'el_energy'" in message
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_files_name_the_file(config, ntuple_dir, tmp_path, damage):
    source = (ntuple_dir / "mc_zee.root").read_bytes()
    path = tmp_path / "bad.root"
    path.write_bytes(source[: len(source) // 2] if damage == "truncate" else b"not root" * 100)
    with pytest.raises(InputFileError, match=r"bad\.root"):
        skim(config, path, tmp_path)
    assert not (tmp_path / "out.parquet").exists(), "no output that looks complete"


@pytest.mark.parametrize("events", [[], [pair({"isLoose": False})]])
def test_empty_input_or_selection_gives_empty_parquet_with_full_schema(config, tmp_path, events):
    path = write_events(tmp_path / "a.root", events)
    table, steps = skim(config, path, tmp_path)
    assert table.num_rows == 0
    assert table.schema == arrow_schema(NATIVE_SHAPES)
    assert [s["cut"] for s in steps][-1].startswith("truth matched")
    assert json.loads((tmp_path / "out.json").read_text())["steps"] == steps


def test_binned_reference_is_read_when_present_and_nan_when_absent(config, tmp_path):
    events = [pair({"e": 41.0, "binned_e": 40.5}, {"e": 39.0, "binned_e": 38.0})]
    without, _ = skim(config, write_events(tmp_path / "a.root", events), tmp_path, name="a")
    assert without.schema == arrow_schema(NATIVE_SHAPES)
    assert np.all(np.isnan(without["e_baseline_binned"].to_numpy()))
    path = write_events(tmp_path / "b.root", events, extra={"el_binned_e": "float32"})
    with_binned, _ = skim(config, path, tmp_path, name="b")
    np.testing.assert_allclose(with_binned["e_baseline_binned"].to_numpy(), [40.5, 38.0])
    np.testing.assert_allclose(with_binned["e_baseline"].to_numpy(), [41.0, 39.0])
    assert_tables_equal(without, with_binned, ignore=("file", "e_baseline_binned"))
    # Photons read ph_binned_e.
    mumug = mumug_event(60.0, {"binned_e": 29.0})
    path = write_events(tmp_path / "c.root", [mumug], extra={"ph_binned_e": "float32"})
    photons, _ = skim(config, path, tmp_path, process="zmumug", name="c")
    np.testing.assert_allclose(photons["e_baseline_binned"].to_numpy(), [29.0])


def test_binned_reference_through_the_mapping(config, tmp_path):
    events = [pair({"binned_e": 40.5}, {"binned_e": 38.0})]
    for event in events:
        for obj in event["el"]:
            obj["olderE"] = obj["binned_e"] * 1000.0
    path = write_events(tmp_path / "a.root", events, extra={"el_olderE": "float32"})
    config["ntuple"]["branches"] = {"el_binned_e": "el_olderE / 1000"}
    table, _ = skim(config, path, tmp_path)
    np.testing.assert_allclose(table["e_baseline_binned"].to_numpy(), [40.5, 38.0], rtol=1e-6)
    # A mapped reference the file lacks is a configuration mistake, not an absent branch.
    config["ntuple"]["branches"] = {"el_binned_e": "el_oldE"}
    with pytest.raises(InputFileError, match="el_binned_e -> 'el_oldE'"):
        skim(config, path, tmp_path, name="typo")


def test_photon_n_tracks_is_its_conversion_vertex_from_the_atlas_conv_type(config, tmp_path):
    # ATLAS convType: 0 unconverted, 1/2 single-Si/TRT, 3/4/5 double Si/TRT/Si-TRT.
    events = [mumug_event(60.0, {"convType": code}, eventNumber=code + 1) for code in range(6)]
    table, _ = skim(config, write_events(tmp_path / "a.root", events), tmp_path, "zmumug")
    assert table["conv_type"].to_pylist() == [0, 1, 2, 3, 4, 5]
    assert table["scalar_n_tracks"].to_pylist() == [0, 1, 1, 2, 2, 2]
