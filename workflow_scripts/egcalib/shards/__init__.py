"""Stage shards: the skimmed objects as training inputs.

Reads the skim table back, assigns each event to the train, validation or test split
deterministically, upsamples the four layers' cell windows to 56x55x4 images, and writes one
TFRecord per split and a Parquet sidecar per skim file.
"""
