#!/usr/bin/env bash
# The wheels that `gpu_check.py --backend jax` needs on a lent GPU machine whose image lacks them
# (docs/development.md#the-gpu-check), downloaded here into .whl/ (ignored by git), to be carried
# there. That image has Python 3.12 with JAX for CUDA, numpy, pyyaml, pyarrow, pandas, h5py,
# ml-dtypes, absl-py, rich, packaging and typing-extensions, but no Keras, no TensorFlow and no
# network: Keras (the pin of pyproject.toml) and its requirements missing there, namex and optree
# (compiled: the CPython 3.12 x86-64 Linux build).
#   bash benchmarks/gpu_wheels.sh    # PYTHON=... for another interpreter with pip
set -euo pipefail
cd "$(dirname "$0")/.."
wheels=(keras==3.15.1 namex==0.1.0 optree==0.20.0)
rm -rf .whl
"${PYTHON:-python3}" -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --dest .whl "${wheels[@]}"
# What travels with the working tree is 64 MiB at most: these must stay far below it.
total=$(du -cb .whl/*.whl | tail -n 1 | cut -f 1)
ls -l .whl/*.whl
echo "${#wheels[@]} wheels, $((total / 1024)) KiB in .whl/"
found=$(find .whl -type f -name '*.whl' | wc -l)
if [ "$found" -ne "${#wheels[@]}" ] || [ "$total" -gt $((16 * 1024 * 1024)) ]; then
    echo "gpu_wheels.sh: expected ${#wheels[@]} wheels under 16 MiB" >&2
    exit 1
fi
