"""Stage train: the CNN+FiLM regressions.

Normalisation statistics from the training split, the tf.data input pipeline, the models and
their losses (including the MDN), the training weights, the training loop with checkpoints and
its history, and the calibration of a predicted sigma on the validation split.
"""
