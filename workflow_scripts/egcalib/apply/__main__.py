"""Decorate ntuples with calibrated energies: a friend ROOT file per input with one branch per
exported calibration (egcalib.apply.friends).

    python -m egcalib.apply MODEL.onnx [MODEL.onnx ...] IN.root --out OUT.root \\
        [--tree egamma] [--config config.yaml ...]

The config files (merged in order, as Snakemake merges them) give the ntuple's tree and branch
mapping (``ntuple:``; default: tree ``egamma``, the contract's names); the cell-window shapes and
the number of tracks come from the models. Exit status 1 with the error's message (naming the
file and branch) on a bad input; nothing is written then.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

from egcalib.apply.friends import Calibration, decorate
from egcalib.core.config_files import merge_config
from egcalib.skim.branch_mapping import InputFileError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m egcalib.apply", description=__doc__.split("\n")[0]
    )
    parser.add_argument("models", nargs="+", type=Path, help="model.onnx files, then the ntuple")
    parser.add_argument("--out", required=True, type=Path, help="the friend ROOT file to write")
    parser.add_argument("--tree", help="the ntuple's tree (default: the config's ntuple.tree)")
    parser.add_argument("--config", action="append", default=[], type=Path, help="config files")
    args = parser.parse_args(argv)
    if len(args.models) < 2:
        parser.error("give at least one model.onnx and the input ntuple")
    *models, ntuple = args.models
    config: dict = {}
    for path in args.config:
        merge_config(config, yaml.safe_load(path.read_text()) or {})
    ntuple_config = config.get("ntuple", {})
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        summary = decorate(
            str(ntuple),
            args.out,
            [Calibration.load(m) for m in models],
            tree=args.tree or ntuple_config.get("tree", "egamma"),
            branches=ntuple_config.get("branches", {}),
        )
    except (InputFileError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
