#!/usr/bin/env bash
# Build dependencies of a plain C++ (no Python) build of the dln core on Debian/Ubuntu: a compiler,
# CMake, Ninja and Eigen 3.4 (libeigen3-dev). Without scipy-openblas32 the core uses Eigen's GEMM
# (with OpenMP). Python builds do not need this: pip brings Eigen from the cmeel-eigen wheel.
set -euo pipefail
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends g++ cmake ninja-build libeigen3-dev
