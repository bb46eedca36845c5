"""Snakemake script: the menus, the CNN and the BDT on the test split and radiative Z photons."""

from egcalib.core.logs import log_to_file

log_to_file(snakemake.log[0])  # first: libraries print on import

import keras
import lightgbm

from egcalib.photon_id.classifier import id_scores
from egcalib.photon_id.cnn import id_cnn_scores
from egcalib.photon_id.menus import read_menus
from egcalib.photon_id.study import evaluate, features, read_candidates

inputs, params = snakemake.input, snakemake.params
booster = lightgbm.Booster(model_file=inputs.bdt)
cnn = keras.models.load_model(inputs.cnn)
evaluate(
    read_candidates(list(inputs.candidates)),
    read_candidates(list(inputs.radiative_z_data)),
    read_candidates(list(inputs.radiative_z_mc)),
    read_menus(inputs.menus),
    {
        "cnn": lambda frame: id_cnn_scores(cnn, frame, params.native_shapes),
        "bdt": lambda frame: id_scores(booster, features(frame)),
    },
    params.binning,
    snakemake.output,
)
