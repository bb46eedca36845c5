"""Snakemake script: the menus, the CNN and the BDT on the test split and radiative Z photons."""

from egcalib.core.logs import log_to_file

log_to_file(snakemake.log[0])  # first: libraries print on import

import lightgbm

from egcalib.photon_id.classifier import id_scores
from egcalib.photon_id.cnn_inputs import onnx_scores
from egcalib.photon_id.menus import read_menus
from egcalib.photon_id.performance import evaluate
from egcalib.photon_id.study import features, read_candidates

inputs, params = snakemake.input, snakemake.params
booster = lightgbm.Booster(model_file=inputs.bdt)
evaluate(
    read_candidates(list(inputs.candidates)),
    read_candidates(list(inputs.radiative_z_data)),
    read_candidates(list(inputs.radiative_z_mc)),
    read_menus(inputs.menus),
    {
        # The exported CNN, as users apply it (checked against Keras by its export).
        "cnn": lambda frame: onnx_scores(inputs.cnn, frame, params.native_shapes),
        "bdt": lambda frame: id_scores(booster, features(frame)),
    },
    params.binning,
    snakemake.output,
)
