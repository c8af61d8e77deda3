#!/usr/bin/env bash
# tools/gpu-check.sh: build fedvlm against the CUDA LibTorch of a PyTorch install and check the
# GPU path on a machine with an NVIDIA GPU: configure with FEDVLM_CUDA=ON (so the NCCL backend is
# built), build what the checks need, run the device and communicator tests (the nccl backend
# on device tensors included), a 2-round federation on cuda with nccl and bf16, and print
# local-training throughput on the GPU in fp32 and bf16 (`fedvlm bench --what train`; `--what
# clients` too where this build has it). Each step prints its elapsed seconds.
#
# Written for an image with PyTorch 2.x (CUDA), the CUDA toolkit (nvcc), CMake and g++ but no
# apt-get and no network (docs: the GPU section of README.md). Two steps run beforehand on a
# Debian 12 machine with apt-get, carrying their folders to the GPU machine:
#   bash tools/gpu-check.sh --fetch-debs .debs          # the .deb files below (~15 MB)
#   bash tools/gpu-check.sh --fetch-fashion .gpu-data   # a 4,000-image slice of Fashion-MNIST (~3 MB)
# then, there:
#   bash tools/gpu-check.sh --debs .debs --fashion-source .gpu-data/fashion-mnist --out "$OUT"
#
#   bash tools/gpu-check.sh [options]
#     --debs DIR          Debian 12 .deb files to unpack (dpkg -x, never into /) under --prefix
#                         and use: HDF5, Open MPI (with PMIx, hwloc, libevent, munge), CLI11,
#                         spdlog, fmt, GTest, sentencepiece, toml++, nlohmann-json, stb, pkgconf
#                         (default: .debs when it exists)
#     --fetch-debs DIR    on a Debian 12 machine with apt-get: download those .deb files into DIR
#                         (no root needed), then exit
#     --fetch-fashion DIR write DIR/fashion-mnist: the first 4,000 train and 1,000 test images of
#                         the Fashion-MNIST IDX files in --fashion-source, gzipped, then exit
#     --prefix DIR        where the .debs are unpacked (default /tmp/fedvlm-deps)
#     --build DIR         build directory (default build-gpu)
#     --data DIR          a federated dataset for the benchmarks (default: made with fedvlm-prep
#                         from --fashion-source into DIR/gpu-check-data of the build directory)
#     --fashion-source D  Fashion-MNIST IDX files (default: .gpu-data/fashion-mnist when it
#                         exists, else /usr/share/datasets/fashion-mnist)
#     --jobs N            build and test jobs (default: nproc)
#     --repeats N         benchmark repeats (default 3)
#     --bench LIST        which `fedvlm bench --what` runs, space-separated (default 'train clients')
#     --bench-args ARGS   more arguments for every `fedvlm bench` run; {json} stands for a file
#                         named after the run in the logs (e.g. --bench-args '--json {json}')
#     --labels REGEX      ctest labels to run (default 'comm|mpi|core|sim|gpu')
#     --hf                also build fedvlm-hf-logits and compare fedvlm with transformers and PEFT
#                         (tools/hf-parity.py: Llama, Qwen2, LLaVA logits; tools/peft-parity.py: the
#                         exported adapter under PeftModel) on tiny random checkpoints, fp32, 1e-4
#     --all               build every target (default: fedvlm, fedvlm-prep and the test binaries
#                         of --labels)
#     --targets LIST      build these targets instead (space-separated)
#     --build-type T      CMAKE_BUILD_TYPE (default Release, with -O2 and no debug information)
#     --cpu               no GPU: FEDVLM_CUDA=OFF against the LibTorch CMake finds by itself; the
#                         federation (2 ranks, mpi) and the benchmarks (fp32) run on the CPU. Checks
#                         the .deb prefix, the build, the tests and this script on any machine
#     --stop-after STEP   end after this step: deps, configure, build
#     --after-build FILE  after the build, source FILE (bash) with the script's environment and
#                         variables ($build, $log_dir, ...) set, then stop: for debugging there
#     --deadline S        seconds the whole script may take (default 560): the build and ctest
#                         are stopped at it, later steps skipped, and the logs still packed
#     --out DIR           also write summary.txt and gpu-check-logs.tar.gz there (default $OUT
#                         when set)
#
# Environment: FEDVLM_PYTHON (the python3 that holds torch; default python3), NCCL_HOME (an NCCL
# prefix; default: the nvidia-nccl wheel beside torch), CUDA_HOME (default /usr/local/cuda).
#
# Exit status: 0 when every step ran and passed; else the failing step's (a failed benchmark
# does not stop the others).
set -euo pipefail
cd "$(dirname "$0")/.."

debs="" prefix=/tmp/fedvlm-deps build=build-gpu data="" fashion="" jobs=$(nproc) repeats=3 out=${OUT:-}
fetch="" fetch_fashion="" labels='comm|mpi|core|sim|gpu' hf=0 all=0 build_type=Release cpu=0 stop_after="" after_build="" targets_option="" bench_args="" deadline=560 bench_list="train clients"
[[ -d .debs ]] && debs=.debs
while (( $# )); do
  case $1 in
    --debs) debs=$2; shift ;;
    --fetch-debs) fetch=$2; shift ;;
    --fetch-fashion) fetch_fashion=$2; shift ;;
    --prefix) prefix=$2; shift ;;
    --build) build=$2; shift ;;
    --data) data=$2; shift ;;
    --fashion-source) fashion=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --bench) bench_list=$2; shift ;;
    --bench-args) bench_args=$2; shift ;;
    --labels) labels=$2; shift ;;
    --hf) hf=1 ;;
    --all) all=1 ;;
    --targets) targets_option=$2; shift ;;
    --build-type) build_type=$2; shift ;;
    --cpu) cpu=1 ;;
    --stop-after) stop_after=$2; shift ;;
    --after-build) after_build=$2; shift ;;
    --deadline) deadline=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ -z $fashion ]]; then
  fashion=/usr/share/datasets/fashion-mnist
  [[ -d .gpu-data/fashion-mnist ]] && fashion=.gpu-data/fashion-mnist
fi

# What the build needs beyond PyTorch and the toolkit, with the runtime libraries the -dev
# packages link to (Debian 12 names). libcurl4 is left out on purpose: Debian's needs
# libldap-2.5 and more that newer systems lack; HDF5's S3 driver, the only user, gets the
# system's libcurl.so.4 or a stub (see "deps" below).
packages=(
  libhdf5-dev libhdf5-103-1 libhdf5-hl-100 libsz2 libaec0 libaec-dev zlib1g-dev
  libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common libpmix2 libmunge2 libhwloc15
  libevent-core-2.1-7 libevent-pthreads-2.1-7
  libfabric1 libpsm2-2 libucx0 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200
  libcli11-dev libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libgtest-dev libgmock-dev
  libsentencepiece-dev libsentencepiece0 libprotobuf-lite32 libtomlplusplus-dev libtomlplusplus3
  nlohmann-json3-dev libstb-dev libstb0 pkgconf-bin libpkgconf3
  # Fallbacks: their libraries are used only where the system has none of that name.
  libudev1 libnuma1 libatomic1 libssl3
)
fallback_packages=" libudev1 libnuma1 libatomic1 libssl3 "

if [[ -n $fetch ]]; then
  echo "== gpu-check: downloading ${#packages[@]} .deb files into $fetch"
  mkdir -p "$fetch"
  (cd "$fetch" && apt-get download "${packages[@]}")
  du -sh "$fetch"
  exit 0
fi

if [[ -n $fetch_fashion ]]; then
  echo "== gpu-check: a slice of Fashion-MNIST from $fashion into $fetch_fashion/fashion-mnist"
  mkdir -p "$fetch_fashion/fashion-mnist"
  python3 - "$fashion" "$fetch_fashion/fashion-mnist" <<'EOF'
import gzip, pathlib, struct, sys
source, target = map(pathlib.Path, sys.argv[1:])
for split, count in (("train", 4000), ("t10k", 1000)):
    for kind in ("images-idx3", "labels-idx1"):
        name = f"{split}-{kind}-ubyte"
        path = source / (name + ".gz")
        data = gzip.open(path).read() if path.exists() else (source / name).read_bytes()
        dims = data[3]
        shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
        record = 1
        for d in shape[1:]:
            record *= d
        header = data[:4] + struct.pack(f">{dims}I", count, *shape[1:])
        body = data[4 + 4 * dims: 4 + 4 * dims + count * record]
        (target / (name + ".gz")).write_bytes(gzip.compress(header + body, 9))
        print(f"{name}.gz: {count} of {shape[0]}")
EOF
  du -sh "$fetch_fashion"
  exit 0
fi

mkdir -p "$build"
log_dir=$build/gpu-check
mkdir -p "$log_dir"
rm -f "$log_dir"/*.log "$log_dir"/*.json "$log_dir"/*.txt  # no stale results from an earlier run
python=${FEDVLM_PYTHON:-python3}
t0=$SECONDS step_name="" step_start=$SECONDS
: >"$log_dir/steps.txt"
end_step() {
  [[ -n $step_name ]] || return 0
  printf '%-40s %4d s\n' "$step_name" $((SECONDS - step_start)) | tee -a "$log_dir/steps.txt"
  if [[ -n $out ]]; then mkdir -p "$out" && cp "$log_dir/steps.txt" "$out/steps.txt"; fi  # kept if the run is killed
  step_name=""
}
step() {
  end_step
  step_name=$*
  step_start=$SECONDS
  echo
  echo "== gpu-check [$((SECONDS - t0)) s]: $*"
}
die() { echo "gpu-check: $*" >&2; exit 1; }
pack_logs() {
  end_step
  echo "gpu-check: $((SECONDS - t0)) s in all; logs in $log_dir"
  if [[ -n $out ]]; then
    mkdir -p "$out"
    [[ -f $log_dir/summary.txt ]] && cp "$log_dir/summary.txt" "$out/"
    tar -czf "$out/gpu-check-logs.tar.gz" -C "$log_dir" . 2>/dev/null || true
  fi
}
trap pack_logs EXIT
trap 'exit 143' TERM INT  # so that a stopped run still packs its logs
# Seconds left before the --deadline (at least 1, for timeout).
left() { local rest=$((deadline - (SECONDS - t0))); echo $((rest > 0 ? rest : 1)); }
limit() { local rest; rest=$(left); echo $((rest < $1 ? rest : $1)); }  # min(left, $1)
stop_here() { [[ $stop_after == "$1" ]] && { echo "gpu-check: stopping after $1 (--stop-after)"; exit 0; }; true; }

step "tools"
for tool in c++ cc; do command -v "$tool" >/dev/null || die "no $tool here: the build needs g++/gcc"; done
if ! command -v cmake >/dev/null; then
  # The PyPI cmake package keeps its binaries beside the module.
  cmake_bin=$("$python" -c 'import cmake; print(cmake.CMAKE_BIN_DIR)' 2>/dev/null) || die "no cmake (nor python -m cmake)"
  export PATH=$cmake_bin:$PATH
fi
generator=() dep_flags=()
command -v ninja >/dev/null && generator=(-G Ninja)
echo "c++: $(c++ --version | head -n 1); $(cmake --version | head -n 1); ninja: $(command -v ninja || echo none)"

if (( ! cpu )); then
  step "GPU and PyTorch"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$python" - <<'EOF' || die "the python3 here has no CUDA PyTorch (set FEDVLM_PYTHON)"
import torch
assert torch.cuda.is_available(), "torch.cuda.is_available() is False"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s): "
      f"{torch.cuda.get_device_name(0)}, bf16 supported: {torch.cuda.is_bf16_supported()}")
EOF
  torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  # LibTorch's CMake files enable CUDA for these architectures (fedvlm has no kernels of its own).
  capability=$("$python" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability(0))')
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$capability}
  export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
  command -v nvcc >/dev/null || export PATH=$CUDA_HOME/bin:$PATH
  command -v nvcc >/dev/null || die "no nvcc on PATH or in $CUDA_HOME/bin (LibTorch's CMake files enable CUDA): set CUDA_HOME"
  nvcc --version | tail -n 2 | head -n 1
  # At run time, the CUDA libraries of the wheels python's torch uses (cudart, cuBLAS, NCCL, ...),
  # ahead of the toolkit's copies of the same names that the build tree's RUNPATH names.
  wheel_libs=$("$python" - <<'EOF'
import importlib.util, pathlib
spec = importlib.util.find_spec("nvidia")
roots = list(spec.submodule_search_locations) if spec and spec.submodule_search_locations else []
print(":".join(str(lib) for root in roots for lib in sorted(pathlib.Path(root).glob("*/lib")) if lib.is_dir()))
EOF
)
  [[ -n $wheel_libs ]] && export LD_LIBRARY_PATH=$wheel_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

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
    ln -sf "$library" "$NCCL_HOME/lib/$(basename "$library")"  # the soname, for the binaries' RUNPATH
    export LD_LIBRARY_PATH=$nccl_wheel/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  fi
  echo "NCCL_HOME=$NCCL_HOME"
  prefix_path=$torch_prefix
  cuda_flag=ON
  dep_flags+=(-DCUDAToolkit_ROOT="$CUDA_HOME" -DCMAKE_CUDA_COMPILER="$(command -v nvcc)"
              -DCMAKE_CUDA_ARCHITECTURES="${capability/./}")
else
  prefix_path=""
  cuda_flag=OFF
fi

# True when the dynamic linker finds a library of this name without our prefix.
system_has() { env LD_LIBRARY_PATH="$system_ld_path" "$python" -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' "$1" 2>/dev/null; }
system_ld_path=${LD_LIBRARY_PATH:-}
# dpkg-deb -x, or where there is no dpkg: the ar archive's data.tar.* through Python's tarfile.
unpack_deb() {
  if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$1" "$2"; return; fi
  "$python" - "$1" "$2" <<'EOF'
import io, sys, tarfile
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"!<arch>\n", "not a .deb (ar) file"
offset = 8
while offset < len(data):
    name = data[offset:offset + 16].decode().strip().rstrip("/")
    size = int(data[offset + 48:offset + 58].decode().strip())
    body = data[offset + 60:offset + 60 + size]
    if name.startswith("data.tar"):
        with tarfile.open(fileobj=io.BytesIO(body)) as archive:
            if hasattr(tarfile, "tar_filter"):
                archive.extractall(sys.argv[2], filter="tar")
            else:
                archive.extractall(sys.argv[2])
        break
    offset += 60 + size + (size & 1)
else:
    raise SystemExit("no data.tar.* in " + sys.argv[1])
EOF
}
if [[ -n $debs ]]; then
  step "deps: unpack $(find "$debs" -maxdepth 1 -name '*.deb' | wc -l) .deb files from $debs into $prefix"
  [[ -n $prefix && $(realpath -m "$prefix") != / ]] || die "--prefix must not be / (the .debs are never unpacked into /)"
  rm -rf "${prefix:?}/usr" "${prefix:?}/etc" "${prefix:?}/lib" "${prefix:?}/fallback" "${prefix:?}/syslib" "${prefix:?}/stub"
  mkdir -p "$prefix/fallback" "$prefix/syslib"
  for deb in "$debs"/*.deb; do
    name=$(basename "$deb"); name=${name%%_*}
    target=$prefix
    [[ $fallback_packages == *" $name "* ]] && target=$prefix/fallback
    unpack_deb "$deb" "$target" || die "cannot unpack $deb"
  done
  root=$prefix/usr
  lib=$root/lib/x86_64-linux-gnu
  # Absolute symbolic links in the packages point into /usr, which is not where they now lie.
  while IFS= read -r link; do
    target=$(readlink "$link")
    [[ $target == /* && -e $prefix$target ]] && ln -sfn "$prefix$target" "$link"
  done < <(find "$prefix" -type l)
  # Debian's alternatives give the unversioned names (mpicxx, mpirun) at install time only.
  for tool in mpicxx mpicc mpiexec mpirun; do
    [[ -e $root/bin/$tool || ! -e $root/bin/$tool.openmpi ]] || ln -s "$tool.openmpi" "$root/bin/$tool"
  done
  ln -sfn pkgconf "$root/bin/pkg-config"
  # zlib1g-dev's libz.so points at libz.so.1 of zlib1g, which the system has: link to that one.
  if [[ ! -e $lib/libz.so ]]; then
    system_zlib=$(ldconfig -p 2>/dev/null | sed -n 's/^\s*libz\.so\.1 (libc6,x86-64) => //p' | head -n 1)
    [[ -n $system_zlib ]] || system_zlib=$(ls /usr/lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1 /usr/lib64/libz.so.1 2>/dev/null | head -n 1)
    [[ -n $system_zlib ]] || die "no libz.so.1 on this system"
    ln -sfn "$system_zlib" "$lib/libz.so"
  fi
  # Fallback libraries: only those the system lacks.
  while IFS= read -r library; do
    soname=$(basename "$library")
    if ! system_has "$soname"; then ln -sfn "$library" "$prefix/syslib/$soname"; echo "  using Debian's $soname (the system has none)"; fi
  done < <(find "$prefix/fallback" -name '*.so.[0-9]*' \( -type f -o -type l \) | grep -E '\.so\.[0-9]+$')
  export PATH=$root/bin:$PATH
  # Some Debian 12 packages (libnl) still install into /lib rather than /usr/lib.
  export LD_LIBRARY_PATH=$lib:$prefix/lib/x86_64-linux-gnu:$lib/openmpi/lib:$lib/hdf5/serial:$prefix/syslib${system_ld_path:+:$system_ld_path}
  # Relocated Open MPI: where it finds its wrappers' data, help texts, plugins and settings.
  export OPAL_PREFIX=$root OPAL_SYSCONFDIR=$prefix/etc/openmpi
  export OPAL_LIBDIR=$lib/openmpi/lib OPAL_DATADIR=$root/share/openmpi OPAL_PKGDATADIR=$root/share/openmpi
  export OPAL_INCLUDEDIR=$lib/openmpi/include
  export OMPI_MCA_mca_base_component_path=$lib/openmpi/lib/openmpi3
  export PMIX_INSTALL_PREFIX=$lib/pmix2 PMIX_MCA_mca_base_component_path=$lib/pmix2/lib/pmix
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
  # The PSM and OFI transports (Omni-Path, libfabric) need libraries not carried; one node needs
  # neither, and skipping them keeps every mpirun free of "unable to open mca_mtl_psm" lines.
  export OMPI_MCA_mtl=^ofi,psm
  # HDF5 links libcurl.so.4 (its S3 driver, unused here). Where the system's cannot serve it,
  # a stub with the symbols and version HDF5 asks for takes its place (it aborts if ever called).
  if ! env LD_LIBRARY_PATH="$LD_LIBRARY_PATH" "$python" -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' \
       "$lib/libhdf5_serial.so.103" 2>"$log_dir/hdf5-load.txt"; then
    tail -n 1 "$log_dir/hdf5-load.txt"
    grep -q curl "$log_dir/hdf5-load.txt" || die "Debian's libhdf5 does not load here (above)"
    echo "  libcurl.so.4 missing or unusable here: HDF5 gets a stub (its S3 driver is never used)"
    mkdir -p "$prefix/stub"
    symbols=$(nm -D --undefined-only "$lib/libhdf5_serial.so.103" | sed -n 's/.* \(curl_[a-z_]*\)@CURL_OPENSSL_4$/\1/p')
    { echo '#include <stdlib.h>'; for symbol in $symbols; do echo "void $symbol(void) { abort(); }"; done; } >"$prefix/stub/curl.c"
    echo 'CURL_OPENSSL_4 { global: curl_*; local: *; };' >"$prefix/stub/curl.map"
    cc -shared -fPIC -o "$prefix/stub/libcurl.so.4" -Wl,-soname,libcurl.so.4 \
       -Wl,--version-script,"$prefix/stub/curl.map" "$prefix/stub/curl.c" || die "cannot build the libcurl stub"
    export LD_LIBRARY_PATH=$prefix/stub:$LD_LIBRARY_PATH
  fi
  for library in libhdf5_serial.so.103 libmpi.so.40 libsentencepiece.so.0 libspdlog.so.1.10 \
                 openmpi/lib/openmpi3/mca_pmix_ext3x.so; do
    "$python" -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' "$lib/$library" || die "$lib/$library does not load"
  done
  # Open MPI itself, before the long build: two ranks of a tiny program.
  mkdir -p "$prefix/mpi-check"
  cat >"$prefix/mpi-check/hello.cpp" <<'EOF'
#include <mpi.h>
#include <cstdio>
int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0, sum = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int one = rank + 1;
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) std::printf("mpi check: %d ranks, allreduce %d (expected %d)\n", size, sum, size * (size + 1) / 2);
  MPI_Finalize();
  return sum == size * (size + 1) / 2 ? 0 : 1;
}
EOF
  mpicxx -o "$prefix/mpi-check/hello" "$prefix/mpi-check/hello.cpp" || die "mpicxx from $root/bin cannot build an MPI program"
  timeout 60 mpirun -np 2 "$prefix/mpi-check/hello" || die "mpirun -np 2 of an MPI program failed (Open MPI from $debs)"
  prefix_path="${prefix_path:+$prefix_path;}$root;$lib/cmake"
  dep_flags+=(-DHDF5_C_INCLUDE_DIR="$root/include/hdf5/serial" -DHDF5_C_LIBRARY_hdf5="$lib/hdf5/serial/libhdf5.so"
             -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON -DHDF5_C_COMPILER_EXECUTABLE="$prefix/no-h5cc"
             -DMPI_CXX_COMPILER="$root/bin/mpicxx" -DMPI_C_COMPILER="$root/bin/mpicc" -DMPIEXEC_EXECUTABLE="$root/bin/mpiexec"
             -DPKG_CONFIG_EXECUTABLE="$root/bin/pkgconf" -DSTB_INCLUDE_DIR="$root/include/stb")
  export PKG_CONFIG_PATH=$lib/pkgconfig:$root/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$prefix
else
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
fi
stop_here deps

step "configure $build (FEDVLM_CUDA=$cuda_flag, $build_type)"
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE="$build_type" -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
      -DFEDVLM_CUDA=$cuda_flag ${prefix_path:+-DCMAKE_PREFIX_PATH="$prefix_path"} "${dep_flags[@]}" \
      >"$log_dir/configure.log" 2>&1 || { tail -n 60 "$log_dir/configure.log" >&2; die "configure failed: see $log_dir/configure.log"; }
grep -E "fedvlm:|Found (MPI|HDF5|Torch|CUDA)" "$log_dir/configure.log" || true
if (( ! cpu )); then
  grep -q "NCCL backend: ON" "$log_dir/configure.log" || die "configure did not enable the NCCL backend"
fi
stop_here configure

# The test binaries behind the ctest labels (label X: test_X; mpi: test_mpi; gpu: none to build).
targets=(fedvlm fedvlm-prep)
for module in core comm mpi data prep model fl eval sim app; do
  [[ $module =~ ^($labels)$ ]] && targets+=("test_$module")
done
(( hf )) && targets+=(fedvlm-hf-logits)
(( all )) && targets=(all)
[[ -n $targets_option ]] && read -r -a targets <<<"$targets_option"
step "build ${targets[*]} ($jobs jobs)"
if ! timeout "$(left)" cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$log_dir/build.log" 2>&1; then
  grep -E -B2 -A6 "error|Error" "$log_dir/build.log" | head -n 100 >&2 || tail -n 40 "$log_dir/build.log" >&2
  die "build failed or ran past the --deadline: see $log_dir/build.log"
fi
echo "$(grep -c "warning: " "$log_dir/build.log" || true) compiler warning(s), see build.log"
stop_here build
if [[ -n $after_build ]]; then
  step "source $after_build (--after-build), then stop"
  # shellcheck disable=SC1090
  source "$after_build"
  exit 0
fi

# What the GPU steps run with; --cpu: the same steps on the CPU, where bf16 and nccl cannot run.
device=cuda precisions=(fp32 bf16) smoke_args=(-np 1) smoke_sets=(--set run.comm=nccl --set run.precision=bf16)
if (( cpu )); then
  device=cpu precisions=(fp32) smoke_args=(-np 2) smoke_sets=(--set run.comm=mpi --set run.precision=fp32)
fi
tests_status=0 nccl_status=0 smoke_status=0 bench_status=0 hf_status=0 runs=()

# ctest counts a skipped test as passed: run the nccl test on its own, where a skip shows.
if (( ! cpu )) && [[ -x $build/tests/test_mpi ]]; then
  step "nccl backend on the GPU: test_mpi under mpirun -np 1"
  timeout "$(limit 120)" mpirun -np 1 "$build/tests/test_mpi" --gtest_color=no \
    --gtest_filter='NcclOnTheGpu.*:Collectives.NodeLocalRankComesFromTheCommunicator' \
    >"$log_dir/nccl.log" 2>&1 || nccl_status=$?
  grep -E "^\[ +(OK|FAILED|SKIPPED) +\]|Skipped|Failure|rror" "$log_dir/nccl.log" | head -n 20 || true
  if (( nccl_status == 0 )) && grep -q "SKIPPED" "$log_dir/nccl.log"; then
    echo "gpu-check: NcclOnTheGpu was skipped on a GPU machine (reason above)"
    nccl_status=1
  fi
fi

step "benchmark data"
data_ok=1
if [[ -z $data ]]; then
  data=$build/gpu-check-data
  if [[ ! -f $data/meta.h5 ]]; then
    if [[ ! -d $fashion ]]; then
      echo "gpu-check: no dataset (pass --data DIR or --fashion-source DIR): the federation and the benchmarks are skipped"
      data_ok=0 smoke_status=1 bench_status=1
    elif ! "$build/fedvlm-prep" fashion --source "$fashion" --out "$data" --force --clients 10 --partition dirichlet \
        --alpha 0.5 --train-samples 4000 --test-samples 500 --seed 1 >"$log_dir/prep.log" 2>&1; then
      tail -n 30 "$log_dir/prep.log"
      echo "gpu-check: fedvlm-prep failed (see prep.log): the federation and the benchmarks are skipped"
      data_ok=0 smoke_status=1 bench_status=1
    else
      tail -n 3 "$log_dir/prep.log"
    fi
  fi
fi

if (( data_ok )); then
step "federation on $device: mpirun ${smoke_args[*]}, ${smoke_sets[*]}, 2 rounds"
timeout "$(limit 300)" mpirun "${smoke_args[@]}" "$build/fedvlm" run -c configs/fashion/fedavg.toml --set "data.path=$data" \
  --set model.base= --set "run.dir=$build/gpu-check-runs" --set run.name=smoke --overwrite --set fl.rounds=2 \
  --set eval.every=2 --set checkpoint.every=0 --set "run.device=$device" "${smoke_sets[@]}" \
  >"$log_dir/smoke.log" 2>&1 || smoke_status=$?
tail -n 8 "$log_dir/smoke.log"
(( smoke_status == 0 )) || echo "gpu-check: the federation on $device failed (exit $smoke_status): see smoke.log"

step "fedvlm bench on $device: ${precisions[*]}"
has_clients=0
"$build/fedvlm" bench --help 2>&1 | grep -E -q -- '--what.*clients' && has_clients=1
[[ " $bench_list " == *" train "* ]] && for precision in "${precisions[@]}"; do runs+=("train $precision -"); done
if [[ " $bench_list " != *" clients "* ]]; then
  :
elif (( has_clients )); then
  # One run covers every mode: one at a time, threads, and batched K = 1..32.
  for precision in "${precisions[@]}"; do runs+=("clients $precision -"); done
else
  echo "(this build's fedvlm bench has no --what clients: skipped)"
fi
bench_name() { if [[ $3 == - ]]; then echo "bench-$1-$2"; else echo "bench-$1-$2-k$3"; fi; }
for run in "${runs[@]}"; do
  read -r what precision k <<<"$run"
  name=$(bench_name "$what" "$precision" "$k")
  extra=()
  label="run.precision = $precision"
  [[ $what == clients ]] && extra+=(--json "$log_dir/$name.json")
  if [[ -n $bench_args ]]; then
    read -r -a more <<<"${bench_args//\{json\}/$log_dir/$name.json}"
    extra+=("${more[@]}")
  fi
  echo "-- bench --what $what, $label"
  timeout "$(limit 300)" "$build/fedvlm" bench --what "$what" --repeats "$repeats" --set "data.path=$data" \
    --set "run.device=$device" --set "run.precision=$precision" "${extra[@]}" >"$log_dir/$name.log" 2>&1 || bench_status=$?
  { grep -v -E '^\[[0-9-]+ ' "$log_dir/$name.log" || true; } | tail -n 32
done
fi  # data_ok

if (( hf )); then
  step "Hugging Face parity: tools/hf-parity.py, tools/peft-parity.py"
  for script in hf-parity.py peft-parity.py; do
    status=0
    timeout "$(limit 240)" "$python" "tools/$script" --fedvlm-logits "$build/tests/fedvlm-hf-logits" \
      >"$log_dir/$script.log" 2>&1 || status=$?
    tail -n 12 "$log_dir/$script.log"
    case $status in
      0) ;;
      77) echo "gpu-check: $script skipped (no transformers / peft in $python)"; hf_status=77 ;;
      *) echo "gpu-check: $script failed (exit $status): see $script.log"; hf_status=$status ;;
    esac
  done
fi

step "tests: ctest -L '$labels' (last: they check correctness, mostly on the CPU)"
failed_tests() { sed -n '/The following tests FAILED:/,$p' "$log_dir/ctest.log" 2>/dev/null | grep -E '^\s+[0-9]+ - ' || true; }
if (( $(left) > 30 )); then
  timeout "$(left)" ctest --test-dir "$build" --output-on-failure -j "$jobs" -L "$labels" --timeout 300 \
    >"$log_dir/ctest.log" 2>&1 || tests_status=$?
  grep -E "tests passed|tests failed|Total Test time" "$log_dir/ctest.log" || tail -n 20 "$log_dir/ctest.log"
  failed_tests
  (( tests_status != 124 )) || echo "gpu-check: ctest ran past the --deadline and was stopped"
else
  echo "gpu-check: no time left before the --deadline for ctest: skipped"
  tests_status=124
fi

step "summary"
end_step
{
  echo "device: $( ((cpu)) && echo "cpu (--cpu)" || nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"
  echo "steps (seconds):"
  sed 's/^/  /' "$log_dir/steps.txt"
  case $tests_status in
    0) tests_result=passed ;;
    124) tests_result="NOT FINISHED (stopped at the --deadline)" ;;
    *) tests_result="FAILED (ctest exit $tests_status)" ;;
  esac
  echo "tests: $tests_result ($(grep -E 'tests passed|tests failed' "$log_dir/ctest.log" 2>/dev/null || echo 'no result'))"
  failed_tests | sed 's/^/  failed: /'
  (( cpu )) || echo "nccl backend on the GPU (NcclOnTheGpu): $( ((nccl_status == 0)) && echo passed || echo "FAILED or skipped (exit $nccl_status)")"
  if (( data_ok )); then
    echo "federation on $device (${smoke_sets[*]}): $( ((smoke_status == 0)) && echo passed || echo "FAILED (exit $smoke_status)")"
    echo "bench: $( ((bench_status == 0)) && echo ran || echo "a run FAILED (exit $bench_status)")"
  else
    echo "federation and bench: NOT RUN (no benchmark data: see the 'benchmark data' step)"
  fi
  if (( hf )); then
    echo "Hugging Face parity: $(case $hf_status in 0) echo passed ;; 77) echo "SKIPPED (no transformers or peft)" ;; *) echo "FAILED (exit $hf_status)" ;; esac)"
    for script in hf-parity.py peft-parity.py; do
      [[ -f $log_dir/$script.log ]] && tail -n 12 "$log_dir/$script.log" | sed "s/^/  $script: /"
    done
  fi
  for run in "${runs[@]}"; do
    read -r what precision k <<<"$run"
    name=$(bench_name "$what" "$precision" "$k")
    echo "-- $name"
    { grep -v -E '^\[[0-9-]+ ' "$log_dir/$name.log" || true; } | tail -n 32 | sed 's/^/  /'
  done
} | tee "$log_dir/summary.txt"
(( tests_status == 0 )) || exit "$tests_status"
(( nccl_status == 0 )) || exit "$nccl_status"
(( smoke_status == 0 )) || exit "$smoke_status"
(( hf_status == 0 || hf_status == 77 )) || exit "$hf_status"
exit "$bench_status"
