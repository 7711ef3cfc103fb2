#!/usr/bin/env bash
# Everything the test suite needs on a fresh Debian machine (run as root):
# system packages (Fashion-MNIST, R and its packages), the CPU build of torch,
# and robustsk itself with its test, R, notebook and documentation extras.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq \
    dataset-fashion-mnist \
    r-base-core r-cran-testthat r-cran-reticulate r-cran-sandwich \
    pandoc \
    > /dev/null
# The CPU build of torch; an unpinned torch would fetch a multi-GB CUDA build.
python -m pip install -q "torch==2.13.0"
# (robustsk's own requirements include safetensors and skops, for robustsk.io)
python -m pip install -q -e ".[dev,r,notebooks,certify,ot,docs,dask,accelerate]"
