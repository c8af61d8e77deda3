#!/usr/bin/env bash
# tools/gpu-check.sh: build fedvlm against the CUDA LibTorch of a PyTorch install and check the
# GPU path on a machine with an NVIDIA GPU: configure with FEDVLM_CUDA=ON (so the NCCL backend is
# built), build, run the GPU-relevant tests, and print local-training throughput on the GPU in
# fp32 and bf16 (`fedvlm bench --what train`; `--what clients` too where this build has it).
#
# Written for an image that has PyTorch 2.x with CUDA, the CUDA toolkit, CMake and g++, but no
# apt-get. Not yet run on a GPU; each step prints what it does, and a failure names the step.
#
#   bash tools/gpu-check.sh [options]
#     --debs DIR          Debian 12 .deb files to unpack (dpkg -x, never into /) under --prefix
#                         and use: HDF5, Open MPI, CLI11, spdlog, fmt, GTest, sentencepiece,
#                         toml++, nlohmann-json, stb (default: .debs when it exists)
#     --fetch-debs DIR    on a Debian 12 machine with apt-get: download those .deb files into DIR
#                         (no root needed), then exit. Carry DIR to the GPU machine.
#     --prefix DIR        where the .debs are unpacked (default /tmp/fedvlm-deps)
#     --build DIR         build directory (default build-gpu)
#     --data DIR          a federated dataset for the benchmarks (default: made with fedvlm-prep
#                         from --fashion-source into data/gpu-check)
#     --fashion-source D  the Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)
#     --jobs N            build jobs (default: nproc)
#     --repeats N         benchmark repeats (default 3)
#     --out DIR           also write the logs and the table there (default $OUT when set)
#
# Environment: FEDVLM_PYTHON (the python3 that holds torch; default python3), NCCL_HOME (an NCCL
# prefix; default: the nvidia-nccl wheel beside torch), CUDA_HOME (default /usr/local/cuda).
#
# Exit status: 0 when the build, the tests and the benchmarks ran; else the failing step's.
set -euo pipefail
cd "$(dirname "$0")/.."

debs="" prefix=/tmp/fedvlm-deps build=build-gpu data="" fashion=/usr/share/datasets/fashion-mnist
jobs=$(nproc) repeats=3 out=${OUT:-} fetch=""
[[ -d .debs ]] && debs=.debs
while (( $# )); do
  case $1 in
    --debs) debs=$2; shift ;;
    --fetch-debs) fetch=$2; shift ;;
    --prefix) prefix=$2; shift ;;
    --build) build=$2; shift ;;
    --data) data=$2; shift ;;
    --fashion-source) fashion=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

step() { echo; echo "== gpu-check: $*"; }
die() { echo "gpu-check: $*" >&2; exit 1; }

# What the build needs beyond PyTorch and the toolkit, with the runtime libraries the -dev
# packages link to (Debian 12 names).
packages=(
  libhdf5-dev libhdf5-103-1 libhdf5-hl-100 libsz2 libaec0 libcurl4 libaec-dev
  libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common libpmix2 libhwloc15 libevent-core-2.1-7
  libevent-pthreads-2.1-7 libfabric1 libpsm2-2 libucx0 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200
  libcli11-dev libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libgtest-dev libgmock-dev
  libsentencepiece-dev libsentencepiece0 libprotobuf-lite32 libtomlplusplus-dev libtomlplusplus3
  nlohmann-json3-dev libstb-dev libstb0 zlib1g-dev pkg-config
)

if [[ -n $fetch ]]; then
  step "downloading ${#packages[@]} .deb files into $fetch"
  mkdir -p "$fetch"
  (cd "$fetch" && apt-get download "${packages[@]}")
  du -sh "$fetch"
  exit 0
fi

log_dir=${out:-$build/gpu-check}
mkdir -p "$log_dir"
python=${FEDVLM_PYTHON:-python3}

step "GPU and PyTorch"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$python" - <<'EOF' || die "the python3 here has no CUDA PyTorch (set FEDVLM_PYTHON)"
import torch
assert torch.cuda.is_available(), "torch.cuda.is_available() is False"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s): "
      f"{torch.cuda.get_device_name(0)}, bf16 supported: {torch.cuda.is_bf16_supported()}")
EOF
torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
command -v nvcc >/dev/null || export PATH=$CUDA_HOME/bin:$PATH

step "NCCL"
if [[ -z ${NCCL_HOME:-} ]]; then
  # The nvidia-nccl wheel ships include/nccl.h and lib/libnccl.so.2 but no libnccl.so for the
  # linker to find: make a prefix with both.
  nccl_wheel=$("$python" - <<'EOF'
import pathlib, importlib.util
for name in ("nvidia.nccl", "nvidia.cu13", "nvidia"):
    spec = importlib.util.find_spec(name)
    for root in (spec.submodule_search_locations if spec else []) or []:
        for header in pathlib.Path(root).rglob("nccl.h"):
            print(header.parent.parent); raise SystemExit
EOF
)
  [[ -n $nccl_wheel ]] || die "no NCCL: set NCCL_HOME to a prefix with include/nccl.h and lib/libnccl.so"
  export NCCL_HOME=$prefix/nccl
  mkdir -p "$NCCL_HOME/lib"
  ln -sfn "$nccl_wheel/include" "$NCCL_HOME/include"
  library=$(find "$nccl_wheel/lib" -name 'libnccl.so*' | sort | head -n 1)
  [[ -n $library ]] || die "no libnccl.so* under $nccl_wheel/lib"
  ln -sf "$library" "$NCCL_HOME/lib/libnccl.so"
  export LD_LIBRARY_PATH=$nccl_wheel/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
echo "NCCL_HOME=$NCCL_HOME"

prefix_path=$torch_prefix
if [[ -n $debs ]]; then
  step "unpacking $(find "$debs" -maxdepth 1 -name "*.deb" | wc -l) .deb files from $debs into $prefix"
  mkdir -p "$prefix"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$prefix" 2>/dev/null || dpkg -x "$deb" "$prefix"; done
  root=$prefix/usr
  lib=$root/lib/x86_64-linux-gnu
  # Absolute symbolic links in the packages point into /usr, which is not where they now lie.
  while IFS= read -r link; do
    target=$(readlink "$link")
    [[ $target == /* && -e $prefix$target ]] && ln -sfn "$prefix$target" "$link"
  done < <(find "$prefix" -type l)
  # Debian's alternatives give the unversioned names (mpicxx, h5cc) at install time only.
  [[ -e $root/bin/mpicxx || ! -e $root/bin/mpicxx.openmpi ]] || ln -s mpicxx.openmpi "$root/bin/mpicxx"
  [[ -e $root/bin/mpiexec || ! -e $root/bin/mpiexec.openmpi ]] || ln -s mpiexec.openmpi "$root/bin/mpiexec"
  [[ -e $root/bin/mpirun || ! -e $root/bin/mpirun.openmpi ]] || ln -s mpirun.openmpi "$root/bin/mpirun"
  export PATH=$root/bin:$PATH
  export LD_LIBRARY_PATH=$lib:$lib/openmpi/lib:$lib/hdf5/serial${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PKG_CONFIG_PATH=$lib/pkgconfig:$root/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  export OPAL_PREFIX=$root  # relocated Open MPI: its wrappers and plugins are found from here
  export OMPI_MCA_mca_base_component_path=$lib/openmpi/lib/openmpi3
  prefix_path="$prefix_path;$root;$lib/cmake"
  hdf5_flags=(-DHDF5_C_INCLUDE_DIR="$root/include/hdf5/serial" -DHDF5_C_LIBRARY_hdf5="$lib/hdf5/serial/libhdf5.so"
              -DMPI_CXX_COMPILER="$root/bin/mpicxx" -DMPIEXEC_EXECUTABLE="$root/bin/mpiexec"
              -DSTB_INCLUDE_DIR="$root/include/stb")
else
  hdf5_flags=()
fi

step "configure $build (FEDVLM_CUDA=ON)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEDVLM_CUDA=ON \
      -DCMAKE_PREFIX_PATH="$prefix_path" "${hdf5_flags[@]}" 2>&1 | tee "$log_dir/configure.log"
grep -q "NCCL backend: ON" "$log_dir/configure.log" || die "configure did not enable the NCCL backend"

step "build ($jobs jobs)"
if ! cmake --build "$build" -j "$jobs" >"$log_dir/build.log" 2>&1; then
  grep -E -B2 -A6 "error" "$log_dir/build.log" | head -n 80 >&2 || tail -n 40 "$log_dir/build.log" >&2
  die "build failed: see $log_dir/build.log"
fi
grep -c "warning: " "$log_dir/build.log" | sed 's/$/ compiler warning(s), see build.log/' || true

step "tests: comm, mpi, sim (the device and communicator paths)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tests_status=0
ctest --test-dir "$build" --output-on-failure -j "$jobs" -L 'comm|mpi|gpu|core|sim' \
  2>&1 | tee "$log_dir/ctest.log" || tests_status=$?

step "benchmark data"
if [[ -z $data ]]; then
  data=data/gpu-check
  if [[ ! -f $data/meta.h5 ]]; then
    [[ -d $fashion ]] || die "no dataset: pass --data DIR or --fashion-source DIR (Fashion-MNIST IDX files)"
    "$build/fedvlm-prep" fashion --source "$fashion" --out "$data" --clients 10 --partition dirichlet \
      --alpha 0.5 --train-samples 12000 --test-samples 500 --seed 1
  fi
fi

step "fedvlm bench on cuda: fp32 and bf16"
has_clients=0
"$build/fedvlm" bench --help 2>&1 | grep -E -q -- '--what.*clients' && has_clients=1
whats=(train)
(( has_clients )) && whats+=(clients)
(( has_clients )) || echo "(this build's fedvlm bench has no --what clients: skipped)"
bench_status=0
for what in "${whats[@]}"; do
  for precision in fp32 bf16; do
    echo "-- bench --what $what, run.precision = $precision"
    "$build/fedvlm" bench --what "$what" --repeats "$repeats" --set "data.path=$data" \
      --set run.device=cuda --set "run.precision=$precision" 2>&1 | tee "$log_dir/bench-$what-$precision.log" \
      || bench_status=$?
  done
done

step "summary"
{
  printf '%-8s %-6s %s\n' what precision "result (fedvlm bench lines)"
  for what in "${whats[@]}"; do
    for precision in fp32 bf16; do
      grep -E '^(F-|full)' "$log_dir/bench-$what-$precision.log" 2>/dev/null | sed "s/^/$what $precision  /" \
        || printf '%-8s %-6s %s\n' "$what" "$precision" "(no table: see bench-$what-$precision.log)"
    done
  done
  echo "tests: $( ((tests_status == 0)) && echo passed || echo "FAILED (ctest exit $tests_status)")"
} | tee "$log_dir/summary.txt"
(( tests_status == 0 )) || exit "$tests_status"
exit "$bench_status"
