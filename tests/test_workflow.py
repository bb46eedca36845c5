"""The whole workflow on the tiny config: outputs, reruns that do nothing, incremental plans."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_utils import (
    REPO,
    TINY,
    cnn_values,
    copy_checkout,
    output_digests,
    planned_jobs,
    snakemake,
)

pytestmark = pytest.mark.slow


def test_end_to_end_outputs(workflow_run):
    summary = json.loads((workflow_run / "results/simulation/validation.json").read_text())
    assert 0.98 < summary["barrel_median_response"] < 1.02
    # The baseline's in-situ alphas of the data detector, one per evaluation.insitu_eta_edges bin.
    alphas = summary["baseline_insitu_alpha"]
    assert len(alphas["alpha"]) == len(alphas["abs_eta_edges"]) - 1
    assert all(abs(a) < 0.2 for a in alphas["alpha"])
    assert "r_eta" in summary["shower_shapes_data_vs_mc"]["barrel"]
    plots = workflow_run / "results/simulation/plots"
    for name in (
        "layer_fractions.png",
        "mean_images.png",
        "data_vs_mc.png",
        "shower_shapes_data_vs_mc.png",
    ):
        assert (plots / name).stat().st_size > 10_000, name
    assert list((workflow_run / "results/logs").rglob("*.log"))
    cutflow = (workflow_run / "results/skim/mc_zee.cutflow.csv").read_text().splitlines()
    assert cutflow[0].startswith("cut,events,objects") and len(cutflow) > 5
    assert len(list((workflow_run / "results/skim/mc_zee").glob("*.parquet"))) == 2
    z_datasets = {
        "basic": {"mc_zee", "data_zee"},
        "recommended_mc_data": {"mc_zee", "data_zee"},
        "bdt": {"mc_zee", "data_zee"},
        "recommended_photon": {"mc_zmumug", "data_zmumug"},
        "bdt_photon": {"mc_zmumug", "data_zmumug"},
        "transformer": {"mc_zee", "data_zee"},  # the cells as a set, at a tiny size
    }
    for model, datasets in z_datasets.items():
        directory = workflow_run / "results/models" / model
        history = pd.read_csv(directory / "history.csv")
        if model.startswith("bdt"):  # a BDT control: a LightGBM text model, no network files
            assert (directory / "model.txt").read_text().startswith("tree")
            assert (directory / "model.onnx").stat().st_size > 1_000
            assert not (directory / "model.keras").exists()
            assert history.columns.tolist() == ["round", "loss", "val_loss"] and len(history) > 1
        else:
            assert (directory / "model.keras").stat().st_size > 10_000
            assert (directory / "model.onnx").stat().st_size > 10_000
            assert len(history) == 2, "two epochs"
        assert (directory / "training.png").stat().st_size > 10_000
        evaluation = workflow_run / "results/eval" / model
        for name in ("relative_error.png", "et_2d.png", "eiqr_vs_eta.png"):
            assert (evaluation / name).stat().st_size > 10_000, name
        metrics = json.loads((evaluation / "metrics.json").read_text())
        assert metrics["inclusive"]["n"] > 20  # the tiny Z->mumugamma test split has ~30 photons
        assert 0.005 < metrics["inclusive"]["eiqr75_baseline"] < 0.1
        assert {fit["dataset"] for fit in metrics["z_fits"]} == datasets
    # The BDT's predictions are those of a CNN: same columns, same test objects.
    for name in ("mc_zee/c000.parquet", "data_zee/c000.parquet"):
        bdt = pd.read_parquet(workflow_run / "results/predictions/bdt" / name)
        cnn = pd.read_parquet(workflow_run / "results/predictions/basic" / name)
        assert bdt.columns.tolist() == cnn.columns.tolist() and len(bdt) > 0
        pd.testing.assert_series_equal(bdt["eventNumber"], cnn["eventNumber"])
        assert bdt["sigma_e_pred"].isna().all() and (bdt["e_pred"] > 0).all()
    # The tiny Z -> ee test split is just large enough for a fit; its figure has a curve.
    fits = json.loads((workflow_run / "results/eval/basic/metrics.json").read_text())["z_fits"]
    fitted = {(f["dataset"], f["energy"]) for f in fits if f.get("sigma") is not None}
    assert ("mc_zee", "baseline") in fitted, fits
    assert (workflow_run / "results/eval/basic/zfits/mc_zee_baseline.png").stat().st_size > 10_000
    ablation = pd.read_csv(workflow_run / "results/eval/ablation.csv")
    models = ablation["model"].tolist()
    assert [m for m in models if m != "baseline_binned"] == list(z_datasets)
    assert ablation.set_index("model")["particle"]["recommended_photon"] == "photon"
    summary = (workflow_run / "results/eval/summary.md").read_text()
    assert "Recommended model" in summary and "Photon model: recommended_photon" in summary
    # The binned reference goes from the ntuples through skim, sidecar and predictions into the
    # evaluation exactly where the simulator writes it (el_binned_e / ph_binned_e).
    binned = pd.read_parquet(workflow_run / "results/predictions/bdt/mc_zee/c000.parquet")[
        "e_baseline_binned"
    ]
    inclusive = json.loads((workflow_run / "results/eval/bdt/metrics.json").read_text())[
        "inclusive"
    ]
    assert binned.notna().all()  # the simulator writes it for every object
    assert "eiqr75_baseline_binned" in inclusive and "baseline_binned" in models
    assert ("mc_zee", "baseline_binned") in {
        (f["dataset"], f["energy"])
        for f in json.loads((workflow_run / "results/eval/bdt/metrics.json").read_text())["z_fits"]
    }
    assert "The baseline over the binned reference (electrons)" in summary
    # Every sigma_CB improvement carries a paired-bootstrap error and its (possibly empty) flags.
    zfits = pd.read_csv(workflow_run / "results/eval/basic/zfits.csv")
    improved = zfits[zfits["sigma_improvement"].notna()]
    assert len(improved) and {"flags", "sigma_improvement_flags", "bootstrap_failed"} <= set(zfits)
    assert (workflow_run / "results/eval/basic/pulls.png").stat().st_size > 5_000


def test_photon_identification_runs_end_to_end(workflow_run):
    """The tiny run's photon-ID chain: labelled candidates, the menu file, the BDT, the CNN
    and its ONNX export, the working points and the radiative-Z efficiencies (its physics is
    the reference run's: docs/photon-id.md)."""
    import onnxruntime

    from egcalib.photon_id.cnn_inputs import model_inputs
    from egcalib.photon_id.menus import read_menus

    results = workflow_run / "results/photon_id"
    candidates = {
        d: pd.read_parquet(results / f"candidates/{d}.parquet")
        for d in ("mc_pgun", "mc_jets", "data_zmumug")
    }
    assert (candidates["mc_pgun"]["label"] == 1).mean() > 0.95  # truth-matched gun photons
    assert (candidates["mc_jets"]["label"] == 0).all()  # every jet candidate is a fake
    assert (candidates["data_zmumug"]["label"] == -1).all()
    menus = read_menus(results / "menus.yaml")
    assert set(menus["tight"]) == {"unconverted", "converted"}
    metrics = json.loads((results / "evaluation/metrics.json").read_text())
    assert set(metrics["auc"]) == {"cnn", "bdt"} and metrics["auc"]["bdt"] > 0.8
    points = pd.read_csv(results / "evaluation/working_points.csv")
    groups = set(points["group"])
    assert {"inclusive", "converted", "unconverted", "et_10_20", "abs_eta_0_0.6"} <= groups
    assert any(g.startswith("mu_") for g in groups)
    assert set(zip(points["classifier"], points["menu"])) == {
        (c, m) for c in ("cnn", "bdt") for m in ("loose", "tight")
    }
    radiative_z = pd.read_csv(results / "evaluation/radiative_z.csv").set_index("menu")
    assert radiative_z.loc["tight", "n_data"] == len(candidates["data_zmumug"])
    assert 0 < radiative_z.loc["tight", "sf"] < 2
    for name in ("roc.png", "efficiency_et.png", "efficiency_abs_eta.png", "efficiency_mu.png"):
        assert (results / "evaluation" / name).stat().st_size > 10_000, name
    # The ONNX classifier gives the evaluation's CNN probabilities from the cells in GeV.
    session = onnxruntime.InferenceSession(
        str(results / "cnn/model.onnx"), providers=["CPUExecutionProvider"]
    )
    assert "prompt_probability" in session.get_modelmeta().custom_metadata_map["outputs"]
    shapes = {"lr1": [56, 5], "lr2": [7, 11], "lr3": [7, 11]}
    inputs = model_inputs(candidates["mc_jets"].head(50), shapes)
    probability = session.run(None, {i.name: inputs[i.name] for i in session.get_inputs()})[0]
    assert probability.shape == (50, 1) and ((probability >= 0) & (probability <= 1)).all()


RECORDED_DIGESTS = REPO / "tests" / "data" / "tiny_run_digests.json"
RECORDED_CNN = REPO / "tests" / "data" / "tiny_run_cnn.json"
RECORD = os.environ.get("EGCALIB_RECORD_DIGESTS") == "1"


def test_outputs_are_those_of_the_recorded_run(workflow_run):
    """The tiny run's skims, shards, normalisations and BDT are byte for byte those recorded in
    tests/data/tiny_run_digests.json, on any x86-64 CPU (egcalib.core.provenance pins numpy's and
    OpenBLAS's kernels): a refactor changes none of them. A change meant to change outputs
    records them anew (and the CNNs' values), and the diff shows which moved:
    EGCALIB_RECORD_DIGESTS=1 .venv/bin/python -m pytest tests/test_workflow.py -k recorded"""
    digests = output_digests(workflow_run / "results")
    if RECORD:
        RECORDED_DIGESTS.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(RECORDED_DIGESTS.read_text())
    assert sorted(digests) == sorted(recorded), "the run writes other outputs than recorded"
    changed = [name for name in recorded if digests[name] != recorded[name]]
    assert not changed, f"outputs differ from the recorded run: {changed}"


# How far the CNNs' outputs may move on another CPU. oneDNN picks its kernels, and with them the
# order of float additions, by the instruction set; two epochs on a few hundred objects amplify
# those last bits. Measured on one machine between oneDNN's AVX2 and SSE4.1 kernels
# (ONEDNN_MAX_CPU_ISA, as another CPU would pick), the tiny run's CNNs moved by at most: 0.7 % in
# the first epoch's training loss, 32 % in a later loss, 1.3 % in the median per-object change
# of E_pred and 2.4 % in the median response E_pred / E_acc of a dataset. The bounds are about
# twice those: they catch a model that no longer learns, a broken normalisation or target
# scale, misaligned ids (exact, as every other column), never a last-bit difference.
FIRST_LOSS_RTOL = 0.02
LOSS_RTOL = 0.6
MEDIAN_CHANGE = 0.03
RESPONSE_RTOL = 0.05


def test_cnn_outputs_are_those_of_the_recorded_run_within_their_tolerance(workflow_run):
    """The CNNs' histories and predictions (tests/data/tiny_run_cnn.json): every column but
    the network's exact, the network's within the bounds above."""
    import numpy as np

    values = cnn_values(workflow_run / "results")
    if RECORD:
        RECORDED_CNN.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(RECORDED_CNN.read_text())
    assert sorted(values) == sorted(recorded), "the run writes other CNN outputs than recorded"
    for name, entry in recorded.items():
        now = values[name]
        if name.endswith("history.csv"):
            assert len(now["loss"]) == len(entry["loss"]), name
            first = now["loss"][0] / entry["loss"][0] - 1
            assert abs(first) <= FIRST_LOSS_RTOL, (name, now["loss"], entry["loss"])
            for column in ("loss", "val_loss"):
                np.testing.assert_allclose(now[column], entry[column], rtol=LOSS_RTOL, err_msg=name)
            continue
        assert now["ids"] == entry["ids"], f"{name}: other objects or columns than recorded"
        for column in ("correction", "sigma_correction", "e_pred", "sigma_e_pred"):
            if column not in entry:
                assert column not in now, name
                continue
            then, new = np.asarray(entry[column]), np.asarray(now[column])
            assert np.all(np.isfinite(new) & (new > 0)), name
            assert np.median(np.abs(new / then - 1)) <= MEDIAN_CHANGE, (name, column)
        e_acc = pd.read_parquet(workflow_run / "results" / name)["e_acc"].to_numpy()
        response = np.median(np.asarray(now["e_pred"]) / e_acc)
        recorded_response = np.median(np.asarray(entry["e_pred"]) / e_acc)
        assert abs(response / recorded_response - 1) <= RESPONSE_RTOL, name


def test_cnn_training_is_the_same_byte_for_byte_when_rerun(workflow_run, tmp_path):
    """On one machine a CNN retrained from the same inputs gives the same history and
    predictions, byte for byte (fixed seeds, deterministic input order)."""
    copy = tmp_path / "rerun"
    shutil.copytree(workflow_run, copy, symlinks=True)
    targets = ["results/models/basic/history.csv", "results/predictions/basic/mc_zee/c000.parquet"]
    snakemake(copy, "--forcerun", "train", *targets)
    for target in targets:
        assert (copy / target).read_bytes() == (workflow_run / target).read_bytes(), target


# A user's script: the exported calibration on an ntuple's objects (here the skim table's, which
# holds them as the ntuple does) with numpy, pyarrow and onnxruntime alone; egcalib cannot be
# imported (sys.modules entry None), so nothing of the workflow helps.
PLAIN_ONNX_SCRIPT = """
import json, sys
sys.modules["egcalib"] = None
import numpy as np, onnxruntime, pyarrow.parquet as pq

model, skim, out = sys.argv[1:4]
session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
inputs = json.loads(meta["inputs"])
table = pq.read_table(skim)
n = table.num_rows

def column(name, shape):
    values = table[name].combine_chunks()
    return values.flatten().to_numpy().reshape(n, *shape).astype(np.float32)

feed = {}
for name, spec in inputs.items():
    if name == "scalars":  # the scalar names, in input order, are the keys of its units
        names = list(spec["unit"])
        feed[name] = np.stack([table["scalar_" + s].to_numpy() for s in names], 1)
        feed[name] = feed[name].astype(np.float32)
    elif name == "track_mask":
        feed[name] = column("tracks_mask", spec["shape"])
    else:
        feed[name] = column(name, spec["shape"])
energy = session.run(["energy"], feed)[0]
ids = {k: table[k].to_numpy().tolist() for k in ("runNumber", "eventNumber", "object_index")}
json.dump({"ids": ids, "energy": energy.tolist(), "name": meta["model_name"]}, open(out, "w"))
"""


@pytest.mark.parametrize("model", ["recommended_mc_data", "bdt"])
def test_the_onnx_calibration_needs_nothing_but_onnxruntime(workflow_run, tmp_path, model):
    """model.onnx, a network's or a BDT's, takes the raw objects of an ntuple and gives the
    workflow's energies in GeV."""
    out = tmp_path / "energies.json"
    subprocess.run(
        [
            sys.executable,
            "-c",
            PLAIN_ONNX_SCRIPT,
            str(workflow_run / f"results/models/{model}/model.onnx"),
            str(workflow_run / "results/skim/mc_zee/f000.parquet"),
            str(out),
        ],
        check=True,
    )
    result = json.loads(out.read_text())
    assert result["name"] == model
    onnx = pd.DataFrame(result["ids"]).assign(energy=result["energy"])
    predictions = pd.read_parquet(workflow_run / f"results/predictions/{model}/mc_zee/c000.parquet")
    joined = predictions.merge(onnx, on=["runNumber", "eventNumber", "object_index"])
    assert len(joined) == len(predictions[predictions["file"] == "f000"]) > 0
    # Equal to float32 rounding: the workflow's E_acc is the sum of cl_E1..3, the ONNX model's
    # the stored E_acc scalar (docs/design.md#models).
    np.testing.assert_allclose(joined["energy"], joined["e_pred"], rtol=1e-5)


def test_friend_trees_are_a_target_of_their_own(workflow_run):
    """`snakemake friends`: one friend job per input file of the run, after the run; `all`
    (tested above: nothing left to do) does not ask for them."""
    jobs = planned_jobs(workflow_run, "friends")
    files = len(list((workflow_run / "results/ntuples").glob("*/*.root")))
    assert jobs == {"friend": files, "friends": 1}, jobs


def test_friend_trees_carry_the_workflow_energies(workflow_run, tmp_path):
    """python -m egcalib.apply writes, beside an ntuple, one branch per calibration aligned with
    its electrons: the workflow's predictions for the objects both have, an energy for every
    other object too (no selection), the input's entries in its order."""
    import uproot

    names = ("basic", "recommended_mc_data", "bdt")  # the BDT's reads only the scalars
    models = [workflow_run / f"results/models/{m}/model.onnx" for m in names]
    ntuple = workflow_run / "results/ntuples/mc_zee/f000.root"
    out = tmp_path / "f000.friend.root"
    subprocess.run(
        [sys.executable, "-m", "egcalib.apply", *map(str, models), str(ntuple), "--out", str(out)],
        check=True,
    )
    friend = uproot.open(out)["egamma"].arrays(library="ak")
    events = uproot.open(ntuple)["egamma"].arrays(["runNumber", "eventNumber", "el_e"])
    branches = [f"el_e_{m}" for m in names]
    assert friend.fields == ["runNumber", "eventNumber", *branches] or set(friend.fields) >= {
        "runNumber",
        "eventNumber",
        "nel",
        *branches,
    }
    assert ak.all(friend.eventNumber == events.eventNumber)
    assert ak.all(ak.num(friend.el_e_basic) == ak.num(events.el_e))
    for model in names:
        energies = pd.DataFrame(
            {
                "runNumber": ak.to_numpy(
                    ak.flatten(ak.broadcast_arrays(friend.runNumber, friend[f"el_e_{model}"])[0])
                ),
                "eventNumber": ak.to_numpy(
                    ak.flatten(ak.broadcast_arrays(friend.eventNumber, friend[f"el_e_{model}"])[0])
                ),
                "object_index": ak.to_numpy(ak.flatten(ak.local_index(friend[f"el_e_{model}"]))),
                "friend": ak.to_numpy(ak.flatten(friend[f"el_e_{model}"])),
            }
        )
        predictions = pd.read_parquet(
            workflow_run / f"results/predictions/{model}/mc_zee/c000.parquet"
        )
        predictions = predictions[predictions["file"] == "f000"]
        joined = predictions.merge(energies, on=["runNumber", "eventNumber", "object_index"])
        assert len(joined) == len(predictions) > 0
        np.testing.assert_allclose(joined["friend"], joined["e_pred"], rtol=1e-5)
        # Objects the selection dropped are calibrated too: the friend has more objects.
        assert np.isfinite(energies["friend"]).sum() > len(predictions)


def test_validation_says_where_the_toy_detector_stands(workflow_run):
    summary = json.loads((workflow_run / "results/simulation/validation.json").read_text())
    peak = summary["zee_sigma_cb"]
    assert peak["anchor"] == [2.0, 2.8] and peak["seed_atlas_mc"] == 2.393
    assert {"mva", "binned"} <= set(peak) and "in_anchor" in peak
    effects = summary["effects"]
    assert {"all effects", "sampling term only", "without bremsstrahlung"} <= set(effects)
    fitted = [row for row in effects.values() if "sigma_cb" in row]
    assert len(fitted) >= len(effects) - 1, effects  # the tiny study fits (almost) all
    assert effects["sampling term only"]["eiqr75"] < effects["all effects"]["eiqr75"]
    for region in ("_barrel", "_endcap"):  # each region's fit, or why it failed
        assert {f"sigma_cb{region}", f"fit_error{region}"} & set(effects["all effects"])
    assert (workflow_run / "results/simulation/plots/effects.png").stat().st_size > 10_000
    # The jets' validation: pi0s resolved in the strips less often as E_T grows.
    resolved = [row["resolved"] for row in summary["pi0_resolved"]]
    assert resolved[0] > 0.1 and resolved[-1] < 0.05
    assert (workflow_run / "results/simulation/plots/pi0_resolved.png").stat().st_size > 10_000


def test_results_card_is_written_from_the_run(workflow_run, tmp_path):
    from egcalib.card.results_card import write_card

    card = write_card(workflow_run / "results", tmp_path / "card.md", "Tiny run", "tiny")
    text = card.read_text()
    ablation = pd.read_csv(workflow_run / "results/eval/ablation.csv")
    for model in ablation["model"]:
        assert f"| {model} |" in text, model
    assert "-12.1 / -2.5 %" in text  # the seed's basic row beside ours
    assert "Photon model recommended_photon" in text and "| unconverted |" in text
    assert "sampling term only" in text and "MC Z -> ee sigma_CB" in text
    assert "| both in the barrel (< 1.37) |" in text
    assert "## In-situ scale of Z -> ee data" in text and "| baseline | " in text
    # The seed's data experiment: each electron model by what it trained on.
    assert "## Training on MC, on data, on both: Z -> ee data" in text
    assert "| basic | mc |" in text and "| recommended_mc_data | mc+data |" in text
    # The calibration closure of every model: a response peak per bin and hypothesis.
    closure = pd.read_csv(workflow_run / "results/eval/basic/closure.csv")
    assert {"baseline", "basic"} <= set(closure["hypothesis"])
    # The tiny test splits leave most bins below MIN_OBJECTS: each NaN peak says why.
    assert (closure["peak"].notna() | closure["flags"].fillna("").str.len().gt(0)).all()
    assert (tmp_path / "card" / "ablation.png").exists()
    from egcalib.core.provenance import cpu_model

    assert f"The networks trained on: {cpu_model()}." in text  # from the training logs
    # The tiny run trains basic, recommended_mc_data and the transformer beside the BDT control:
    # each is compared with it and with the binned baseline on the same objects.
    for model in ("basic", "recommended_mc_data", "transformer"):
        assert f"| {model} | BDT control bdt |" in text, model
        assert f"| {model} | binned baseline |" in text, model
    # The tiny run has no CNN with the transformer's inputs (film scalars, top tracks).
    assert "- transformer: no CNN with its inputs, loss and training datasets in this run." in text
    # The photon model against the BDT control trained on the same photons.
    assert "| recommended_photon | BDT control bdt_photon |" in text
    # Files an older layout left beside the inference outputs are not read twice.
    results = tmp_path / "results"
    shutil.copytree(workflow_run / "results", results)
    for path in results.glob("predictions/*/*/c000.parquet"):
        shutil.copy2(path, path.with_name("f000.parquet"))
    again = write_card(results, tmp_path / "again.md", "Tiny run", "tiny").read_text()
    assert again.replace("again/", "card/") == text
    assert (tmp_path / "card" / "efficiency_mu.png").exists()  # the photon-ID figures
    # The photon-ID stage run alone: its section, without the energy models' comparison.
    (results / "eval/ablation.csv").unlink()
    alone = write_card(results, tmp_path / "id.md", "Photon ID", "tiny").read_text()
    assert "## Photon identification: prompt photons against jets" in alone
    assert "## Ablation" not in alone


def test_report_collects_the_figures(workflow_run):
    result = snakemake(workflow_run, "--report", "results/report.html")
    html = (workflow_run / "results/report.html").read_text(errors="ignore")
    for caption in ("Simulation validation", "Cutflows", "Training", "Evaluation", "Comparison"):
        assert caption in html, caption
    # The captions are reST: a docutils message (an undefined substitution, a bad role) is
    # printed by Snakemake and embedded in the report in place of the caption.
    output = result.stdout + result.stderr
    for message in ("System Message", "Undefined substitution", "(ERROR/", "(WARNING/"):
        assert message not in output and message not in html, message


def test_second_run_does_nothing(workflow_run):
    assert planned_jobs(workflow_run) == {}


def more_files(workflow_run, tmp_path, dataset) -> tuple[str, str]:
    """Config files adding one ntuple file to ``dataset`` of the tiny config."""
    more = tmp_path / "more.yaml"
    tiny = yaml.safe_load((workflow_run / TINY).read_text())
    tiny["datasets"][dataset]["n_files"] += 1
    more.write_text(yaml.safe_dump(tiny))
    return ("config.yaml", str(more))


def test_adding_a_file_plans_only_its_jobs(workflow_run, tmp_path):
    # No model trains on data_zmumug: only the photon models (the network and its BDT control)
    # predict and evaluate it.
    jobs = planned_jobs(workflow_run, configfiles=more_files(workflow_run, tmp_path, "data_zmumug"))
    assert jobs.pop("simulate") == 1
    assert jobs.pop("skim") == 1
    assert jobs.pop("shards") == 1
    assert jobs.pop("infer") == 1 and jobs.pop("infer_bdt") == 1
    # Aggregations over the file set.
    assert jobs.pop("find_duplicates") == 1 and jobs.pop("merge_cutflows") == 1
    assert jobs.pop("evaluate") == 2 and jobs.pop("compare") == 1
    # Its photons are radiative Z photons of data: the photon identification's data efficiency.
    assert jobs.pop("photon_id_candidates") == 1 and jobs.pop("evaluate_photon_id") == 1
    assert set(jobs) <= {"all"}
    # Planned for SLURM, the new file's chain is one group job.
    grouped = snakemake(
        workflow_run,
        "-n",
        "--profile",
        "slurm",
        configfiles=more_files(workflow_run, tmp_path, "data_zmumug"),
    )
    assert (grouped.stdout + grouped.stderr).count("Group job per_file") == 1


def test_adding_a_training_file_retrains_only_the_models_trained_on_it(workflow_run, tmp_path):
    jobs = planned_jobs(workflow_run, configfiles=more_files(workflow_run, tmp_path, "mc_egun"))
    assert jobs.pop("simulate") == 1 and jobs.pop("skim") == 1 and jobs.pop("shards") == 1
    assert jobs.pop("merge_cutflows") == 1 and jobs.pop("validate_simulation") == 1
    assert jobs.pop("find_duplicates") == 1
    # The three electron networks (two CNNs, the transformer) and the BDT train on the gun; the
    # photon model is left alone.
    assert jobs.pop("normalise") == 3 and jobs.pop("train") == 3
    assert jobs.pop("export_onnx") == 3 and jobs.pop("train_bdt") == 1
    assert jobs.pop("export_onnx_bdt") == 1
    # A retrained model predicts again for every file of its datasets: one job per chunk of
    # files (inference.files_per_job 50: one each for mc_zee, mc_egun and data_zee).
    assert jobs.pop("infer") == 3 * 3 and jobs.pop("infer_bdt") == 3
    assert jobs.pop("evaluate") == 4 and jobs.pop("compare") == 1
    assert set(jobs) <= {"all"}


def test_selection_change_reruns_skims_not_simulation(workflow_run, tmp_path):
    changed = tmp_path / "cut.yaml"
    changed.write_text("selection:\n  electron: {et_min: 12.0}\n")
    jobs = planned_jobs(
        workflow_run, configfiles=("config.yaml", "tests/configs/tiny.yaml", str(changed))
    )
    assert "simulate" not in jobs and "derive_baseline_calibration" not in jobs
    # The electron files only (mc_zee 2, data_zee 1, mc_egun 1): Z -> mumugamma skims carry
    # their own process's cuts, so the photon model is left alone.
    assert jobs["skim"] == 4 and jobs["merge_cutflows"] == 3 and jobs["find_duplicates"] == 3
    assert jobs["train"] == 3 and jobs["train_bdt"] == 1 and jobs["compare"] == 1


# The photon model retrained: its export, inference on mc_zmumug, mc_pgun and data_zmumug,
# evaluation.
PHOTON_MODEL_JOBS = {
    "train": 1,
    "export_onnx": 1,
    "infer": 3,
    "evaluate": 1,
    "compare": 1,
    "all": 1,
}


# What follows a change of the photon-identification tables' (but the tables themselves).
PHOTON_ID_JOBS = {
    "tune_photon_id_menus": 1,
    "train_photon_id_bdt": 1,
    "train_photon_id_cnn": 1,
    "export_photon_id_onnx": 1,
    "evaluate_photon_id": 1,
}


def test_a_photon_cut_reruns_only_the_photon_chain(workflow_run, tmp_path):
    changed = tmp_path / "cut.yaml"
    changed.write_text("selection:\n  zmumug: {photon_et_min: 12.0}\n")
    jobs = planned_jobs(workflow_run, configfiles=("config.yaml", TINY, str(changed)))
    # mc_zmumug and data_zmumug, one file each (the photon gun carries its own cuts,
    # selection.pgun); the photon models retrain and are evaluated.
    assert jobs == {
        "skim": 2,
        "find_duplicates": 2,
        "merge_cutflows": 2,
        "shards": 2,
        "normalise": 1,
        **PHOTON_MODEL_JOBS,
        # and the photons' BDT control, trained, exported and evaluated on the same photons
        "train_bdt": 1,
        "export_onnx_bdt": 1,
        "infer_bdt": 3,
        "evaluate": 2,
        # and the photon identification, tuned, trained and tested on these photons too
        **PHOTON_ID_JOBS,
        "photon_id_candidates": 2,
    }, jobs


def test_a_jets_cut_reruns_only_the_jets_chain_and_the_photon_identification(
    workflow_run, tmp_path
):
    """No energy calibration trains on or is evaluated on jets: a selection.jets cut reruns
    their skim, cutflow and shards, and the photon identification, whose background they are,
    but not its menus, tuned on prompt photons alone."""
    changed = tmp_path / "cut.yaml"
    changed.write_text("selection:\n  jets: {photon_et_min: 12.0}\n")
    jobs = planned_jobs(workflow_run, configfiles=("config.yaml", TINY, str(changed)))
    assert jobs == {
        "skim": 1,
        "find_duplicates": 1,
        "merge_cutflows": 1,
        "shards": 1,
        "photon_id_candidates": 1,
        **{job: n for job, n in PHOTON_ID_JOBS.items() if job != "tune_photon_id_menus"},
        "all": 1,
    }, jobs


def test_a_validation_setting_reruns_only_the_validation(workflow_run, tmp_path):
    """simulation.validation is read by the toy detector's validation alone: the calibration,
    the ntuples and all after them stay."""
    changed = tmp_path / "validation.yaml"
    changed.write_text("simulation:\n  validation: {z_events: 1234}\n")
    jobs = planned_jobs(workflow_run, configfiles=("config.yaml", TINY, str(changed)))
    assert jobs == {"validate_simulation": 1, "all": 1}, jobs


def _reversed(value):
    """``value`` with every dict's keys in reverse order (same meaning)."""
    if isinstance(value, dict):
        return {key: _reversed(value[key]) for key in reversed(list(value))}
    return value


def _merged(base, over):
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in over.items()}}
    return over


@pytest.mark.parametrize("change", ["reordered keys", "skim.step_size", "training knobs"])
def test_what_does_not_change_an_output_reruns_nothing(workflow_run, tmp_path, change):
    """Params are canonical (reordered keys mean the same) and execution knobs are no params."""
    config = _merged(
        yaml.safe_load((workflow_run / "config.yaml").read_text()),
        yaml.safe_load((workflow_run / TINY).read_text()),
    )
    if change == "reordered keys":
        config = _reversed(config)
    elif change == "skim.step_size":
        config["skim"]["step_size"] = 123
    else:
        config["training"].update(
            jit_compile_cpu=not config["training"]["jit_compile_cpu"],
            multi_gpu=True,
            parallel_reads=4,
        )
    path = tmp_path / "whole.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(workflow_run, "--replace-workflow-config", configfiles=(str(path),))
    assert jobs == {}, jobs


def test_evaluation_setting_reruns_only_evaluation(workflow_run, tmp_path):
    changed = tmp_path / "eval.yaml"
    changed.write_text("evaluation:\n  bootstrap: 50\n")
    jobs = planned_jobs(
        workflow_run, configfiles=("config.yaml", "tests/configs/tiny.yaml", str(changed))
    )
    assert set(jobs) == {"evaluate", "compare", "all"}


DOWNSTREAM_OF_TRAINING = {"train", "export_onnx", "infer", "evaluate", "compare", "all"}


@pytest.mark.parametrize(
    "module, first, planned",
    [
        # A physics change in the detector: everything from the calibration on.
        ("simulation/calorimeter.py", "derive_baseline_calibration", None),
        # The simulation's validation is not part of the simulation.
        ("simulation/validation.py", "validate_simulation", {"validate_simulation", "all"}),
        # The Z fit serves the evaluation and the simulation's validation (sigma_CB per effect).
        ("stats/bw_cb.py", "evaluate", {"evaluate", "compare", "validate_simulation", "all"}),
        ("train/losses.py", "train", DOWNSTREAM_OF_TRAINING),
        # The BDT control: its training and what follows, no network; the photon-ID BDT,
        # trained on its thread count (NUM_THREADS), and its evaluation.
        (
            "bdt/training.py",
            "train_bdt",
            {"train_bdt", "export_onnx_bdt", "infer_bdt", "evaluate", "compare", "all"}
            | {"train_photon_id_bdt", "evaluate_photon_id"},
        ),
        # Its ONNX export alone.
        ("bdt/calibration_onnx.py", "export_onnx_bdt", {"export_onnx_bdt", "all"}),
        # Its predictions: no retraining, and the networks' inference is left alone.
        ("bdt/prediction.py", "infer_bdt", {"infer_bdt", "evaluate", "compare", "all"}),
        # The object table read back: the shards and all after them, the normalisation included.
        ("shards/skim_table.py", "shards", None),
        # Reached by training only through other modules (checkpoints are written atomically).
        ("core/atomic.py", "train", None),
    ],
)
def test_library_change_reruns_its_stage(workflow_run, tmp_path, module, first, planned):
    work = copy_checkout(tmp_path / "copy")
    for results in ("results", ".snakemake"):
        (work / results).symlink_to(workflow_run / results)
    path = work / "workflow_scripts/egcalib" / module
    path.write_text(path.read_text() + "\n# a change\n")
    jobs = planned_jobs(work)
    assert jobs.get(first, 0) >= 1, jobs
    if planned is not None:
        assert set(jobs) == planned, jobs


def test_a_killed_job_is_never_taken_as_complete(workflow_run, tmp_path):
    """Kill Snakemake and its training job mid-run (a crashed login node): no output of the job is
    left looking complete, the next run plans the job again, and after --unlock with
    --rerun-incomplete (as both profiles set) it finishes, resuming from the killed job's last
    checkpoint."""
    work = copy_checkout(tmp_path / "copy")
    for directory in ("results", ".snakemake"):
        shutil.copytree(workflow_run / directory, work / directory, symlinks=True)
    longer = tmp_path / "longer.yaml"
    # No early stopping: the history must hold all 8 epochs whatever the data.
    longer.write_text("training: {epochs: 8, early_stopping_patience: 100}\n")
    configfiles = ("config.yaml", TINY, str(longer))
    target = "results/models/basic/history.csv"
    outputs = [
        work / "results/models/basic" / name
        for name in ("model.keras", "history.csv", "training.png")
    ]
    # Written (atomically) after an epoch's weights: a checkpoint exists to resume from.
    checkpoint = work / "results/models/basic/work/backup/training_metadata.json"
    command = [
        sys.executable,
        "-m",
        "snakemake",
        target,
        "--cores",
        "2",
        "--configfile",
        *configfiles,
    ]
    run = subprocess.Popen(
        command,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while run.poll() is None and time.monotonic() < deadline:
            if checkpoint.exists():
                break
            time.sleep(0.1)
        assert run.poll() is None, "training finished before it could be killed"
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert not any(path.exists() for path in outputs), "a killed job left an output behind"
    assert planned_jobs(work, target, configfiles=configfiles) == {"train": 1}
    snakemake(work, "--unlock", configfiles=configfiles)  # the killed Snakemake held the lock
    snakemake(work, target, "--rerun-incomplete", configfiles=configfiles)
    log = (work / "results/logs/train/basic.log").read_text()
    assert "resumed from the checkpoint of epoch" in log, log
    assert pd.read_csv(work / target)["epoch"].tolist() == list(range(8))


def test_the_slurm_profile_bundles_each_files_chain_into_group_jobs(tmp_path):
    """Planned for SLURM (a dry run: nothing is submitted), each file's simulate -> skim ->
    shards chain is one `per_file` component and group-components of them make one job; the
    tiny config has 8 files, so 2 per job make 4 group jobs of 6 jobs."""
    result = snakemake(
        REPO,
        "-n",
        "--profile",
        "slurm",
        "--group-components",
        "per_file=2",
        "--directory",
        str(tmp_path),
    )
    text = result.stdout + result.stderr
    groups = text.split("Group job per_file")[1:]
    assert len(groups) == 4, text[-3000:]
    sizes = []
    for group in groups:
        # A group's jobs are listed indented, up to the next job outside it.
        rules = re.findall(r"^\s+rule (\w+):", group.split("Group job")[0], re.M)
        assert sorted(set(rules)) == ["shards", "simulate", "skim"], rules
        sizes.append(len(rules))
    assert sizes == [6, 6, 6, 6], sizes  # 2 files x (simulate, skim, shards)


def test_a_model_with_init_from_trains_after_its_source(workflow_run, tmp_path):
    """init_from changes the photon model alone; a retrained source retrains it too."""
    changed = tmp_path / "init.yaml"
    changed.write_text("models:\n  recommended_photon: {init_from: recommended_mc_data}\n")
    configs = ("config.yaml", TINY, str(changed))
    assert planned_jobs(workflow_run, configfiles=configs) == PHOTON_MODEL_JOBS
    forced = planned_jobs(
        workflow_run,
        "--forcerun",
        "results/models/recommended_mc_data/model.keras",
        configfiles=configs,
    )
    assert forced["train"] == 2, forced
