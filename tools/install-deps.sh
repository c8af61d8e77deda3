#!/usr/bin/env bash
# Installs every Debian 12 package fedvlm's build, tests, demo and tools need.
# Idempotent and non-interactive; does nothing slow when everything is already present.
set -euo pipefail

packages=(
  # build
  cmake g++ make ccache pkg-config git
  # the libFuzzer harnesses (tests/fuzz, ctest label fuzz): clang, libFuzzer and the sanitizers
  clang libclang-rt-14-dev
  # libraries
  libtorch-dev libopenblas0-pthread libopenmpi-dev openmpi-bin libhdf5-dev libcli11-dev libspdlog-dev
  libgtest-dev libgmock-dev libsentencepiece-dev libtomlplusplus-dev nlohmann-json3-dev libstb-dev zlib1g-dev
  # data, tools and their tests
  dataset-fashion-mnist python3 python3-h5py python3-numpy python3-matplotlib hdf5-tools
  # the one-node Slurm of tools/slurm-local.sh, for jobs/ and its test (ctest label slurm)
  slurmctld slurmd slurm-client munge
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_options=(-y -q -o DPkg::Lock::Timeout=600 --no-install-recommends)
"${sudo[@]}" apt-get -q -o DPkg::Lock::Timeout=600 update
"${sudo[@]}" apt-get install "${apt_options[@]}" "${missing[@]}"
