"""The results card: a run's headline numbers as Markdown (docs/default-results.md), recomputed
from the models' metrics and prediction files.
"""
